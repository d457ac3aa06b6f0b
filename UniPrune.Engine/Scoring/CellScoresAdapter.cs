using UniPrune.Engine.Running;

namespace UniPrune.Engine.Scoring;

/// <summary>Maps a dataset's <see cref="ScoreReport"/> onto the harness's <see cref="CellScores"/>.</summary>
public static class CellScoresAdapter
{
    /// <summary>The 0–100 headline (what relative drop and Avg. use) is the primary metric.</summary>
    public const string PrimaryMetric = "score100";

    /// <summary>
    /// Metrics: every report metric, the headline under its own name and as <see cref="PrimaryMetric"/>, and the sample
    /// count. Categories: keys "group/name…" are split at the first '/'; keys without one go to group "category".
    /// Per sample: the score by sample index (NaN, e.g. an unparsed MIA judgement, becomes null).
    /// </summary>
    public static CellScores ToCellScores(this ScoreReport report)
    {
        var metrics = new Dictionary<string, double>(report.Metrics, StringComparer.Ordinal)
        {
            [report.MainMetric] = report.MainScore,
            [PrimaryMetric] = report.Score100,
            ["samples"] = report.SampleCount,
        };
        var groups = new Dictionary<string, Dictionary<string, double>>(StringComparer.Ordinal);
        foreach (var (key, value) in report.Categories)
        {
            int slash = key.IndexOf('/');
            string group = slash < 0 ? "category" : key[..slash], name = slash < 0 ? key : key[(slash + 1)..];
            if (!groups.TryGetValue(group, out var entries)) groups[group] = entries = new Dictionary<string, double>(StringComparer.Ordinal);
            entries[name] = value;
        }
        var perSample = new Dictionary<string, double?>(StringComparer.Ordinal);
        foreach (var sample in report.Samples) perSample[sample.Index] = double.IsNaN(sample.Score) ? null : sample.Score;
        return new CellScores(PrimaryMetric, metrics,
            groups.ToDictionary(g => g.Key, g => (IReadOnlyDictionary<string, double>)g.Value, StringComparer.Ordinal), perSample);
    }
}
