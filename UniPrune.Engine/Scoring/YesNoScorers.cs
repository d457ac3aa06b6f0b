using UniPrune.Engine.Datasets;
using UniPrune.Engine.Scoring.Judge;

namespace UniPrune.Engine.Scoring;

/// <summary>Y/N extraction for a whole prediction set: rules first, the judge only for "Unknown" (datasets.md §1.7).</summary>
public static class YesNoExtraction
{
    /// <summary>Extracted Yes/No/Unknown per prediction, with a log per sample.</summary>
    public static async Task<(string[] Extracted, string[] Logs)> ExtractAllAsync(IReadOnlyList<SamplePrediction> predictions,
        ScoringContext context, CancellationToken cancellationToken)
    {
        string[] texts = PredictionFile.Texts(predictions, context);
        var extracted = texts.Select(AnswerExtraction.YesNo).ToArray();
        var logs = extracted.Select(_ => "rule").ToArray();
        if (context.Judge is null) return (extracted, logs);
        for (int i = 0; i < extracted.Length; i++)
        {
            if (extracted[i] != "Unknown") continue;
            string prompt = JudgePrompts.YesNoMatch(predictions[i].Sample.Require("question", "the question text"), texts[i]);
            // YOrN_auxeval: up to 5 tries at temperature 0.5·i, each parsed by the rule extractor.
            for (int attempt = 0; attempt < 5; attempt++)
            {
                string output = await context.Judge.CompleteAsync(new JudgeRequest(prompt, Temperature: 0.5 * attempt), cancellationToken);
                string answer = AnswerExtraction.YesNo(output);
                if (answer == "Unknown") continue;
                extracted[i] = answer;
                logs[i] = $"judge (try {attempt})";
                break;
            }
        }
        return (extracted, logs);
    }

    internal static string Mode(ScoringContext context) => context.Judge is null ? "exact_matching" : $"judge:{context.Judge.Model}";
}

/// <summary>
/// Which MME categories a file covers. <see cref="Official"/>: VLMEvalKit's 14, all required, headline perception+reasoning
/// (0–2800). <see cref="Declared"/>: an explicit subset (the synthetic suite's MME_SYN), every row's category must be one of
/// them, and the headline is the sum of (acc + acc+) over the categories present, normalised by 200 per category.
/// </summary>
public sealed class MmeCategorySet
{
    /// <summary>The dataset name reported (MME, MME_SYN).</summary>
    public string Dataset { get; }
    /// <summary>The declared categories, or null for VLMEvalKit's full set.</summary>
    public IReadOnlyList<string>? Declared { get; }

    private MmeCategorySet(string dataset, IReadOnlyList<string>? declared) { Dataset = dataset; Declared = declared; }

    public static MmeCategorySet Official { get; } = new("MME", null);

    public static MmeCategorySet Subset(string dataset, IReadOnlyList<string> categories)
    {
        var unknown = categories.Where(c => !MmeScorer.Perception.Contains(c) && !MmeScorer.Reasoning.Contains(c)).ToList();
        if (categories.Count == 0 || unknown.Count > 0 || categories.Distinct().Count() != categories.Count)
            throw new ArgumentException($"{dataset}: an MME category subset must list distinct MME categories (unknown: {string.Join(", ", unknown)}; known: {string.Join(", ", MmeScorer.Perception.Concat(MmeScorer.Reasoning))})");
        return new MmeCategorySet(dataset, categories);
    }
}

/// <summary>MME: acc and acc+ per category, perception (10 categories) and reasoning (4), plus the paper's 0–100 normalisations.</summary>
public static class MmeScorer
{
    public static readonly IReadOnlyList<string> Perception =
        ["OCR", "artwork", "celebrity", "color", "count", "existence", "landmark", "position", "posters", "scene"];
    public static readonly IReadOnlyList<string> Reasoning =
        ["code_reasoning", "commonsense_reasoning", "numerical_calculation", "text_translation"];

    public static Task<ScoreReport> ScoreAsync(IReadOnlyList<SamplePrediction> predictions, ScoringContext context, CancellationToken ct = default) =>
        ScoreAsync(predictions, context, MmeCategorySet.Official, ct);

    public static async Task<ScoreReport> ScoreAsync(IReadOnlyList<SamplePrediction> predictions, ScoringContext context, MmeCategorySet categorySet,
        CancellationToken ct = default)
    {
        var (extracted, logs) = await YesNoExtraction.ExtractAllAsync(predictions, context, ct);
        var notes = new List<string>();
        // category → image_path → scores in file order (MME_rating pairs the rows of one image).
        var stats = new Dictionary<string, Dictionary<string, List<double>>>(StringComparer.Ordinal);
        var samples = new List<SampleScore>();
        for (int i = 0; i < predictions.Count; i++)
        {
            var sample = predictions[i].Sample;
            double score = sample.Require("answer", "Yes or No") == extracted[i] ? 1 : 0;
            string category = sample.Require("category", "an MME category such as 'existence'");
            if (categorySet.Declared is { } declared && !declared.Contains(category))
                throw new ScoringException($"{categorySet.Dataset}: {sample.File} line {sample.Line}, column 'category': '{category}' is not one of the declared categories {string.Join(", ", declared)}");
            string imagePath = sample.Require("image_path", "the image's path, the pairing key of MME's two questions");
            if (!stats.TryGetValue(category, out var byImage)) stats[category] = byImage = new Dictionary<string, List<double>>(StringComparer.Ordinal);
            if (!byImage.TryGetValue(imagePath, out var list)) byImage[imagePath] = list = [];
            list.Add(score);
            samples.Add(new SampleScore(sample.Index, extracted[i], score, logs[i]));
        }

        var categories = new Dictionary<string, double>(StringComparer.Ordinal);
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
        var categoryScore = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (category, byImage) in stats)
        {
            double acc = 100 * byImage.Values.SelectMany(v => v).Average();
            var pairs = new List<double>();
            foreach (var (imagePath, scores) in byImage)
            {
                if (scores.Count < 2)
                {
                    // MME_rating takes val[0] * val[1]: an image with one row raises IndexError there.
                    if (!context.AllowPartial)
                        throw new ScoringException($"MME: category '{category}', image_path '{imagePath}' has {scores.Count} scored row; acc+ needs the image's two questions (VLMEvalKit raises here)");
                    continue;
                }
                pairs.Add(scores[0] * scores[1]); // a third row is ignored for acc+, as upstream
            }
            double accPlus = pairs.Count > 0 ? 100 * pairs.Average() : double.NaN;
            categoryScore[category] = acc + accPlus;
            categories[category] = acc + accPlus;
            categories[$"acc/{category}"] = acc;
            categories[$"acc+/{category}"] = accPlus;
        }

        if (categorySet.Declared is { } subset) return DeclaredSubsetReport(categorySet.Dataset, subset, predictions.Count, categoryScore, categories, samples, notes, context);

        double Sum(IReadOnlyList<string> group, string name)
        {
            var missing = group.Where(c => !categoryScore.ContainsKey(c)).ToList();
            if (missing.Count > 0)
            {
                if (!context.AllowPartial)
                    throw new ScoringException($"MME: no predictions for {name} categories {string.Join(", ", missing)}; VLMEvalKit needs all 14 categories");
                notes.Add($"partial: {name} sums {group.Count - missing.Count} of {group.Count} categories (missing {string.Join(", ", missing)})");
            }
            return group.Where(categoryScore.ContainsKey).Sum(c => categoryScore[c]);
        }

        double perception = Sum(Perception, "perception"), reasoning = Sum(Reasoning, "reasoning");
        double total = perception + reasoning;
        metrics["perception"] = perception;
        metrics["reasoning"] = reasoning;
        metrics["perception+reasoning"] = total;
        metrics["total_norm100"] = total / 2800 * 100;       // = mean of the 14 subtask scores / 2: the paper tables' MME
        metrics["perception_norm100"] = perception / 2000 * 100; // what many pruning papers report instead
        notes.Add("Score100 = (perception + reasoning) / 2800 × 100; perception_norm100 = perception / 2000 × 100 is stored too");
        return new ScoreReport("MME", "perception+reasoning", total, metrics["total_norm100"], metrics, categories,
            predictions.Count, YesNoExtraction.Mode(context), false, samples, notes);
    }

    /// <summary>
    /// A declared subset: (acc + acc+) summed over the categories present, and its 0–100 form (÷ 200 per category), so a
    /// perfect model scores 100 whichever categories the file has. Mean acc and acc+ over those categories are reported too.
    /// </summary>
    private static ScoreReport DeclaredSubsetReport(string dataset, IReadOnlyList<string> declared, int count, Dictionary<string, double> categoryScore,
        Dictionary<string, double> categories, List<SampleScore> samples, List<string> notes, ScoringContext context)
    {
        var missing = declared.Where(c => !categoryScore.ContainsKey(c)).ToList();
        if (missing.Count > 0)
        {
            if (!context.AllowPartial)
                throw new ScoringException($"{dataset}: no predictions for declared categories {string.Join(", ", missing)}");
            notes.Add($"partial: {categoryScore.Count} of the {declared.Count} declared categories (missing {string.Join(", ", missing)})");
        }
        var present = declared.Where(categoryScore.ContainsKey).ToList();
        double sum = present.Sum(c => categoryScore[c]);
        var accPlus = present.Select(c => categories[$"acc+/{c}"]).Where(v => !double.IsNaN(v)).ToList();
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["score"] = sum,
            ["categories"] = present.Count,
            ["acc"] = present.Count > 0 ? present.Average(c => categories[$"acc/{c}"]) : double.NaN,
            ["acc+"] = accPlus.Count > 0 ? accPlus.Average() : double.NaN,
            ["perception"] = present.Where(Perception.Contains).Sum(c => categoryScore[c]),
            ["reasoning"] = present.Where(Reasoning.Contains).Sum(c => categoryScore[c]),
        };
        double score100 = present.Count > 0 ? sum / (200.0 * present.Count) * 100 : double.NaN;
        notes.Add($"declared category subset ({string.Join(", ", declared)}): score = sum of (acc + acc+) over the categories present; Score100 = score / (200 × categories) × 100");
        return new ScoreReport(dataset, "score", sum, score100, metrics, categories, count, YesNoExtraction.Mode(context), false, samples, notes);
    }
}

/// <summary>POPE: rows exploded over their comma-joined splits; F1, accuracy, precision and recall overall and per split.</summary>
public static class PopeScorer
{
    public static async Task<ScoreReport> ScoreAsync(IReadOnlyList<SamplePrediction> predictions, ScoringContext context, CancellationToken ct = default)
    {
        var (extracted, logs) = await YesNoExtraction.ExtractAllAsync(predictions, context, ct);
        var records = new List<(string? Split, bool Truth, bool Predicted, double Score)>();
        var samples = new List<SampleScore>();
        for (int i = 0; i < predictions.Count; i++)
        {
            var sample = predictions[i].Sample;
            string answer = sample.Require("answer", "Yes or No");
            double score = answer == extracted[i] ? 1 : 0;
            samples.Add(new SampleScore(sample.Index, extracted[i], score, logs[i]));
            // "Unknown" is a "No" prediction for P/R/F1 but wrong for accuracy.
            string? categories = sample.Category;
            foreach (string? split in categories is null ? [null] : (string?[])categories.Split(','))
                records.Add((split, answer == "Yes", extracted[i] == "Yes", score));
        }

        var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
        var categoriesOut = new Dictionary<string, double>(StringComparer.Ordinal);
        var overall = Rates(records);
        metrics["Overall"] = overall.F1;
        metrics["acc"] = overall.Acc;
        metrics["precision"] = overall.Precision;
        metrics["recall"] = overall.Recall;
        metrics["records"] = records.Count;
        foreach (var split in records.Where(r => r.Split is not null).Select(r => r.Split!).Distinct().Order(StringComparer.Ordinal))
        {
            var rates = Rates(records.Where(r => r.Split == split).ToList());
            categoriesOut[$"{split}/F1"] = rates.F1;
            categoriesOut[$"{split}/acc"] = rates.Acc;
            categoriesOut[$"{split}/precision"] = rates.Precision;
            categoriesOut[$"{split}/recall"] = rates.Recall;
        }
        return new ScoreReport("POPE", "Overall F1", overall.F1, overall.F1, metrics, categoriesOut, predictions.Count,
            YesNoExtraction.Mode(context), false, samples,
            ["Overall covers the exploded records (one per split a row belongs to); per-split rows are keyed '<split>/<metric>'"]);
    }

    private static (double F1, double Acc, double Precision, double Recall) Rates(IReadOnlyList<(string? Split, bool Truth, bool Predicted, double Score)> records)
    {
        int tp = records.Count(r => r.Truth && r.Predicted), fp = records.Count(r => !r.Truth && r.Predicted), fn = records.Count(r => r.Truth && !r.Predicted);
        double precision = tp + fp != 0 ? (double)tp / (tp + fp) : 0;
        double recall = tp + fn != 0 ? (double)tp / (tp + fn) : 0;
        double f1 = precision + recall != 0 ? 2 * precision * recall / (precision + recall) : 0;
        double acc = records.Count > 0 ? records.Average(r => r.Score) : double.NaN;
        return (f1 * 100, acc * 100, precision * 100, recall * 100);
    }
}

/// <summary>HallusionBench: aAcc, fAcc (per figure) and qAcc (per question) overall, per category (VD/VS) and per l2-category.</summary>
public static class HallusionBenchScorer
{
    public static async Task<ScoreReport> ScoreAsync(IReadOnlyList<SamplePrediction> predictions, ScoringContext context, CancellationToken ct = default)
    {
        var (extracted, logs) = await YesNoExtraction.ExtractAllAsync(predictions, context, ct);
        var rows = new List<Row>();
        var samples = new List<SampleScore>();
        for (int i = 0; i < predictions.Count; i++)
        {
            var sample = predictions[i].Sample;
            double score = sample.Require("answer", "Yes or No") == extracted[i] ? 1 : 0;
            string[] parts = sample.Index.Split('_');
            if (parts.Length < 6)
                throw new ScoringException($"HallusionBench: index '{sample.Index}' ({sample.File} line {sample.Line}) has {parts.Length} '_'-separated fields; expected at least 6 (fields 3, 4, 5 are set_id, figure_id, question_id)");
            // Python formats a NaN l2-category as "nan" inside the group key.
            rows.Add(new Row(sample.Category, sample.L2Category ?? "nan", parts[3], parts[4], parts[5], score));
            samples.Add(new SampleScore(sample.Index, extracted[i], score, logs[i]));
        }

        var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
        var categories = new Dictionary<string, double>(StringComparer.Ordinal);
        var (aAcc, fAcc, qAcc) = Accuracies(rows);
        metrics["aAcc"] = aAcc;
        metrics["fAcc"] = fAcc;
        metrics["qAcc"] = qAcc;
        double mean = (aAcc + fAcc + qAcc) / 3;
        metrics["mean"] = mean;
        void Breakdown(string group, Func<Row, string?> key)
        {
            foreach (string value in rows.Select(key).Where(k => k is not null).Select(k => k!).Distinct().Order(StringComparer.Ordinal))
            {
                var (a, f, q) = Accuracies(rows.Where(r => key(r) == value).ToList());
                categories[$"{group}/{value}/aAcc"] = a;
                categories[$"{group}/{value}/fAcc"] = f;
                categories[$"{group}/{value}/qAcc"] = q;
            }
        }
        Breakdown("category", r => r.Category);
        Breakdown("l2-category", r => r.L2Category);
        return new ScoreReport("HallusionBench", "mean(aAcc, fAcc, qAcc)", mean, mean, metrics, categories, predictions.Count,
            YesNoExtraction.Mode(context), false, samples,
            ["VLMEvalKit writes aAcc/fAcc/qAcc only; the mean is the caller's (leaderboard) number. Group keys exclude VD/VS, as upstream."]);
    }

    private sealed record Row(string? Category, string L2Category, string SetId, string FigureId, string QuestionId, double Score);

    private static (double A, double F, double Q) Accuracies(IReadOnlyList<Row> rows)
    {
        double a = 100 * rows.Average(r => r.Score);
        double f = 100 * rows.GroupBy(r => $"{r.L2Category}_{r.SetId}_{r.FigureId}").Average(g => g.All(r => r.Score == 1) ? 1.0 : 0.0);
        double q = 100 * rows.GroupBy(r => $"{r.L2Category}_{r.SetId}_{r.QuestionId}").Average(g => g.All(r => r.Score == 1) ? 1.0 : 0.0);
        return (a, f, q);
    }
}
