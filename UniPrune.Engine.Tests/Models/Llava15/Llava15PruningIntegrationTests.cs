using UniPrune.Engine.Tests.Pruning;
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

namespace UniPrune.Engine.Tests.Models.Llava15;

/// <summary>
/// The real pruning methods driven by the LLaVA model (not by stored tensors): the model must hand each method the evidence
/// it reads, so the method's choice equals the golden selection/ reference, and every method must run end to end.
/// </summary>
public sealed class Llava15PruningIntegrationTests(ITestOutputHelper log)
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

    private static string Golden => TestPaths.Golden("llava");

    private static (Llava15Model, EncodedImage, long[]) Open()
    {
        var model = Llava15Model.Load(Golden, ModelLoadOptions.Cpu());
        using var inputs = SafetensorsFile.Open(Path.Combine(Golden, "inputs.safetensors"));
        var image = model.EncodePixels(inputs.Read("pixel_values"), VisionExtras.All);
        return (model, image, inputs.Read("input_ids").reshape(-1).data<long>().ToArray());
    }

    public static TheoryData<string> SelectionReferences() => new() { "fastv", "divprune", "gprune", "dart" };

    [Theory, MemberData(nameof(SelectionReferences))]
    public void The_method_run_inside_the_model_keeps_the_reference_selection(string method)
    {
        var (model, image, ids) = Open();
        using var _ = model; using var __ = image;
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(Golden, "selection", $"{method}_r1over3.json")));
        var expected = json.RootElement.GetProperty("kept_indices").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        // The reference ran DART with 2 image + 2 text pivots (N is tiny); the other methods use their defaults.
        var parameters = method == "dart" ? new Dictionary<string, string> { ["pivot_image"] = "2", ["pivot_text"] = "2" } : new Dictionary<string, string>();
        var hooks = new Recording(PruningRegistry.CreateHooks(method, new PruningSettings(1.0 / 3) { Parameters = parameters }));
        using var run = model.RunPrompt(ids, [image], hooks, 8, new HashSet<long>());
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
    public void Every_registered_method_runs_end_to_end_on_llava(string method)
    {
        var (model, image, ids) = Open();
        using var _ = model; using var __ = image;
        var hooks = PruningRegistry.CreateHooks(method, GoldenDepthSettings.OneThird(method));
        using var run = model.RunPrompt(ids, [image], hooks, 8, new HashSet<long>());
        log.WriteLine($"{method}: {run.VisualTokens} → {run.VisualTokensKept} visual tokens, {run.Greedy.Tokens.Length} tokens, method {run.MethodMs:F1} ms");
        Assert.Equal(8, run.Greedy.Tokens.Length);
        Assert.InRange(run.VisualTokensKept, 0, run.VisualTokens + 2);
    }

    [Theory, InlineData("sparsevlm"), InlineData("mustdrop")]
    public void A_native_schedule_deeper_than_the_decoder_is_refused_not_silently_skipped(string method)
    {
        var (model, image, ids) = Open();
        using var _ = model; using var __ = image;
        var hooks = PruningRegistry.CreateHooks(method, new PruningSettings(1.0 / 3));
        var error = Assert.Throws<InvalidOperationException>(() => model.RunPrompt(ids, [image], hooks, 1, new HashSet<long>()).Dispose());
        Assert.Contains("this model has 4", error.Message);
    }
}
