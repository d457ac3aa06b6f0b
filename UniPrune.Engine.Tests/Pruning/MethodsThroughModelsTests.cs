using System.Collections.Concurrent;
using System.Text.Json;
using UniPrune.Engine.Core;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.Common;
using UniPrune.Engine.Models.InternVL3;
using UniPrune.Engine.Models.Llava15;
using UniPrune.Engine.Models.Qwen25VL;
using UniPrune.Engine.Pruning;
using UniPrune.Engine.Pruning.Abstractions;
using UniPrune.Engine.Tests.Models;
using UniPrune.Engine.Tests.Models.Common;
using UniPrune.Engine.Tests.Models.Qwen25VL;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Pruning;

/// <summary>
/// Every selection reference replayed from pixels through the whole golden model of its family (LLaVA-1.5, Qwen2.5-VL, InternVL3 and
/// its 6B-style variant): the model's own evidence (CLS attention or attention received, CLIP q/k, projector, the layer-1 probe) reaches
/// the real method, which must choose exactly the reference code's tokens (PruMerge: and its merged, projected features); the pruned
/// generation must then equal the model's replay of that keep set (logits bitwise, tokens, decode positions).
/// </summary>
public sealed class MethodsThroughModelsTests(ITestOutputHelper log)
{
    private sealed class Recorder(IPruningHooks inner) : IPruningHooks
    {
        public PreLlmDecision? Pre;
        public List<LayerDecision> Layers { get; } = [];
        public PreLlmDecision? OnVisualTokens(PreLlmContext context)
        {
            Pre = inner.OnVisualTokens(context);
            Pre?.Embeddings?.DetachFromDisposeScope();
            return Pre;
        }
        public LayerProbe? ProbeBeforeLayer(int layerK, int numLayers) => inner.ProbeBeforeLayer(layerK, numLayers);
        public LayerDecision? OnLayerInput(LayerContext context) { var d = inner.OnLayerInput(context); if (d is not null) Layers.Add(d); return d; }
        public KvCacheTrim? AfterPrefill(IReadOnlyList<int> cachedRowsPerLayer) => inner.AfterPrefill(cachedRowsPerLayer);
    }

    private sealed record Generation(long[] Tokens, Tensor StepLogits, int VisualKept);

    /// <summary>One loaded golden model that can run its prompt with hooks (models are cached per folder across cases).</summary>
    private sealed class FamilyRunner
    {
        public required Func<IPruningHooks, Generation> Run { get; init; }
    }

    private static readonly ConcurrentDictionary<string, Lazy<FamilyRunner>> Runners = new();

    // Loaded on a thread of its own: dispose scopes are per thread, so the cached model and images stay out of the calling test's
    // scope (a Task could be inlined on the waiting thread).
    private static FamilyRunner RunnerFor(string family) => Runners.GetOrAdd(family, f => new Lazy<FamilyRunner>(() =>
    {
        FamilyRunner? runner = null;
        Exception? error = null;
        var thread = new Thread(() => { try { runner = Load(f); } catch (Exception e) { error = e; } });
        thread.Start();
        thread.Join();
        return runner ?? throw new InvalidOperationException($"loading the golden {f} model failed", error);
    })).Value;

    private static FamilyRunner Load(string family)
    {
        string folder = TestPaths.Golden(family);
        var inputs = SafetensorsFile.Open(Path.Combine(folder, "inputs.safetensors"));
        var ids = inputs.Read("input_ids").reshape(-1).data<long>().ToArray();
        var pixels = inputs.Read("pixel_values").DetachFromDisposeScope();
        switch (family)
        {
            case "llava":
            {
                var model = Llava15Model.Load(folder, ModelLoadOptions.Cpu());
                var image = model.EncodePixels(pixels, VisionExtras.All);
                return new FamilyRunner { Run = hooks =>
                {
                    using var run = model.RunPrompt(ids, [image], hooks, 8, new HashSet<long>(), keepStepLogits: true);
                    return new Generation(run.Greedy.Tokens.ToArray(), stack(run.Greedy.StepLogits!.ToArray()).DetachFromDisposeScope(), run.VisualTokensKept);
                } };
            }
            case "qwen2_5_vl":
            {
                var model = Qwen25VLModel.Load(folder, ModelLoadOptions.Cpu());
                var images = Qwen25VLGoldenFamily.Encode(model, new GoldenSet(family, folder), VisionExtras.All);
                return new FamilyRunner { Run = hooks =>
                {
                    using var run = model.RunPrompt(ids, images, hooks, 8, new HashSet<long>(), keepStepLogits: true);
                    return new Generation(run.Greedy.Tokens.ToArray(), stack(run.Greedy.StepLogits!.ToArray()).DetachFromDisposeScope(), run.VisualTokensKept);
                } };
            }
            default:
            {
                var model = InternVL3Model.Load(folder, ModelLoadOptions.Cpu());
                var image = model.EncodePixels(pixels, new InternVLImageTiles(2, HasThumbnail: true), VisionExtras.All);
                return new FamilyRunner { Run = hooks =>
                {
                    using var run = model.RunPrompt(ids, [image], hooks, 8, new HashSet<long>(), keepStepLogits: true);
                    return new Generation(run.Greedy.Tokens.ToArray(), stack(run.Greedy.StepLogits!.ToArray()).DetachFromDisposeScope(), run.VisualTokensKept);
                } };
            }
        }
    }

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var family in new[] { "llava", "qwen2_5_vl", "internvl3", "internvl3_vit6b_style" })
            foreach (var f in Directory.GetFiles(Path.Combine(TestPaths.Golden(family), "selection"), "*.json").Where(f => !Path.GetFileName(f).StartsWith('_')).Order())
                data.Add(family, Path.GetFileNameWithoutExtension(f));
        return data;
    }

    [Theory, MemberData(nameof(Cases))]
    public void The_model_feeds_the_method_and_the_method_keeps_the_reference_tokens(string family, string file)
    {
        using var scope = NewDisposeScope();
        string folder = TestPaths.Golden(family);
        var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "selection", file + ".json"))).RootElement;
        string method = json.GetProperty("method").GetString()!.Replace("_global", "");
        double retention = json.TryGetProperty("ratio", out var r) ? r.GetString() switch { "1/3" => 1.0 / 3, "2/9" => 2.0 / 9, _ => 1.0 / 9 } : 1.0 / 3;
        var parameters = new Dictionary<string, string>();
        string registryName = method switch
        {
            "prumerge_adaptive" => "prumerge-adaptive", "prumerge_plus_adaptive" => "prumerge-plus-adaptive", "prumerge_fixed" => "prumerge",
            _ => method,
        };
        if (method == "dart") { parameters["pivot_image"] = "2"; parameters["pivot_text"] = "2"; }
        if (method == "vispruner") parameters["per_round_cap"] = json.GetProperty("params").GetProperty("per_round_cap").GetInt32().ToString();
        var units = json.TryGetProperty("unit_policy", out var u) && u.GetString() == "per_unit" ? UnitPolicy.PerUnit : UnitPolicy.Global;
        var pruning = PruningRegistry.CreateHooks(registryName, new PruningSettings(retention) { Units = units, Parameters = parameters });
        var recorder = new Recorder(pruning);
        var runner = RunnerFor(family);
        var run = runner.Run(recorder);

        bool preLlm = pruning.Records.Single().Stage == PruningStage.PreLlm;
        long[] kept = preLlm ? recorder.Pre!.Kept : recorder.Layers.Single().KeptVisual;
        string orderField = json.TryGetProperty("kept_order_as_output", out _) ? "kept_order_as_output" : "kept_indices";
        Assert.Equal(json.GetProperty(orderField).EnumerateArray().Select(e => e.GetInt64()), kept);

        if (method.StartsWith("prumerge"))
        {
            using var merged = SafetensorsFile.Open(Path.Combine(folder, "selection", "prumerge_merged.safetensors"));
            var expected = merged.Read($"{file}/merged_features_projected");
            GoldenAssert.Close(expected, recorder.Pre!.Embeddings!, $"{file} merged projected features", log);
            Assert.Equal(expected.shape[0], run.VisualKept);
            return; // merged embeddings have no replayable keep set
        }

        using var replay = preLlm ? ReplayHooks.PreLlm(kept, recorder.Pre!.Positions) : ReplayHooks.IntraLlm(2, kept);
        var replayed = runner.Run(replay);
        Assert.Equal(replayed.Tokens, run.Tokens);
        Assert.True(replayed.StepLogits.equal(run.StepLogits).all().item<bool>(), $"{family}/{file}: logits differ from the replay of the same keep set");
        Assert.Equal(kept.Length, run.VisualKept);
        log.WriteLine($"{family}/{file}: kept {kept.Length}, method time {pruning.MethodTime.TotalMilliseconds:F2} ms, tokens [{string.Join(", ", run.Tokens)}]");
    }
}
