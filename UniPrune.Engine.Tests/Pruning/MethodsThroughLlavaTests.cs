using System.Text.Json;
using UniPrune.Engine.Core;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.Common;
using UniPrune.Engine.Models.Llava15;
using UniPrune.Engine.Pruning;
using UniPrune.Engine.Pruning.Abstractions;
using UniPrune.Engine.Tests.Models.Common;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Pruning;

/// <summary>
/// Every LLaVA selection reference replayed from pixels through the whole golden LLaVA model: the model's own evidence (CLIP CLS
/// attention and q/k, projector, layer-1 probe) reaches the real method, which must choose exactly the reference code's tokens
/// (PruMerge: and its merged, projected features); the pruned generation must then equal the model's replay of that keep set.
/// </summary>
public sealed class MethodsThroughLlavaTests(ITestOutputHelper log)
{
    private sealed class Recorder(IPruningHooks inner) : IPruningHooks
    {
        public PreLlmDecision? Pre;
        public List<LayerDecision> Layers { get; } = [];
        public PreLlmDecision? OnVisualTokens(PreLlmContext context)
        {
            Pre = inner.OnVisualTokens(context);
            Pre?.Embeddings?.MoveToOuterDisposeScope().MoveToOuterDisposeScope();
            return Pre;
        }
        public LayerProbe? ProbeBeforeLayer(int layerK, int numLayers) => inner.ProbeBeforeLayer(layerK, numLayers);
        public LayerDecision? OnLayerInput(LayerContext context) { var d = inner.OnLayerInput(context); if (d is not null) Layers.Add(d); return d; }
        public KvCacheTrim? AfterPrefill(IReadOnlyList<int> cachedRowsPerLayer) => inner.AfterPrefill(cachedRowsPerLayer);
    }

    public static TheoryData<string> Files()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(Path.Combine(TestPaths.Golden("llava"), "selection"), "*.json").Where(f => !Path.GetFileName(f).StartsWith('_')).Order())
            data.Add(Path.GetFileNameWithoutExtension(f));
        return data;
    }

    [Theory, MemberData(nameof(Files))]
    public void The_model_feeds_the_method_and_the_method_keeps_the_reference_tokens(string file)
    {
        using var scope = NewDisposeScope();
        string folder = TestPaths.Golden("llava");
        var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "selection", file + ".json"))).RootElement;
        string method = json.GetProperty("method").GetString()!;
        double retention = json.TryGetProperty("ratio", out var r) ? r.GetString() switch { "1/3" => 1.0 / 3, "2/9" => 2.0 / 9, _ => 1.0 / 9 } : 1.0 / 3;
        var parameters = new Dictionary<string, string>();
        string registryName = method switch
        {
            "dart" => "dart", "fastv" => "fastv", "divprune" => "divprune", "gprune" => "gprune", "vispruner" => "vispruner",
            "prumerge_adaptive" => "prumerge-adaptive", "prumerge_plus_adaptive" => "prumerge-plus-adaptive", "prumerge_fixed" => "prumerge",
            _ => throw new InvalidOperationException($"{file}: no driver for '{method}'"),
        };
        if (method == "dart") { parameters["pivot_image"] = "2"; parameters["pivot_text"] = "2"; }
        if (method == "vispruner") parameters["per_round_cap"] = json.GetProperty("params").GetProperty("per_round_cap").GetInt32().ToString();
        var settings = new PruningSettings(retention) { Units = UnitPolicy.Global, Parameters = parameters };

        using var model = Llava15Model.Load(folder, ModelLoadOptions.Cpu());
        using var inputs = SafetensorsFile.Open(Path.Combine(folder, "inputs.safetensors"));
        using var pixels = inputs.Read("pixel_values");
        var ids = inputs.Read("input_ids").reshape(-1).data<long>().ToArray();
        using var image = model.EncodePixels(pixels, VisionExtras.All);
        var pruning = PruningRegistry.CreateHooks(registryName, settings);
        var recorder = new Recorder(pruning);
        using var run = model.RunPrompt(ids, [image], recorder, 8, new HashSet<long>(), keepStepLogits: true);

        bool preLlm = pruning.Records.Single().Stage == PruningStage.PreLlm;
        long[] kept = preLlm ? recorder.Pre!.Kept : recorder.Layers.Single().KeptVisual;
        string orderField = json.TryGetProperty("kept_order_as_output", out _) ? "kept_order_as_output" : "kept_indices";
        Assert.Equal(json.GetProperty(orderField).EnumerateArray().Select(e => e.GetInt64()), kept);

        if (method.StartsWith("prumerge"))
        {
            using var merged = SafetensorsFile.Open(Path.Combine(folder, "selection", "prumerge_merged.safetensors"));
            var expected = merged.Read($"{file}/merged_features_projected");
            GoldenAssert.Close(expected, recorder.Pre!.Embeddings!, $"{file} merged projected features", log);
            Assert.Equal(expected.shape[0], run.VisualTokensKept);
            return; // merged embeddings have no replayable keep set
        }

        using var replay = preLlm ? ReplayHooks.PreLlm(kept, PositionPolicy.Renumber) : ReplayHooks.IntraLlm(2, kept);
        using var replayed = model.RunPrompt(ids, [image], replay, 8, new HashSet<long>(), keepStepLogits: true);
        Assert.Equal(replayed.Greedy.Tokens, run.Greedy.Tokens);
        Assert.True(stack(replayed.Greedy.StepLogits!.ToArray()).equal(stack(run.Greedy.StepLogits!.ToArray())).all().item<bool>(), $"{file}: logits differ from the replay");
        Assert.Equal(replayed.DecodePositions, run.DecodePositions);
        Assert.Equal(kept.Length, run.VisualTokensKept);
        log.WriteLine($"{file}: kept {kept.Length}/{run.VisualTokens}, method {run.MethodMs:F2} ms, tokens [{string.Join(", ", run.Greedy.Tokens)}]");
    }
}
