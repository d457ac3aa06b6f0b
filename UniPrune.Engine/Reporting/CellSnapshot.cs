using System.Reflection;
using UniPrune.Engine.Running;
using UniPrune.Engine.Timing;

namespace UniPrune.Engine.Reporting;

/// <summary>
/// The verified record of a cell: scores with their per-category breakdown, kept-token counts, sample count, a digest of the
/// predictions, and the identity of the model, data, method and engine that produced them. No timings (those vary run to run;
/// they live in results and are checked as budgets).
/// </summary>
public static class CellSnapshot
{
    public static SortedDictionary<string, object?> Build(CellOutcome outcome)
    {
        var samples = outcome.Samples;
        var tree = new SortedDictionary<string, object?>(StringComparer.Ordinal)
        {
            ["cell"] = outcome.Cell.Id,
            ["samples"] = samples.Count,
            ["primary"] = outcome.Scores.Primary,
            ["scores"] = Map(outcome.Scores.Metrics),
            ["categories"] = new SortedDictionary<string, object?>(
                outcome.Scores.Categories.ToDictionary(c => c.Key, c => (object?)Map(c.Value)), StringComparer.Ordinal),
            ["kept"] = new SortedDictionary<string, object?>(StringComparer.Ordinal)
            {
                ["visualTokensTotal"] = samples.Sum(s => (long)s.VisualTokens),
                ["keptTokensTotal"] = samples.Sum(s => (long)s.KeptTokens),
                ["keptTokensMin"] = samples.Count == 0 ? 0 : samples.Min(s => s.KeptTokens),
                ["keptTokensMax"] = samples.Count == 0 ? 0 : samples.Max(s => s.KeptTokens),
                ["keptTokensMean"] = samples.Count == 0 ? 0.0 : samples.Average(s => (double)s.KeptTokens),
            },
            ["predictionsDigest"] = outcome.PredictionsDigest,
            ["engine"] = EngineIdentity.Tree,
        };
        foreach (var (section, value) in outcome.Identity) tree[section] = value;
        return tree;
    }

    private static SortedDictionary<string, object?> Map(IReadOnlyDictionary<string, double> values) =>
        new(values.ToDictionary(v => v.Key, v => (object?)v.Value), StringComparer.Ordinal);
}

/// <summary>The result file of a run: the snapshot plus timing medians, the device class and how many samples were reused.</summary>
public static class ResultFile
{
    public static SortedDictionary<string, object?> Build(CellOutcome outcome)
    {
        var tree = CellSnapshot.Build(outcome);
        var t = outcome.Timing;
        tree["timing"] = new SortedDictionary<string, object?>(StringComparer.Ordinal)
        {
            ["deviceClass"] = DeviceClock.DeviceClass,
            ["measuredSamples"] = t.Measured,
            ["warmupExcluded"] = t.WarmupExcluded,
            ["medianTotalMs"] = t.TotalMs,
            ["medianVisionMs"] = t.VisionMs,
            ["medianPrefillMs"] = t.PrefillMs,
            ["medianDecodeMs"] = t.DecodeMs,
            ["medianMethodMs"] = t.MethodMs,
            ["madTotalMs"] = t.TotalMadMs,
        };
        tree["run"] = new SortedDictionary<string, object?>(StringComparer.Ordinal)
        {
            ["reusedSamples"] = outcome.Reused,
            ["computedSamples"] = outcome.Computed,
            ["tier"] = outcome.Cell.Tier,
            ["model"] = outcome.Cell.Model, ["method"] = outcome.Cell.Method, ["ratio"] = outcome.Cell.Ratio,
            ["dataset"] = outcome.Cell.Dataset, ["stage"] = outcome.Cell.Stage,
        };
        return tree;
    }
}

/// <summary>Which engine build produced a result: informational in snapshots (the manifest ignores "engine.*"), part of the
/// resume fingerprint (a rebuilt engine with changed code recomputes every sample).</summary>
public static class EngineIdentity
{
    private static readonly Assembly Engine = typeof(EngineIdentity).Assembly;

    /// <summary>The compiled module's id: deterministic builds give the same id for the same code, a new id for changed code.</summary>
    public static string Build => Engine.ManifestModule.ModuleVersionId.ToString("N");

    public static string Version => Engine.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? Engine.GetName().Version?.ToString() ?? "unknown";

    public static string TorchSharpVersion => typeof(TorchSharp.torch).Assembly.GetName().Version?.ToString() ?? "unknown";

    public static SortedDictionary<string, object?> Tree => new(StringComparer.Ordinal)
    {
        ["build"] = Build, ["version"] = Version, ["torchsharp"] = TorchSharpVersion,
    };
}
