using System.Text;
using System.Text.RegularExpressions;
using UniPrune.Engine.Datasets;

namespace UniPrune.Engine.Scoring;

/// <summary>Outcome of VLMEvalKit's <c>can_infer</c>: an option letter, 'Z' (refusal / none of them), or nothing (Python's False).</summary>
public readonly record struct InferredOption(char? Letter)
{
    public static InferredOption None => new(null);
    public bool Found => Letter is not null;
    public override string ToString() => Letter?.ToString() ?? "False";
}

/// <summary>
/// The answer-extraction primitives of VLMEvalKit at the reference commit (datasets.md §1.7), rule for rule:
/// <c>can_infer</c> (option tokens, then option texts) and <c>YOrN_Extraction</c> with <c>process_punctuation</c>.
/// The [HEAD]-only "answer is X" regex is deliberately absent (paper-era behaviour).
/// </summary>
public static class AnswerExtraction
{
    private static readonly string[] RefusalPhrases =
    [
        "Sorry, I can't help with images of people yet.",
        "I can't process this file.",
        "I'm sorry, but without the image provided",
        "Cannot determine the answer",
    ];

    public const string ApiFailureMessage = "Failed to obtain answer via API";

    /// <summary><c>can_infer(answer, choices)</c>: <see cref="CanInferOption"/>, else <see cref="CanInferText"/>.</summary>
    public static InferredOption CanInfer(string answer, IReadOnlyList<ChoiceOption> choices)
    {
        var option = CanInferOption(answer, choices);
        return option.Found ? option : CanInferText(answer, choices);
    }

    /// <summary>
    /// Option letters as whole tokens after replacing <c>.()[],:;!*#{}</c> with spaces: exactly one option letter
    /// among the tokens, and its first occurrence among the last four tokens; or no letter but a lone 'Z' token.
    /// </summary>
    public static InferredOption CanInferOption(string answer, IReadOnlyList<ChoiceOption> choices)
    {
        if (answer.Contains(ApiFailureMessage, StringComparison.Ordinal)) return InferredOption.None;
        foreach (string refusal in RefusalPhrases)
            if (answer.Contains(refusal, StringComparison.Ordinal)) return new InferredOption('Z');
        var modified = new StringBuilder(answer);
        for (int i = 0; i < modified.Length; i++)
            if (".()[],:;!*#{}".Contains(modified[i])) modified[i] = ' ';
        var tokens = PythonText.SplitWhitespace(modified.ToString());
        int count = choices.Count(c => tokens.Contains(c.Letter.ToString()));
        if (count == 1)
        {
            foreach (var choice in choices)
            {
                int first = tokens.IndexOf(choice.Letter.ToString());
                if (first >= 0 && first > tokens.Count - 5) return new InferredOption(choice.Letter);
            }
        }
        else if (count == 0 && tokens.Contains("Z")) return new InferredOption('Z');
        return InferredOption.None;
    }

    /// <summary>
    /// Option texts as substrings of the lower-cased answer: only when the answer is at most twice as long as all
    /// option texts together, and exactly one option text occurs.
    /// </summary>
    public static InferredOption CanInferText(string answer, IReadOnlyList<ChoiceOption> choices)
    {
        string lower = PythonText.Lower(answer);
        if (lower.Length > 2 * choices.Sum(c => c.Text.Length)) return InferredOption.None;
        var hits = choices.Where(c => lower.Contains(PythonText.Lower(c.Text), StringComparison.Ordinal)).ToList();
        return hits.Count == 1 ? new InferredOption(hits[0].Letter) : InferredOption.None;
    }

    /// <summary><c>YOrN_Extraction</c>: "Yes" / "No" when exactly one of the words occurs after punctuation processing, else "Unknown".</summary>
    public static string YesNo(string prediction)
    {
        var words = PythonText.SplitWhitespace(ProcessPunctuation(PythonText.Lower(prediction)));
        bool yes = words.Contains("yes"), no = words.Contains("no");
        if (yes && !no) return "Yes";
        if (no && !yes) return "No";
        return "Unknown";
    }

    private static readonly string[] Punctuation = [";", "/", "[", "]", "\"", "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!"];
    private static readonly Regex CommaBetweenDigits = new(@"(\d)(,)(\d)", RegexOptions.CultureInvariant);
    private static readonly Regex LonePeriod = new(@"(?<!\d)\.(?!\d)", RegexOptions.CultureInvariant);

    /// <summary>
    /// VQA's <c>process_punctuation</c>: each mark is deleted when the original text has it next to a space (or has a
    /// digit,digit comma anywhere), else replaced by a space; then periods with no digit on either side are deleted,
    /// but only the first 32 of them: VLMEvalKit passes re.UNICODE (= 32) as the count (datasets.md Errata 2; reproduced).
    /// </summary>
    public static string ProcessPunctuation(string text)
    {
        string output = text;
        bool digitComma = CommaBetweenDigits.IsMatch(text);
        foreach (string mark in Punctuation)
            output = text.Contains(mark + " ", StringComparison.Ordinal) || text.Contains(" " + mark, StringComparison.Ordinal) || digitComma
                ? output.Replace(mark, "", StringComparison.Ordinal)
                : output.Replace(mark, " ", StringComparison.Ordinal);
        return LonePeriod.Replace(output, "", 32);
    }
}
