using System.Diagnostics;
using System.Text.Json.Nodes;
using UniPrune.Engine.Core;
using UniPrune.Engine.Models.Common;
using UniPrune.Engine.Models.Qwen25VL;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.Qwen25VL;

/// <summary>
/// Not a timed test: a measurement, run only with UNIPRUNE_BENCH=1. The real ViT widths (1280, 16 heads × 80, SwiGLU
/// 3420, merger 5120) cut to its first 8 blocks (block 7 is a full-attention block, as in the released model) on a
/// 448×448 image (1024 patches, 256 tokens), random weights, in bfloat16: tower time with and without the
/// attention-received importance.
/// </summary>
[Trait("Category", "Benchmark")]
public sealed class Qwen25VLVisionBenchmark(ITestOutputHelper log)
{
    private const int Blocks = 8, Runs = 3;

    [SkippableFact]
    public void Vision_tower_slice_at_448_bfloat16_with_and_without_importance()
    {
        Skip.IfNot(Environment.GetEnvironmentVariable("UNIPRUNE_BENCH") == "1", "benchmark: set UNIPRUNE_BENCH=1 to run it");
        var json = JsonNode.Parse(File.ReadAllText(Qwen25VLConfigTests.RealConfig("7b")))!.AsObject();
        json["vision_config"]!["depth"] = Blocks;
        json["vision_config"]!["fullatt_block_indexes"] = new JsonArray(7);
        var config = Qwen25VLConfig.FromJson(JsonConfig.Parse(json.ToJsonString(), "qwen2_5_vl_7b_vit_slice.json"));
        using var tower = new Qwen25VisionTower(config.Vision, new ParameterFactory(ScalarType.BFloat16, CPU));
        manual_seed(1);
        using (no_grad())
            foreach (var p in tower.parameters())
                p.copy_(p.dim() == 1 ? ones_like(p) : randn_like(p) * (1.0 / Math.Sqrt(p.numel() / p.shape[0])));
        var grid = new GridThw(1, 32, 32);
        using var pixels = randn(grid.Patches, config.Vision.PatchVectorLength).to_type(ScalarType.BFloat16);
        log.WriteLine($"ViT slice: {Blocks} blocks, {grid.Patches} patches → {grid.MergedTokens(2)} tokens, torch threads {get_num_threads()}");
        using var _ = inference_mode();
        foreach (bool importance in new[] { false, true })
        {
            var times = new List<double>();
            for (int run = 0; run <= Runs; run++)   // run 0 warms up
            {
                var clock = Stopwatch.StartNew();
                using var output = tower.Forward(pixels, [grid], importance);
                if (run > 0) times.Add(clock.Elapsed.TotalMilliseconds);
            }
            log.WriteLine($"importance {(importance ? "on " : "off")}: min {times.Min():F0} ms, median {times.Order().ElementAt(times.Count / 2):F0} ms " +
                          $"(×{32.0 / Blocks:F0} for the whole 32-block tower ≈ {times.Min() * 32 / Blocks / 1000:F1} s)");
        }
    }
}
