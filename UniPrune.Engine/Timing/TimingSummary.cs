namespace UniPrune.Engine.Timing;

/// <summary>Per-sample stage times in milliseconds. <see cref="TotalMs"/> is measured around the whole request by the runner.</summary>
public sealed record SampleTimings(double TotalMs, double VisionMs, double PrefillMs, double DecodeMs, double MethodMs);

/// <summary>Medians over the measured (non-warm-up) samples of one cell, with the median absolute deviation of the total.</summary>
public sealed record TimingSummary(int Measured, int WarmupExcluded, double TotalMs, double VisionMs, double PrefillMs, double DecodeMs, double MethodMs, double TotalMadMs)
{
    /// <summary>Method time as a share of the whole request (the budget "method time / total").</summary>
    public double MethodShare => TotalMs > 0 ? MethodMs / TotalMs : 0;

    /// <summary>Warm-up samples (first requests: allocator, kernels, caches) are left out; when every sample was a warm-up
    /// (a very small cell), all are used rather than none, and <see cref="WarmupExcluded"/> is 0.</summary>
    public static TimingSummary From(IReadOnlyList<(SampleTimings Timings, bool Warmup)> samples)
    {
        var measured = samples.Where(s => !s.Warmup).Select(s => s.Timings).ToList();
        int excluded = samples.Count - measured.Count;
        if (measured.Count == 0) { measured = samples.Select(s => s.Timings).ToList(); excluded = 0; }
        if (measured.Count == 0) return new TimingSummary(0, 0, 0, 0, 0, 0, 0, 0);
        double total = Median(measured.Select(t => t.TotalMs));
        return new TimingSummary(measured.Count, excluded, total,
            Median(measured.Select(t => t.VisionMs)), Median(measured.Select(t => t.PrefillMs)),
            Median(measured.Select(t => t.DecodeMs)), Median(measured.Select(t => t.MethodMs)),
            Median(measured.Select(t => Math.Abs(t.TotalMs - total))));
    }

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        if (sorted.Length == 0) throw new ArgumentException("the median of no values is not defined");
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}
