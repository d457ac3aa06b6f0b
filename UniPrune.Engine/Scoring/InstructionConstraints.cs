using System.Text.RegularExpressions;
using UniPrune.Engine.Datasets;

namespace UniPrune.Engine.Scoring;

/// <summary>
/// The format constraints of the synthetic instruction-following table (MIA-Bench_SYN), each checkable by rule. A row names
/// its constraint (<c>constraint</c>), the content the answer must carry (<c>answer</c>: one word, or a ", "-joined list) and,
/// where the constraint needs one, a keyword (<c>keyword</c>).
/// </summary>
public static class FormatConstraints
{
    /// <summary>"Answer with one word in capital letters": a single token of letters A–Z.</summary>
    public const string OneWordUppercase = "one_word_uppercase";
    /// <summary>"Start your answer with "Answer:"".</summary>
    public const string PrefixAnswer = "prefix_answer";
    /// <summary>"Answer in lower case and end with a period".</summary>
    public const string LowercasePeriod = "lowercase_period";
    /// <summary>"Answer in exactly two words, the second being {keyword}" (a final period is allowed).</summary>
    public const string TwoWordsKeyword = "two_words_keyword";
    /// <summary>"List … separated by commas": exactly as many comma-separated one-word items as the answer has (a final period is allowed).</summary>
    public const string CommaList = "comma_list";

    public static IReadOnlyList<string> All { get; } = [OneWordUppercase, PrefixAnswer, LowercasePeriod, TwoWordsKeyword, CommaList];

    private static readonly Regex Letters = new("^[A-Za-z]+$", RegexOptions.CultureInvariant);
    private static readonly Regex Words = new("[a-z]+", RegexOptions.CultureInvariant);

    /// <summary>The content items of a row's answer ("red" → [red]; "red, blue" → [red, blue]).</summary>
    public static IReadOnlyList<string> ContentItems(string answer) =>
        answer.Split(',').Select(PythonText.Strip).Where(a => a.Length > 0).Select(PythonText.Lower).ToList();

    /// <summary>Whether the response satisfies the named format constraint.</summary>
    public static bool FormatHolds(string constraint, string response, IReadOnlyList<string> content, string? keyword)
    {
        string text = PythonText.Strip(response);
        string withoutPeriod = text.EndsWith('.') ? text[..^1] : text;
        switch (constraint)
        {
            case OneWordUppercase:
                return Letters.IsMatch(text) && text == text.ToUpperInvariant();
            case PrefixAnswer:
                return text.StartsWith("Answer:", StringComparison.Ordinal);
            case LowercasePeriod:
                return text.EndsWith('.') && text == PythonText.Lower(text) && text.Any(char.IsLetter);
            case TwoWordsKeyword:
            {
                if (string.IsNullOrEmpty(keyword)) throw new ArgumentException($"constraint '{TwoWordsKeyword}' needs a keyword");
                var tokens = PythonText.SplitWhitespace(withoutPeriod);
                return tokens.Count == 2 && PythonText.Lower(tokens[1]) == PythonText.Lower(keyword);
            }
            case CommaList:
            {
                var items = withoutPeriod.Split(',').Select(PythonText.Strip).ToList();
                return items.Count == content.Count && items.All(i => Letters.IsMatch(i));
            }
            default:
                throw new ArgumentException($"unknown format constraint '{constraint}'; known: {string.Join(", ", All)}");
        }
    }

    /// <summary>
    /// The content is right when the response's own words (lower-cased letter runs not already in the instruction, such as
    /// "answer" or the keyword) are exactly the expected items in order: naming every colour at once does not count.
    /// </summary>
    public static bool ContentHolds(string response, IReadOnlyList<string> content, string instruction)
    {
        var echoed = Words.Matches(PythonText.Lower(instruction)).Select(m => m.Value).ToHashSet(StringComparer.Ordinal);
        var own = Words.Matches(PythonText.Lower(response)).Select(m => m.Value).Where(w => !echoed.Contains(w)).ToList();
        return own.SequenceEqual(content, StringComparer.Ordinal);
    }

    /// <summary>The response a perfect model gives: the content in the constrained form (full credit by construction).</summary>
    public static string ReferenceResponse(string constraint, IReadOnlyList<string> content, string? keyword) => constraint switch
    {
        OneWordUppercase => content.Count == 1 ? content[0].ToUpperInvariant() : throw new ArgumentException($"'{OneWordUppercase}' takes one content word, not {content.Count}"),
        PrefixAnswer => "Answer: " + string.Join(", ", content),
        LowercasePeriod => string.Join(", ", content) + ".",
        TwoWordsKeyword => content.Count == 1 && !string.IsNullOrEmpty(keyword) ? content[0] + " " + keyword
            : throw new ArgumentException($"'{TwoWordsKeyword}' takes one content word and a keyword"),
        CommaList => string.Join(", ", content),
        _ => throw new ArgumentException($"unknown format constraint '{constraint}'; known: {string.Join(", ", All)}"),
    };
}

/// <summary>
/// Rule scoring of MIA-Bench_SYN, shaped like MIA-Bench's report: each response earns half for carrying the right content
/// and half for meeting its format constraint; total_score is the mean (0–1, ×100 for the tables), with the content and
/// format fractions and a per-constraint breakdown.
/// </summary>
public static class InstructionConstraintScorer
{
    public static ScoreReport Score(string dataset, IReadOnlyList<SamplePrediction> predictions, ScoringContext context)
    {
        string[] texts = PredictionFile.Texts(predictions, context);
        var samples = new List<SampleScore>();
        var byConstraint = new SortedDictionary<string, List<double>>(StringComparer.Ordinal);
        double contentSum = 0, formatSum = 0;
        for (int i = 0; i < predictions.Count; i++)
        {
            var sample = predictions[i].Sample;
            string constraint = sample.Require("constraint", $"one of {string.Join(", ", FormatConstraints.All)}");
            if (!FormatConstraints.All.Contains(constraint))
                throw new ScoringException($"{dataset}: {sample.File} line {sample.Line}, column 'constraint': '{constraint}' is not one of {string.Join(", ", FormatConstraints.All)}");
            var content = FormatConstraints.ContentItems(sample.Require("answer", "the content word(s) the answer must carry"));
            bool contentOk = FormatConstraints.ContentHolds(texts[i], content, sample.Require("question", "the instruction"));
            bool formatOk = FormatConstraints.FormatHolds(constraint, texts[i], content, sample.Text("keyword"));
            double score = ((contentOk ? 1 : 0) + (formatOk ? 1 : 0)) / 2.0;
            contentSum += contentOk ? 1 : 0;
            formatSum += formatOk ? 1 : 0;
            if (!byConstraint.TryGetValue(constraint, out var list)) byConstraint[constraint] = list = [];
            list.Add(score);
            samples.Add(new SampleScore(sample.Index, texts[i], score, $"content {(contentOk ? "ok" : "wrong")}, format {(formatOk ? "ok" : "broken")}"));
        }
        int n = predictions.Count;
        double total = n > 0 ? samples.Average(s => s.Score) : double.NaN;
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["total_score"] = total,
            ["content"] = n > 0 ? contentSum / n : double.NaN,
            ["format"] = n > 0 ? formatSum / n : double.NaN,
        };
        var categories = byConstraint.ToDictionary(p => $"constraint/{p.Key}", p => p.Value.Average(), StringComparer.Ordinal);
        return new ScoreReport(dataset, "total_score", total, total * 100, metrics, categories, n, "rule: content + format constraint", false, samples,
            ["per sample: 0.5 for the right content (the answer's own words), 0.5 for the format constraint; no judge"]);
    }
}
