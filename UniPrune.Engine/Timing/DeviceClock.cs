using System.Diagnostics;
using static TorchSharp.torch;

namespace UniPrune.Engine.Timing;

/// <summary>
/// Wall-clock timing that means what it says on a GPU: CUDA work is asynchronous, so the device is synchronised before each
/// reading. On the CPU the synchronisation is a no-op.
/// </summary>
public static class DeviceClock
{
    private static readonly Lazy<bool> CudaPresent = new(() => { try { return cuda.is_available(); } catch (Exception) { return false; } });

    public static bool HasCuda => CudaPresent.Value;

    public static void Synchronize()
    {
        if (HasCuda) cuda.synchronize();
    }

    /// <summary>Runs <paramref name="work"/> between two synchronisations and returns its result and the elapsed milliseconds.</summary>
    public static (T Result, double Milliseconds) Measure<T>(Func<T> work)
    {
        Synchronize();
        long start = Stopwatch.GetTimestamp();
        var result = work();
        Synchronize();
        return (result, Stopwatch.GetElapsedTime(start).TotalMilliseconds);
    }

    /// <summary>
    /// The class timing budgets are kept per: UNIPRUNE_DEVICE_CLASS when set (GPU runners name their card, e.g. "h100"),
    /// else "cuda" with a GPU and "cpu" without.
    /// </summary>
    public static string DeviceClass
    {
        get
        {
            var configured = Environment.GetEnvironmentVariable("UNIPRUNE_DEVICE_CLASS");
            if (!string.IsNullOrWhiteSpace(configured)) return configured.Trim().ToLowerInvariant();
            return HasCuda ? "cuda" : "cpu";
        }
    }
}
