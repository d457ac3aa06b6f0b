using UniPrune.Engine.Datasets;

namespace UniPrune.Engine.Scoring;

/// <summary>OCRBench: a hit when any accepted answer is a substring of the prediction; 1000 rows → Final Score 0–1000.</summary>
public static class OcrBenchScorer
{
    public const string Hme = "Handwritten Mathematical Expression Recognition";

    public static readonly IReadOnlyList<string> TextRecognition =
    [
        "Regular Text Recognition", "Irregular Text Recognition", "Artistic Text Recognition",
        "Handwriting Recognition", "Digit String Recognition", "Non-Semantic Text Recognition",
    ];

    public static readonly IReadOnlyList<string> Categories =
        [.. TextRecognition, "Scene Text-centric VQA", "Doc-oriented VQA", "Key Information Extraction", Hme];

    /// <summary>
    /// One row: HME strips both, turns line breaks into spaces and removes every space; the others lower-case, strip
    /// and turn line breaks into spaces. Then a plain substring test. (No full-width folding: that is lmms-eval.)
    /// </summary>
    public static bool IsHit(string category, string prediction, IReadOnlyList<string> answers)
    {
        foreach (string answer in answers)
        {
            bool hit = category == Hme
                ? Hme_Normalize(prediction).Contains(Hme_Normalize(answer), StringComparison.Ordinal)
                : Normalize(prediction).Contains(Normalize(answer), StringComparison.Ordinal);
            if (hit) return true;
        }
        return false;
    }

    private static string Hme_Normalize(string text) => PythonText.Strip(text).Replace("\n", " ").Replace(" ", "");
    private static string Normalize(string text) => PythonText.Strip(PythonText.Lower(text)).Replace("\n", " ");

    public static ScoreReport Score(IReadOnlyList<SamplePrediction> predictions, ScoringContext context)
    {
        string[] texts = PredictionFile.Texts(predictions, context);
        var counts = Categories.ToDictionary(c => c, _ => 0, StringComparer.Ordinal);
        var samples = new List<SampleScore>();
        for (int i = 0; i < predictions.Count; i++)
        {
            var sample = predictions[i].Sample;
            string category = sample.Require("category", "an OCRBench category");
            if (!counts.ContainsKey(category))
                throw new ScoringException($"OCRBench: {sample.File} line {sample.Line}: unknown category '{category}'; expected one of: {string.Join(", ", Categories)}");
            string answerText = sample.Require("answer", "a Python list literal of accepted answers, e.g. ['abc', 'ABC']");
            IReadOnlyList<string> answers;
            try { answers = PythonLiteral.ParseStringList(answerText); }
            catch (PythonLiteralException e)
            {
                throw new ScoringException($"OCRBench: {sample.File} line {sample.Line}, column 'answer': {e.Message}; expected a Python list literal of strings");
            }
            bool hit = IsHit(category, texts[i], answers);
            if (hit) counts[category]++;
            samples.Add(new SampleScore(sample.Index, texts[i], hit ? 1 : 0, hit ? "substring hit" : "no accepted answer in the prediction"));
        }
        var categories = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (name, count) in counts) categories[name] = count;
        double textRecognition = TextRecognition.Sum(c => counts[c]);
        double final = textRecognition + counts["Scene Text-centric VQA"] + counts["Doc-oriented VQA"] + counts["Key Information Extraction"] + counts[Hme];
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["Text Recognition"] = textRecognition,
            ["Scene Text-centric VQA"] = counts["Scene Text-centric VQA"],
            ["Doc-oriented VQA"] = counts["Doc-oriented VQA"],
            ["Key Information Extraction"] = counts["Key Information Extraction"],
            [Hme] = counts[Hme],
            ["Final Score"] = final,
            ["Final Score Norm"] = final / 10,
        };
        var notes = new List<string>();
        // Score100 is the hit rate: Final/10 on the official 1000 rows, and still 0–100 on a subset or the synthetic table.
        double score100 = predictions.Count > 0 ? 100.0 * final / predictions.Count : double.NaN;
        if (predictions.Count != 1000)
            notes.Add($"{predictions.Count} rows: Final Score counts hits, so it is out of {predictions.Count}, not 1000; Score100 = 100 × hits / rows (Final Score Norm stays Final/10)");
        return new ScoreReport("OCRBench", "Final Score", final, score100, metrics, categories, predictions.Count, "substring", false, samples, notes);
    }
}

/// <summary>The paper's aggregates over datasets: the 0–100 average and performance relative to the unpruned (vanilla) cell.</summary>
public static class PaperSummary
{
    /// <summary>Pruned score as a percentage of the vanilla score (100 = no loss).</summary>
    public static double RelativeScore(double pruned100, double vanilla100)
    {
        if (vanilla100 == 0 || double.IsNaN(vanilla100)) throw new ArgumentException($"vanilla score {vanilla100} cannot anchor a relative score");
        return pruned100 / vanilla100 * 100;
    }

    /// <summary>Relative drop in percent: (vanilla − pruned) / vanilla × 100 (negative when pruning helps, as on MIA).</summary>
    public static double RelativeDrop(double pruned100, double vanilla100) => 100 - RelativeScore(pruned100, vanilla100);

    /// <summary>The tables' "Avg.": the arithmetic mean of the 0–100 dataset scores (MME normalised to 0–100).</summary>
    public static double Average(IEnumerable<double> scores100)
    {
        var list = scores100.ToList();
        if (list.Count == 0) throw new ArgumentException("Avg. of no datasets");
        if (list.Any(double.IsNaN)) throw new ArgumentException("Avg. over a dataset without a score (NaN); leave it out explicitly");
        return list.Average();
    }

    /// <summary>Avg. over reports (their <see cref="ScoreReport.Score100"/>).</summary>
    public static double Average(IEnumerable<ScoreReport> reports) => Average(reports.Select(r => r.Score100));

    /// <summary>Per-dataset relative scores of a pruned run against the vanilla run of the same model, and their mean.</summary>
    public static (IReadOnlyDictionary<string, double> PerDataset, double Mean) Relative(IEnumerable<ScoreReport> pruned, IEnumerable<ScoreReport> vanilla)
    {
        var anchors = vanilla.ToDictionary(r => r.Dataset, r => r.Score100, StringComparer.Ordinal);
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var report in pruned)
        {
            if (!anchors.TryGetValue(report.Dataset, out double anchor))
                throw new ArgumentException($"no vanilla result for {report.Dataset}; relative scores need the unpruned cell of the same model and dataset");
            result[report.Dataset] = RelativeScore(report.Score100, anchor);
        }
        return (result, result.Values.Average());
    }
}
