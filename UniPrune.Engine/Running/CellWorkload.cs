using UniPrune.Engine.Models.Abstractions;

namespace UniPrune.Engine.Running;

/// <summary>One request of a cell: a dataset row, identified by its index and the hash of the prompt it produces.</summary>
public sealed record WorkItem(string Id, string PromptHash);

/// <summary>What running one request produced (before scoring).</summary>
/// <param name="PromptTokens">The prompt's length in tokens with every visual token (before pruning): with the visual and kept
/// counts it gives the FLOP-ideal prefill ratio of a pre-LLM method.</param>
public sealed record SampleOutput(string Prediction, int VisualTokens, int KeptTokens, StageTimings Timings, int PromptTokens = 0);

/// <summary>
/// Scores of a cell: headline metrics, per-category metrics and one score per sample (null where a sample has no score
/// of its own, e.g. MMBench circular groups are scored as groups).
/// </summary>
/// <param name="Primary">The metric relative drop and the report use.</param>
public sealed record CellScores(
    string Primary,
    IReadOnlyDictionary<string, double> Metrics,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> Categories,
    IReadOnlyDictionary<string, double?> PerSample)
{
    public double PrimaryValue => Metrics.TryGetValue(Primary, out var v) ? v
        : throw new KeyNotFoundException($"primary metric '{Primary}' is not among the metrics ({string.Join(", ", Metrics.Keys)})");
}

/// <summary>
/// Everything a cell needs, bound together: the model (loaded once, shared), the pruning hooks for the cell's method and
/// retention, the dataset's rows, prompts and scorer. The runner drives it; it never knows the dataset or method by name.
/// </summary>
public interface ICellWorkload
{
    CellSpec Cell { get; }

    /// <summary>
    /// Identity of everything that decides the predictions except the scorer: engine build, model identity, data file hash,
    /// method spec and retention. Finished samples are reused only under the same fingerprint. Scores are recomputed from the
    /// stored predictions on every run, so a scorer change never needs a re-run.
    /// </summary>
    string Fingerprint { get; }

    /// <summary>Identity stamped into the snapshot ("model", "dataset", "method" sections).</summary>
    IReadOnlyDictionary<string, object?> Identity { get; }

    IReadOnlyList<WorkItem> Items { get; }

    SampleOutput Run(WorkItem item);

    CellScores Score(IReadOnlyList<(WorkItem Item, string Prediction)> predictions);
}
