using System.Security.Cryptography;
using System.Text;
using UniPrune.Engine.Reporting;
using UniPrune.Engine.Timing;

namespace UniPrune.Engine.Running;

/// <summary>What one cell produced: every sample (reused or computed), the scores, the timing medians.</summary>
public sealed record CellOutcome(
    CellSpec Cell,
    IReadOnlyList<SampleRecord> Samples,
    CellScores Scores,
    TimingSummary Timing,
    int Reused,
    int Computed,
    IReadOnlyDictionary<string, object?> Identity)
{
    /// <summary>SHA-256 over "id TAB prediction LF" in dataset order: one value that moves when any answer moves.</summary>
    public string PredictionsDigest
    {
        get
        {
            var text = new StringBuilder();
            foreach (var s in Samples) text.Append(s.Id).Append('\t').Append(s.Prediction).Append('\n');
            return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
        }
    }
}

/// <summary>How the runner treats one cell's samples.</summary>
/// <param name="WarmupSamples">The first requests computed in this process for the cell are timed but left out of the medians.</param>
/// <param name="Progress">Called after each sample (index, count, reused).</param>
public sealed record RunOptions(int WarmupSamples = 1, Action<int, int, bool>? Progress = null, CancellationToken Cancellation = default);

/// <summary>
/// Runs one cell: reuses finished samples from the store (same fingerprint, same sample id and prompt hash), runs the rest one
/// at a time (each appended to samples.jsonl as it finishes), scores every prediction, and writes the result atomically.
/// An interrupted run loses at most the sample in flight; the next run resumes where it stopped.
/// </summary>
public static class CellRunner
{
    public static CellOutcome Run(ICellWorkload workload, RunStore store, RunOptions? options = null)
    {
        options ??= new RunOptions();
        var cell = workload.Cell;
        var finished = store.LoadFinished(cell, workload.Fingerprint);
        var records = new List<SampleRecord>(workload.Items.Count);
        int reused = 0, computed = 0;
        for (int i = 0; i < workload.Items.Count; i++)
        {
            options.Cancellation.ThrowIfCancellationRequested();
            var item = workload.Items[i];
            if (finished.TryGetValue(RunStore.Key(item.Id, item.PromptHash), out var done))
            {
                records.Add(done);
                reused++;
                options.Progress?.Invoke(i + 1, workload.Items.Count, true);
                continue;
            }
            var (output, totalMs) = DeviceClock.Measure(() => workload.Run(item));
            var t = output.Timings;
            var record = new SampleRecord(item.Id, item.PromptHash, output.Prediction, null, output.VisualTokens, output.KeptTokens,
                new SampleTimings(totalMs, t.VisionMs, t.PrefillMs, t.DecodeMs, t.MethodMs), Warmup: computed < options.WarmupSamples, output.PromptTokens);
            store.Append(cell, record);
            records.Add(record);
            computed++;
            options.Progress?.Invoke(i + 1, workload.Items.Count, false);
        }

        var scores = workload.Score(records.Select((r, i) => (workload.Items[i], r.Prediction)).ToList());
        var scored = records.Select(r => r with { Score = scores.PerSample.TryGetValue(r.Id, out var s) ? s : null }).ToList();
        var timing = TimingSummary.From(scored.Select(r => (r.Timings, r.Warmup)).ToList());
        var outcome = new CellOutcome(cell, scored, scores, timing, reused, computed, workload.Identity);
        store.Complete(cell, scored, ResultFile.Build(outcome));
        return outcome;
    }
}
