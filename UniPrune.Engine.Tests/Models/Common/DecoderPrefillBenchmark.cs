using System.Diagnostics;
using UniPrune.Engine.Models.Common;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.Common;

/// <summary>
/// Not a timed test: a measurement, run only with UNIPRUNE_BENCH=1. Prefill of a real-width LLaVA-7B decoder slice
/// (d 4096, 32 heads × 128, MLP 11008, a few layers, 640 tokens, random weights) in float32 and bfloat16 on this CPU.
/// </summary>
[Trait("Category", "Benchmark")]
public sealed class DecoderPrefillBenchmark(ITestOutputHelper log)
{
    private const int Layers = 2, Tokens = 640, Runs = 3;

    [SkippableFact]
    public void Prefill_of_a_llava_7b_width_slice_float32_vs_bfloat16()
    {
        Skip.IfNot(Environment.GetEnvironmentVariable("UNIPRUNE_BENCH") == "1", "benchmark: set UNIPRUNE_BENCH=1 to run it");
        var config = new DecoderConfig(4096, 11008, Layers, 32, 32, 128, 32000, 1e-5, 10000, AttentionBias: false, TieWordEmbeddings: false);
        // Per layer: q,k,v,o (4·d²) + gate/up/down (3·d·m) multiply-adds per token, plus causal attention 2·d·n·(n+1)/2·2.
        double flopsPerLayer = 2.0 * Tokens * (4.0 * 4096 * 4096 + 3.0 * 4096 * 11008) + 2.0 * 4096 * Tokens * (Tokens + 1);
        double gflop = (Layers * flopsPerLayer + 2.0 * 4096 * 32000) / 1e9;
        log.WriteLine($"slice: {Layers} layers, {Tokens} tokens, {gflop:F0} GFLOP per prefill, torch threads {get_num_threads()}");
        var results = new Dictionary<ScalarType, double>();
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        {
            using var model = new CausalLanguageModel(config, new ParameterFactory(dtype, CPU));
            manual_seed(1);
            using (no_grad())
                foreach (var p in model.parameters())
                    p.copy_(p.dim() == 1 ? ones_like(p) : randn_like(p) * 0.02);
            using var embeds = randn(Tokens, 4096).to_type(dtype);
            using var positions = arange(Tokens, dtype: ScalarType.Int64).unsqueeze(0);
            var times = new List<double>();
            using var inference = inference_mode();
            for (int run = 0; run <= Runs; run++)   // run 0 warms up (first touch of fresh memory is slow on this VM)
            {
                using var session = new DecoderSession(model);
                var clock = Stopwatch.StartNew();
                using var logits = session.Prefill(embeds, positions).Logits!;
                _ = logits.sum().item<float>();
                if (run > 0) times.Add(clock.Elapsed.TotalMilliseconds);
            }
            times.Sort();
            results[dtype] = times[0];
            log.WriteLine($"{dtype}: min {times[0]:F0} ms, median {times[times.Count / 2]:F0} ms ({gflop / (times[0] / 1000):F0} GFLOP/s at min)");
        }
        log.WriteLine($"bf16 speed-up (min): {results[ScalarType.Float32] / results[ScalarType.BFloat16]:F2}x");
    }
}
