using UniPrune.Engine.Datasets;

namespace UniPrune.Engine.Scoring;

/// <summary>A model's answer to one sample.</summary>
public sealed record SamplePrediction(DatasetSample Sample, string Prediction);

/// <summary>How one sample was scored: what was extracted from the prediction, its score, and how.</summary>
/// <param name="Index">The sample's index (string form).</param>
/// <param name="Extracted">The extracted answer (option letter, Yes/No/Unknown, judge text...).</param>
/// <param name="Score">1/0 for right/wrong; a fraction for graded datasets; NaN where the sample could not be scored.</param>
/// <param name="Log">A short note: "prefetch", "judge", "exact matching", a parse failure...</param>
public sealed record SampleScore(string Index, string Extracted, double Score, string Log);

/// <summary>
/// The aggregate result of one dataset: the headline number on the dataset's own scale and on 0–100 for the paper's
/// tables, every named metric, a per-category breakdown, the sample count, and how it was produced.
/// </summary>
/// <param name="Dataset">VLMEvalKit dataset name.</param>
/// <param name="MainMetric">Name of the headline metric ("perception+reasoning", "Overall", "Final Score", ...).</param>
/// <param name="MainScore">The headline on VLMEvalKit's scale (MME 0–2800, OCRBench 0–1000, MCQ 0–1, others 0–100).</param>
/// <param name="Score100">The headline normalised to 0–100 as the paper tables use it.</param>
/// <param name="Metrics">All named aggregate metrics (e.g. perception, reasoning, acc, precision, aAcc...).</param>
/// <param name="Categories">Per-category (and per-split) breakdown, keyed "group/name" where groups exist.</param>
/// <param name="SampleCount">Number of predictions scored (before any expansion such as POPE's splits).</param>
/// <param name="Mode">How it was scored: "exact_matching", "judge:gpt-4o-mini", "circular", "prefetch-only lower bound", ...</param>
/// <param name="IsLowerBound">True when a judge was needed but absent and only the rule-based part counted.</param>
public sealed record ScoreReport(
    string Dataset,
    string MainMetric,
    double MainScore,
    double Score100,
    IReadOnlyDictionary<string, double> Metrics,
    IReadOnlyDictionary<string, double> Categories,
    int SampleCount,
    string Mode,
    bool IsLowerBound,
    IReadOnlyList<SampleScore> Samples,
    IReadOnlyList<string> Notes);

/// <summary>Raised when predictions cannot be scored the way VLMEvalKit would (it would raise too); names dataset and cause.</summary>
public sealed class ScoringException(string message) : Exception(message);

/// <summary>MMBench scoring variants (datasets.md §2.2).</summary>
public enum McqCircularMode
{
    /// <summary>VLMEvalKit's default for MMBench: a question counts only if every rotation is answered right.</summary>
    Circular,
    /// <summary>PRINT_VANILLA's vanilla_0: only the original (index &lt; 1e6) rows, scored one by one.</summary>
    Vanilla0,
    /// <summary>PRINT_VANILLA's vanilla_all: every row scored independently.</summary>
    VanillaAll,
}

/// <summary>How prediction strings reach the scorer.</summary>
public enum PredictionSemantics
{
    /// <summary>
    /// As VLMEvalKit sees them after its xlsx round trip (datasets.md Errata 1 and 4, reproduced for parity): a
    /// prediction that is empty or a pandas NA string becomes "nan", and when every prediction looks numeric the
    /// column is re-typed ('12.30' → '12.3', '0451278' → '451278').
    /// </summary>
    VlmEvalKitFile,
    /// <summary>The model's text unchanged (the "fixed" behaviour; report it next to the parity number).</summary>
    Raw,
}

/// <summary>Options and services for scoring.</summary>
public sealed class ScoringContext
{
    /// <summary>The LLM judge, or null (exact matching / rule-based lower bound).</summary>
    public Judge.IJudge? Judge { get; init; }
    public McqCircularMode McqMode { get; init; } = McqCircularMode.Circular;
    public PredictionSemantics Predictions { get; init; } = PredictionSemantics.VlmEvalKitFile;
    public PandasNaBehavior NaBehavior { get; init; } = PandasNaBehavior.Pandas2;
    /// <summary>
    /// Score a subset (tests, smoke runs): MME without all 14 categories sums the present ones instead of raising as
    /// VLMEvalKit does. Recorded in the report's notes.
    /// </summary>
    public bool AllowPartial { get; init; }

    public static ScoringContext Default { get; } = new();
}

/// <summary>Prediction strings as VLMEvalKit's evaluate() receives them (see <see cref="PredictionSemantics"/>).</summary>
public static class PredictionFile
{
    /// <summary>The predictions after the round trip, and whether pandas typed the whole column as numbers.</summary>
    public static (string[] Texts, bool Numeric) RoundTrip(IReadOnlyList<string> predictions, PredictionSemantics semantics, PandasNaBehavior na)
    {
        if (semantics == PredictionSemantics.Raw) return (predictions.ToArray(), false);
        var isNa = predictions.Select(p => PandasNa.IsNa(p, na)).ToArray();
        var (type, displays) = PandasTable.InferColumn(predictions, isNa);
        var texts = predictions.Select((p, i) => isNa[i] ? "nan" : displays[i]).ToArray();
        return (texts, type is PandasColumnType.Integer or PandasColumnType.Float);
    }

    public static string[] Texts(IReadOnlyList<SamplePrediction> predictions, ScoringContext context) =>
        RoundTrip(predictions.Select(p => p.Prediction).ToList(), context.Predictions, context.NaBehavior).Texts;
}
