using System.Diagnostics;
using static TorchSharp.torch;

namespace UniPrune.Engine.Generation;

/// <summary>What one greedy run produced. Times are wall-clock, device-synchronised on CUDA.</summary>
/// <param name="Tokens">Generated ids, including a stop token when one ended the run.</param>
/// <param name="StepLogits">When kept: the float32 logits (V) that chose each token (step 0 = prefill's last row).</param>
public sealed record GreedyRun(long[] Tokens, double PrefillMs, double DecodeMs, bool StoppedAtStopToken, IReadOnlyList<Tensor>? StepLogits) : IDisposable
{
    public void Dispose()
    {
        if (StepLogits is not null) foreach (var t in StepLogits) t.Dispose();
    }
}

/// <summary>
/// Greedy decoding kept apart from any model: the caller supplies the prefill (prompt → last-row logits) and one
/// decode step (token → logits) over its own KV cache. The benchmark never samples.
/// </summary>
public static class GreedyDecoder
{
    /// <param name="prefill">Runs the prompt; returns the last row's logits (V).</param>
    /// <param name="step">Feeds one token; returns the logits (V) for the next.</param>
    public static GreedyRun Run(Func<Tensor> prefill, Func<long, Tensor> step, Device device, int maxNewTokens,
        IReadOnlySet<long> stopTokenIds, bool keepStepLogits = false)
    {
        if (maxNewTokens < 1) throw new ArgumentOutOfRangeException(nameof(maxNewTokens), maxNewTokens, "at least one new token is needed");
        using var _ = inference_mode();
        var tokens = new List<long>();
        var kept = keepStepLogits ? new List<Tensor>() : null;

        var clock = Stopwatch.StartNew();
        var logits = prefill();
        long token = Choose(logits, kept);
        Synchronize(device);
        double prefillMs = clock.Elapsed.TotalMilliseconds;

        clock.Restart();
        bool stopped = false;
        while (true)
        {
            tokens.Add(token);
            if (stopTokenIds.Contains(token)) { stopped = true; break; }
            if (tokens.Count == maxNewTokens) break;
            logits = step(token);
            token = Choose(logits, kept);
        }
        Synchronize(device);
        return new GreedyRun(tokens.ToArray(), prefillMs, clock.Elapsed.TotalMilliseconds, stopped, kept);
    }

    private static long Choose(Tensor logits, List<Tensor>? kept)
    {
        long token = logits.argmax().item<long>();
        if (kept is null) { logits.Dispose(); return token; }
        var onCpu = logits.to(CPU);
        if (!ReferenceEquals(onCpu, logits)) logits.Dispose();
        kept.Add(onCpu.DetachFromDisposeScope());
        return token;
    }

    /// <summary>Waits for queued device work so a stopwatch measures it (a no-op on CPU).</summary>
    public static void Synchronize(Device device)
    {
        if (device.type == TorchSharp.DeviceType.CUDA) cuda.synchronize(device);
    }
}
