using System.Globalization;
using System.Numerics;
using UniPrune.Engine.Datasets;
using UniPrune.Engine.Scoring.Judge;

namespace UniPrune.Engine.Scoring;

/// <summary>
/// A value as VLMEvalKit's post_check sees it: a string from the file, or the number a prefetch stored. Python's
/// <c>int()</c>/<c>float()</c> differ on the two (int(12.0) is 12, int("12.0") raises), so the kind is kept.
/// </summary>
internal readonly record struct PyValue(string Text, double? Number, bool NumberIsInt)
{
    public static PyValue FromText(string text) => new(text, null, false);

    /// <summary>A prediction from a file whose prediction column pandas typed as numbers (datasets.md Errata 4).</summary>
    public static PyValue FromColumn(string text, bool numericColumn) =>
        numericColumn && PythonText.TryParseFloat(text, out double v) ? new(text, v, !text.Contains('.') && !text.Contains('e') && !text.Contains("inf") && !text.Contains("nan")) : FromText(text);

    public bool TryInt(out BigInteger value)
    {
        value = default;
        if (Number is { } n)
        {
            if (double.IsNaN(n) || double.IsInfinity(n)) return false; // int(nan) raises ValueError
            value = new BigInteger(Math.Truncate(n));
            return true;
        }
        return PythonText.TryParseInt(Text, out value);
    }

    public bool TryFloat(out double value)
    {
        if (Number is { } n) { value = n; return true; }
        return PythonText.TryParseFloat(Text, out value);
    }

    /// <summary>Python truthiness of the prefetch result (0 and 0.0 are False, so a correct "0" still goes to the judge).</summary>
    public bool Truthy => Number is { } n ? n != 0 : Text.Length > 0;
}

/// <summary>
/// MathVista_MINI (<c>MathVista_auxeval</c> + <c>MathVista_acc</c>): prefetch with rules, the judge extracts the rest
/// (5 tries, temperature 0.5·i, max_tokens 128), then post_check compares. Without a judge only prefetched rows can be
/// right: the offline lower bound. For multi-choice rows any inferred letter counts as a prefetch, right or wrong
/// (the code does this; datasets.md §2.8 says "correct", the code wins).
/// </summary>
public static class MathVistaScorer
{
    public const string DefaultJudge = "gpt-4o-mini";

    public static async Task<ScoreReport> ScoreAsync(IReadOnlyList<SamplePrediction> predictions, ScoringContext context, CancellationToken ct = default)
    {
        var (texts, numeric) = PredictionFile.RoundTrip(predictions.Select(p => p.Prediction).ToList(), context.Predictions, context.NaBehavior);
        var outcomes = new List<Outcome>();
        for (int i = 0; i < predictions.Count; i++)
        {
            var sample = predictions[i].Sample;
            var prediction = PyValue.FromColumn(texts[i], numeric);
            var prefetch = PostCheckPrefetch(sample, prediction);
            PyValue result;
            string log;
            if (prefetch is { Truthy: true } value) { result = value; log = "Prefetch succeed"; }
            else if (context.Judge is null) { result = PyValue.FromText(""); log = "no judge: prefetch failed, counted wrong (lower bound)"; }
            else
            {
                string prompt = JudgePrompts.MathVistaExtraction(sample.Require("question", "the MathVista query"), texts[i]);
                result = PyValue.FromText("");
                log = "All 5 retries failed.";
                for (int attempt = 0; attempt < 5; attempt++)
                {
                    string reply = await context.Judge.CompleteAsync(new JudgeRequest(prompt, Temperature: 0.5 * attempt, MaxTokens: 128), ct);
                    if (reply.Contains(JudgeSettings.FailureMessage, StringComparison.Ordinal)) continue;
                    result = PyValue.FromText(reply);
                    log = "Succeed";
                    break;
                }
            }
            outcomes.Add(new Outcome(sample, result.Text, PostCheckFinal(sample, result), log, log == "Prefetch succeed"));
        }
        bool lowerBound = context.Judge is null;
        return Aggregate("MathVista_MINI", outcomes, withPrefetchRate: true,
            lowerBound ? "prefetch-only lower bound (no judge configured)" : $"judge:{context.Judge!.Model}", lowerBound,
            lowerBound ? [JudgeSettings.NotConfiguredReason] : []);
    }

    /// <summary>
    /// Judge-free scoring for the project's synthetic MathVista table: a rule extracts the answer the judge would (the whole
    /// prediction when it parses as the answer type, else its last number; a float is rounded to the row's <c>precision</c>
    /// as MathVista's own normaliser does), then VLMEvalKit's post_check compares it (integer/float equality; for
    /// multi_choice can_infer's letter or option text against answer_option). Text answers compare stripped and lower-cased
    /// (upstream's text branch compares 'None', which would make them unanswerable).
    /// </summary>
    public static ScoreReport ScoreByRule(string dataset, IReadOnlyList<SamplePrediction> predictions, ScoringContext context)
    {
        var (texts, numeric) = PredictionFile.RoundTrip(predictions.Select(p => p.Prediction).ToList(), context.Predictions, context.NaBehavior);
        var outcomes = new List<Outcome>();
        for (int i = 0; i < predictions.Count; i++)
        {
            var sample = predictions[i].Sample;
            var extracted = RuleExtract(sample, PyValue.FromColumn(texts[i], numeric));
            bool freeText = sample.Require("question_type", "multi_choice or free_form") != "multi_choice"
                && sample.Require("answer_type", "integer, float, text or list") is not ("integer" or "float");
            bool hit = freeText
                ? PythonText.Lower(extracted.Text) == PythonText.Lower(PythonText.Strip(sample.Cell("answer")?.Display ?? "nan"))
                : PostCheckFinal(sample, extracted);
            outcomes.Add(new Outcome(sample, extracted.Text, hit, "rule", false));
        }
        return Aggregate(dataset, outcomes, withPrefetchRate: false, "rule: post_check on the rule-extracted answer (no judge)", false,
            ["judge-free synthetic scoring: the answer is extracted by rule (whole prediction or its last number), then compared by VLMEvalKit's post_check"]);
    }

    private static readonly System.Text.RegularExpressions.Regex Number = new(@"-?\d+(?:\.\d+)?", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    /// <summary>The rule extraction of <see cref="ScoreByRule"/> for one prediction.</summary>
    internal static PyValue RuleExtract(DatasetSample sample, PyValue prediction)
    {
        if (sample.Require("question_type", "multi_choice or free_form") == "multi_choice") return prediction; // can_infer reads letters and option texts
        string answerType = sample.Require("answer_type", "integer, float, text or list");
        if (answerType is not ("integer" or "float")) return PyValue.FromText(PythonText.Strip(prediction.Text));
        bool parses = answerType == "integer" ? prediction.TryInt(out _) : prediction.TryFloat(out _);
        var candidate = prediction;
        if (!parses)
        {
            var numbers = Number.Matches(prediction.Text);
            if (numbers.Count == 0) return prediction;
            candidate = PyValue.FromText(numbers[^1].Value);
        }
        if (answerType == "float" && sample.Text("precision") is { } precisionText && PythonText.TryParseFloat(precisionText, out double digits)
            && digits is >= 0 and <= 15 && candidate.TryFloat(out double value))
        {
            double rounded = Math.Round(value, (int)digits, MidpointRounding.ToEven);
            return new PyValue(PythonText.FloatRepr(rounded), rounded, false);
        }
        return candidate;
    }

    private sealed record Outcome(DatasetSample Sample, string Result, bool Hit, string Log, bool Prefetched);

    /// <summary>MathVista_acc: accuracy Overall, per skill and per task (a skill equal to the task counts twice, as upstream).</summary>
    private static ScoreReport Aggregate(string dataset, IReadOnlyList<Outcome> outcomes, bool withPrefetchRate, string mode, bool lowerBound, IReadOnlyList<string> notes)
    {
        var total = new Dictionary<string, int>(StringComparer.Ordinal);
        var prefetched = new Dictionary<string, int>(StringComparer.Ordinal);
        var hits = new Dictionary<string, int>(StringComparer.Ordinal);
        var order = new List<string>();
        void Count(Dictionary<string, int> counter, string key) { counter[key] = counter.GetValueOrDefault(key) + 1; if (!order.Contains(key)) order.Add(key); }
        var samples = new List<SampleScore>();
        foreach (var outcome in outcomes)
        {
            var sample = outcome.Sample;
            string task = sample.Require("task", "the MathVista task name");
            string skillsText = sample.Text("skills") ?? "nan";
            List<string> skills;
            try { skills = PythonLiteral.ParseStringList(skillsText); }
            catch (PythonLiteralException) { skills = [skillsText]; } // eval SyntaxError → the raw text, as upstream
            foreach (string key in new[] { "Overall" }.Concat(skills).Append(task))
            {
                Count(total, key);
                if (outcome.Prefetched) Count(prefetched, key);
                if (outcome.Hit) Count(hits, key);
            }
            samples.Add(new SampleScore(sample.Index, outcome.Result, outcome.Hit ? 1 : 0, outcome.Log));
        }
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
        var categories = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (string key in order.Where(total.ContainsKey))
        {
            double acc = 100.0 * hits.GetValueOrDefault(key) / total[key];
            double rate = 100.0 * prefetched.GetValueOrDefault(key) / total[key];
            if (key == "Overall")
            {
                metrics["acc"] = acc;
                if (withPrefetchRate) metrics["prefetch_rate"] = rate;
                metrics["tot"] = total[key]; metrics["hit"] = hits.GetValueOrDefault(key);
            }
            else
            {
                categories[key] = acc;
                if (withPrefetchRate) categories[$"prefetch_rate/{key}"] = rate;
            }
        }
        double overall = metrics.GetValueOrDefault("acc", double.NaN);
        return new ScoreReport(dataset, "Overall acc", overall, overall, metrics, categories, outcomes.Count, mode, lowerBound, samples, notes);
    }

    /// <summary>The row's <c>choices</c> list as lettered options A, B, ... (also the training targets' source).</summary>
    internal static IReadOnlyList<ChoiceOption> Choices(DatasetSample sample)
    {
        var list = PythonLiteral.Parse(sample.Require("choices", "a list literal of the options")) as List<object?>
            ?? throw new ScoringException($"MathVista: {sample.File} line {sample.Line}, column 'choices': expected a list literal");
        return list.Select((v, k) => new ChoiceOption((char)('A' + k), PythonLiteral.Str(v))).ToList();
    }

    /// <summary>post_check(prefetch=True): the inferred letter for multi_choice; the parsed value when it equals the answer; else null.</summary>
    internal static PyValue? PostCheckPrefetch(DatasetSample sample, PyValue prediction)
    {
        string questionType = sample.Require("question_type", "multi_choice or free_form");
        if (questionType == "multi_choice")
        {
            var inferred = AnswerExtraction.CanInfer(prediction.Text, Choices(sample));
            return inferred.Found ? PyValue.FromText(inferred.ToString()) : null;
        }
        var (equal, value) = CompareFreeForm(sample, prediction);
        return equal ? value : null;
    }

    /// <summary>post_check(prefetch=False) on the stored result.</summary>
    internal static bool PostCheckFinal(DatasetSample sample, PyValue result)
    {
        if (sample.Require("question_type", "multi_choice or free_form") == "multi_choice")
        {
            var inferred = AnswerExtraction.CanInfer(result.Text, Choices(sample));
            return inferred.Found && inferred.ToString() == sample.Require("answer_option", "the correct option letter");
        }
        return CompareFreeForm(sample, result).Equal;
    }

    private static (bool Equal, PyValue Value) CompareFreeForm(DatasetSample sample, PyValue response)
    {
        string answerType = sample.Require("answer_type", "integer, float, text or list");
        string answer = sample.Cell("answer")?.Display ?? "nan";
        if (answerType == "integer")
        {
            if (!response.TryInt(out var r)) return (false, response);
            var value = new PyValue(r.ToString(CultureInfo.InvariantCulture), (double)r, true);
            return PythonText.TryParseInt(answer, out var a) ? (r == a, value) : (false, value);
        }
        if (answerType == "float")
        {
            if (!response.TryFloat(out double r)) return (false, response);
            var value = new PyValue(PythonText.FloatRepr(r), r, false);
            return PythonText.TryParseFloat(answer, out double a) ? (r == a, value) : (false, value);
        }
        // text/list: upstream compares str(None) with str(answer), which almost never matches (replicated).
        return ("None" == answer, PyValue.FromText("None"));
    }
}

/// <summary>
/// MathVision / MathVision_MINI (<c>MATH_V_auxeval</c> + <c>MATH_V_acc</c>): multiple choice when <c>choices</c> is a
/// non-empty list (any inferred letter is a prefetch), free-form prefetch only when the whole prediction is_equal
/// to the answer; the judge extracts the rest. Accuracy overall and per subject.
/// </summary>
public static class MathVisionScorer
{
    public const string DefaultJudge = "gpt-4o-mini";

    public static async Task<ScoreReport> ScoreAsync(string dataset, IReadOnlyList<SamplePrediction> predictions, ScoringContext context, CancellationToken ct = default)
    {
        string[] texts = PredictionFile.Texts(predictions, context);
        var total = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var prefetched = new Dictionary<string, int>(StringComparer.Ordinal);
        var hits = new Dictionary<string, int>(StringComparer.Ordinal);
        var samples = new List<SampleScore>();
        for (int i = 0; i < predictions.Count; i++)
        {
            var sample = predictions[i].Sample;
            var choices = Choices(sample);
            string answer = sample.Cell("answer")?.Display ?? "nan";
            string? prefetch = choices.Count > 0
                ? AnswerExtraction.CanInfer(texts[i], choices) is { Found: true } letter ? letter.ToString() : null
                : MathEquality.IsEqual(texts[i], answer) && texts[i].Length > 0 ? texts[i] : null;
            string result, log;
            if (prefetch is not null) { result = prefetch; log = "Prefetch succeed"; }
            else if (context.Judge is null) { result = ""; log = "no judge: prefetch failed, counted wrong (lower bound)"; }
            else
            {
                string prompt = JudgePrompts.MathVisionExtraction(sample.Require("question", "the question text"), texts[i]);
                result = "";
                log = "All 5 retries failed.";
                for (int attempt = 0; attempt < 5; attempt++)
                {
                    string reply = await context.Judge.CompleteAsync(new JudgeRequest(prompt, Temperature: 0.5 * attempt, MaxTokens: 2048), ct);
                    if (reply.Contains(JudgeSettings.FailureMessage, StringComparison.Ordinal)) continue;
                    result = reply;
                    log = "Succeed";
                    break;
                }
            }
            bool hit = choices.Count > 0
                ? AnswerExtraction.CanInfer(result, choices) is { Found: true } final && MathEquality.IsEqual(final.ToString(), answer)
                : MathEquality.IsEqual(result, answer);
            string category = sample.Require("category", "the subject");
            foreach (string key in new[] { "Overall", category })
            {
                total[key] = total.GetValueOrDefault(key) + 1;
                if (log == "Prefetch succeed") prefetched[key] = prefetched.GetValueOrDefault(key) + 1;
                if (hit) hits[key] = hits.GetValueOrDefault(key) + 1;
            }
            samples.Add(new SampleScore(sample.Index, result, hit ? 1 : 0, log));
        }
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
        var categories = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (key, count) in total)
        {
            double acc = 100.0 * hits.GetValueOrDefault(key) / count, rate = 100.0 * prefetched.GetValueOrDefault(key) / count;
            if (key == "Overall") { metrics["acc"] = acc; metrics["prefetch_rate"] = rate; metrics["tot"] = count; metrics["hit"] = hits.GetValueOrDefault(key); }
            else { categories[key] = acc; categories[$"prefetch_rate/{key}"] = rate; }
        }
        double overall = metrics.GetValueOrDefault("acc", double.NaN);
        bool lowerBound = context.Judge is null;
        return new ScoreReport(dataset, "Overall acc", overall, overall, metrics, categories, predictions.Count,
            lowerBound ? "prefetch-only lower bound (no judge configured)" : $"judge:{context.Judge!.Model}", lowerBound, samples,
            lowerBound ? [JudgeSettings.NotConfiguredReason] : []);
    }

    private static IReadOnlyList<ChoiceOption> Choices(DatasetSample sample)
    {
        string text = sample.Require("choices", "a list literal of options ('[]' for free-form)");
        var list = PythonLiteral.Parse(text) as List<object?>
            ?? throw new ScoringException($"{sample.File} line {sample.Line}, column 'choices': expected a list literal, got {text}");
        return list.Select((v, k) => new ChoiceOption((char)('A' + k), PythonLiteral.Str(v))).ToList();
    }
}

/// <summary>
/// MIA-Bench: a multimodal judge grades each response per component; the first sentence of its reply is parsed with
/// VLMEvalKit's fragile rule (any failure drops the sample). Result: mean fraction per component type and total_score.
/// No offline path exists: without a judge it throws <see cref="JudgeNotConfiguredException"/>.
/// </summary>
public static class MiaBenchScorer
{
    public const string DefaultJudge = "gpt-4o";

    public static async Task<ScoreReport> ScoreAsync(IReadOnlyList<SamplePrediction> predictions, ScoringContext context, CancellationToken ct = default)
    {
        if (context.Judge is null)
            throw new JudgeNotConfiguredException($"MIA-Bench is graded only by a multimodal LLM judge (VLMEvalKit default {DefaultJudge}); {JudgeSettings.NotConfiguredReason}");
        string[] texts = PredictionFile.Texts(predictions, context);
        var sums = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        var order = new List<string>();
        var samples = new List<SampleScore>();
        int skipped = 0;
        for (int i = 0; i < predictions.Count; i++)
        {
            var sample = predictions[i].Sample;
            var components = PythonLiteral.ParseStringList(sample.Require("components", "a list literal of instruction components"));
            var weights = PythonLiteral.ParseStringList(sample.Require("component_weight", "a list literal of weights"));
            string countText = sample.Require("num_of_component", "the number of components");
            int count = PythonText.TryParseFloat(countText, out double c) ? (int)c : throw new ScoringException($"MIA-Bench: {sample.File} line {sample.Line}: num_of_component '{countText}' is not a number");
            string prompt = JudgePrompts.MiaBenchGrading(sample.Require("question", "the instruction"), components, weights, count, texts[i]);
            var image = sample.Images.Count > 0 ? new JudgeImage(sample.Images[0].Base64) : null;
            string reply = await context.Judge.CompleteAsync(new JudgeRequest(prompt, image is null ? null : [image]), ct);
            var parsed = ParseRawScore(ComponentTypes(sample.Text("component_type") ?? "nan"), reply);
            if (parsed is null)
            {
                skipped++;
                samples.Add(new SampleScore(sample.Index, reply, double.NaN, "judge reply did not parse: sample skipped (as upstream)"));
                continue;
            }
            foreach (var (key, value) in parsed)
            {
                if (!sums.TryGetValue(key, out var list)) { sums[key] = list = []; order.Add(key); }
                list.Add(value);
            }
            samples.Add(new SampleScore(sample.Index, reply, parsed["total_score"], "judge"));
        }
        var categories = order.Where(k => k != "total_score").ToDictionary(k => k, k => sums[k].Average(), StringComparer.Ordinal);
        double totalScore = sums.TryGetValue("total_score", out var totals) ? totals.Average() : double.NaN;
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal) { ["total_score"] = totalScore, ["parsed"] = predictions.Count - skipped, ["skipped"] = skipped };
        return new ScoreReport("MIA-Bench", "total_score", totalScore, totalScore * 100, metrics, categories, predictions.Count,
            $"judge:{context.Judge.Model}", false, samples,
            skipped > 0 ? [$"{skipped} judge replies did not parse and were left out of the means (VLMEvalKit does the same)"] : []);
    }

    /// <summary><c>component_type[2:-2].split("', '")</c>: the list literal cut by hand, as upstream does.</summary>
    public static IReadOnlyList<string> ComponentTypes(string text) =>
        text.Length >= 4 ? text[2..^2].Split("', '") : [];

    /// <summary>
    /// <c>process_rawscore</c>: the text before the first '.', split on ','; each item but the last gives
    /// component_type[i] = int(a)/int(b) from "…: a/b"; the last gives total_score. Null where Python would raise.
    /// </summary>
    public static IReadOnlyDictionary<string, double>? ParseRawScore(IReadOnlyList<string> componentTypes, string reply)
    {
        string[] items = reply.Split('.')[0].Split(',');
        if (items.Length < 2) return null; // the loop variable i is never bound: NameError upstream
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        for (int i = 0; i <= items.Length - 1; i++)
        {
            string[] colon = items[i].Split(':');
            if (colon.Length < 2 || colon[1].Length < 1) return null;
            string[] fraction = colon[1][1..].Split('/');
            if (fraction.Length < 2 || !PythonText.TryParseInt(fraction[0], out var numerator) || !PythonText.TryParseInt(fraction[1], out var denominator) || denominator.IsZero)
                return null;
            double score = (double)numerator / (double)denominator;
            if (i < items.Length - 1)
            {
                if (i >= componentTypes.Count) return null; // IndexError upstream
                result[componentTypes[i]] = score;
            }
            else result["total_score"] = score;
        }
        return result;
    }
}
