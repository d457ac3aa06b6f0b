using System.Diagnostics;
using UniPrune.Engine.Models.Common;
using UniPrune.Engine.Pruning;
using UniPrune.Engine.Pruning.Abstractions;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Pruning;

/// <summary>
/// Method time (scoring + selection, as the hooks time it) for every method at real sizes, against a prefill estimate on the same
/// device: one real decoder layer (random weights, same width/heads/MLP) timed on the full prompt, times the layer count. Not a unit
/// test: it runs only with UNIPRUNE_BENCH=1 and reports; the target is method time ≤ 1 % of prefill.
/// </summary>
[Trait("Category", "Benchmark")]
public sealed class PruningBenchmark(ITestOutputHelper log)
{
    private sealed record Shape(string Name, int Rows, int Cols, int Hidden, int Heads, int KvHeads, int Intermediate, int Layers, int VisionWidth);

    private static readonly Shape[] Shapes =
    [
        new("LLaVA-1.5-7B (N=576)", 24, 24, 4096, 32, 32, 11008, 32, 1024),
        new("Qwen2.5-VL-7B (N=1280)", 32, 40, 3584, 28, 4, 18944, 28, 5120),
    ];

    [SkippableFact]
    public void Method_time_against_prefill()
    {
        Skip.IfNot(Environment.GetEnvironmentVariable("UNIPRUNE_BENCH") == "1", "benchmark only: set UNIPRUNE_BENCH=1 to time every method at N = 576 and 1280");
        log.WriteLine($"threads: {get_num_threads()}; retention 2/9; median of 3 runs after a warm-up");
        foreach (var shape in Shapes)
        {
            var grid = SyntheticPrompt.Grid(shape.Rows, shape.Cols, shape.Layers);
            var prompt = new SyntheticPrompt(grid.N, grid.Layers, grid.Units)
            {
                Hidden = shape.Hidden, Heads = shape.Heads, KeyWidth = shape.KvHeads * (shape.Hidden / shape.Heads), VisionWidth = shape.VisionWidth,
            };
            double prefillMs = PrefillEstimateMs(shape, prompt.PromptLength);
            log.WriteLine($"\n{shape.Name}: prompt {prompt.PromptLength} tokens, prefill estimate {prefillMs:F0} ms ({shape.Layers} × one measured layer)");
            log.WriteLine($"{"method",-24}{"method ms",12}{"% prefill",12}");
            foreach (var name in PruningRegistry.Names.Order())
            {
                var times = new List<double>();
                for (int run = 0; run < 4; run++)
                {
                    var hooks = PruningRegistry.CreateHooks(name, new PruningSettings(2.0 / 9));
                    prompt.Run(hooks);
                    if (run > 0) times.Add(hooks.MethodTime.TotalMilliseconds);
                }
                double median = times.Order().ElementAt(times.Count / 2);
                log.WriteLine($"{name,-24}{median,12:F2}{100 * median / prefillMs,11:F3}%");
            }
        }
    }

    private static double PrefillEstimateMs(Shape s, int tokens)
    {
        using var scope = NewDisposeScope();
        var config = new DecoderConfig(s.Hidden, s.Intermediate, s.Layers, s.Heads, s.KvHeads, s.Hidden / s.Heads, 32000, 1e-6, 1e6, AttentionBias: false, TieWordEmbeddings: false);
        using var layer = new DecoderLayer(config, ParameterFactory.Cpu());
        using (no_grad())
            foreach (var p in layer.parameters()) p.normal_(0, 0.02);
        var hidden = randn(1, tokens, s.Hidden);
        var (cos, sin) = new RotaryEmbedding(s.Hidden / s.Heads, 1e6).CosSin(arange(tokens, dtype: ScalarType.Int64).unsqueeze(0), ScalarType.Float32);
        layer.forward(new DecoderLayerInput(hidden, cos, sin, null, 0)); // warm-up
        var clock = Stopwatch.StartNew();
        layer.forward(new DecoderLayerInput(hidden, cos, sin, null, 0));
        return clock.Elapsed.TotalMilliseconds * s.Layers;
    }
}
