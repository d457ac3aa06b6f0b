using UniPrune.Engine.Tests.Pruning;
using System.Text.Json;
using UniPrune.Engine.Core;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.InternVL3;
using UniPrune.Engine.Pruning;
using UniPrune.Engine.Pruning.Abstractions;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.InternVL3;

/// <summary>
/// The real pruning methods driven by the InternVL3 model: it must hand each method the evidence it reads (CLS attention
/// per pixel-shuffle group, mlp1 embeddings, per-tile units, layer-1 attention and keys), so that the method's choice
/// equals the golden selection/ reference; and every registered method must run end to end.
/// </summary>
public sealed class InternVL3PruningIntegrationTests(ITestOutputHelper log)
{
    /// <summary>Delegates to real hooks and records the decisions they return.</summary>
    private sealed class Recording(IPruningHooks inner) : IPruningHooks
    {
        public List<long[]> Decisions { get; } = [];
        public PreLlmDecision? OnVisualTokens(PreLlmContext context)
        {
            var d = inner.OnVisualTokens(context);
            if (d is not null) Decisions.Add(d.Kept);
            return d;
        }
        public LayerProbe? ProbeBeforeLayer(int layerK, int numLayers) => inner.ProbeBeforeLayer(layerK, numLayers);
        public LayerDecision? OnLayerInput(LayerContext context)
        {
            var d = inner.OnLayerInput(context);
            if (d is not null) Decisions.Add(d.KeptVisual);
            return d;
        }
        public KvCacheTrim? AfterPrefill(IReadOnlyList<int> cachedRowsPerLayer) => inner.AfterPrefill(cachedRowsPerLayer);
    }

    private static (InternVL3Model, EncodedImage, long[]) Open(string folder)
    {
        string dir = TestPaths.Golden(folder);
        var model = InternVL3Model.Load(dir, ScalarType.Float32, CPU);
        using var inputs = SafetensorsFile.Open(Path.Combine(dir, "inputs.safetensors"));
        var image = model.EncodePixels(inputs.Read("pixel_values"), new InternVLImageTiles(2, HasThumbnail: true), VisionExtras.All);
        return (model, image, inputs.Read("input_ids").reshape(-1).data<long>().ToArray());
    }

    public static TheoryData<string, string, string> SelectionReferences()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var folder in new[] { "internvl3", "internvl3_vit6b_style" })
            foreach (var ratio in new[] { "r1over3", "r2over9", "r1over9" })
            {
                foreach (var method in new[] { "fastv", "dart" }) data.Add(folder, method, $"{method}_{ratio}");
                foreach (var method in new[] { "divprune", "gprune", "vispruner" })
                {
                    data.Add(folder, method, $"{method}_{ratio}");          // thumbnail alone, local tiles jointly (methods.md §1.5)
                    data.Add(folder, method, $"{method}_global_{ratio}");   // all 48 tokens as one unit
                }
            }
        return data;
    }

    [Theory, MemberData(nameof(SelectionReferences))]
    public void The_method_run_inside_the_model_keeps_the_reference_selection(string folder, string method, string reference)
    {
        var (model, image, ids) = Open(folder);
        using var _ = model; using var __ = image;
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.Golden(folder), "selection", reference + ".json")));
        var expected = json.RootElement.GetProperty("kept_indices").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        double ratio = reference.EndsWith("r1over3") ? 1.0 / 3 : reference.EndsWith("r2over9") ? 2.0 / 9 : 1.0 / 9;
        // The references' adaptations for N = 48 (recorded in each JSON): DART with 2 + 2 pivots, VisPruner with a per-round cap of 2.
        var parameters = method switch
        {
            "dart" => new Dictionary<string, string> { ["pivot_image"] = "2", ["pivot_text"] = "2" },
            "vispruner" => new Dictionary<string, string> { ["per_round_cap"] = "2" },
            _ => new Dictionary<string, string>(),
        };
        var settings = new PruningSettings(ratio)
        {
            Parameters = parameters,
            Units = reference.Contains("_global_") ? UnitPolicy.Global : UnitPolicy.PerUnit,
        };
        var hooks = new Recording(PruningRegistry.CreateHooks(method, settings));
        using var run = model.RunPrompt(ids, [image], hooks, 2, new HashSet<long>());
        Assert.Single(hooks.Decisions);
        Assert.Equal(expected, hooks.Decisions[0].Order());
        Assert.Equal(expected.Length, run.VisualTokensKept);
    }

    public static TheoryData<string> Methods()
    {
        var data = new TheoryData<string>();
        foreach (var name in PruningRegistry.Names.Order()) data.Add(name);
        return data;
    }

    [Theory, MemberData(nameof(Methods))]
    public void Every_registered_method_runs_end_to_end_on_internvl3(string method)
    {
        var (model, image, ids) = Open("internvl3");
        using var _ = model; using var __ = image;
        var hooks = PruningRegistry.CreateHooks(method, GoldenDepthSettings.OneThird(method));
        using var run = model.RunPrompt(ids, [image], hooks, 8, new HashSet<long>());
        log.WriteLine($"{method}: {run.VisualTokens} → {run.VisualTokensKept} visual tokens, {run.Greedy.Tokens.Length} tokens, method {run.MethodMs:F1} ms");
        Assert.Equal(8, run.Greedy.Tokens.Length);
        Assert.InRange(run.VisualTokensKept, 0, run.VisualTokens + 2);
    }
}
