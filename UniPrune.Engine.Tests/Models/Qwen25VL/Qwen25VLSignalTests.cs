using UniPrune.Engine.Core;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.Qwen25VL;
using UniPrune.Engine.Pruning;
using UniPrune.Engine.Pruning.Abstractions;
using UniPrune.Engine.Tests.Models.Common;
using UniPrune.Engine.Tests.Pruning;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.Qwen25VL;

/// <summary>
/// What the model hands to pruning methods, measured inside its own forward: the attention probes and keys against the
/// reference signals, and every golden selection file driven end to end through the real model (vision tower, splice,
/// seams) instead of from the stored signals.
/// </summary>
public class Qwen25VLSignalTests(ITestOutputHelper log)
{
    [Theory]
    [InlineData(3, "outputs", "llm_layer2_attn_last_token_per_head", "llm_layer2_attn_last_token_mean")]
    [InlineData(2, "selection", "llm_layer1_attn_last_token_per_head", "llm_layer1_attn_last_token_mean")]
    public void AttentionProbeEqualsTheReferenceRow(int layerK, string source, string perHead, string mean)
    {
        using var golden = new Qwen25VLGolden();
        using var model = golden.LoadModel();
        using var image = golden.Encode(model, VisionExtras.None);
        var ids = golden.InputIds();
        using var probe = ReplayHooks.Probe(layerK, [ids.Length - 1]);
        using var run = model.RunPrompt(ids, [image], probe, 1, new HashSet<long>());

        using var selection = SafetensorsFile.Open(Path.Combine(golden.Folder, "selection", "selection_inputs.safetensors"));
        var file = source == "outputs" ? golden.Outputs : selection;
        using var rows = probe.CapturedAttention!.squeeze(1);
        using (var e = file.Read(perHead)) Qwen25VLGolden.AssertClose(e, rows, perHead, log);
        using (var e = file.Read(mean)) using (var m = rows.mean([0])) Qwen25VLGolden.AssertClose(e, m, mean, log);
        if (layerK == 2)
            using (var e = selection.Read("llm_layer1_key_states_post_rope")) Qwen25VLGolden.AssertClose(e, probe.CapturedKeys!, "llm_layer1_key_states_post_rope", log);
    }

    /// <summary>Forwards every call and remembers which visual tokens each decision kept.</summary>
    private sealed class RecordingHooks(IPruningHooks inner) : IPruningHooks
    {
        public long[]? Kept { get; private set; }
        public PreLlmDecision? OnVisualTokens(PreLlmContext context)
        {
            var d = inner.OnVisualTokens(context);
            if (d is not null) Kept = d.Kept;
            return d;
        }
        public LayerProbe? ProbeBeforeLayer(int layerK, int numLayers) => inner.ProbeBeforeLayer(layerK, numLayers);
        public LayerDecision? OnLayerInput(LayerContext context)
        {
            var d = inner.OnLayerInput(context);
            if (d is not null) Kept = d.KeptVisual;
            return d;
        }
        public KvCacheTrim? AfterPrefill(IReadOnlyList<int> cachedRowsPerLayer) => inner.AfterPrefill(cachedRowsPerLayer);
    }

    public static TheoryData<string> SelectionFiles()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.EnumerateFiles(Path.Combine(TestPaths.Golden("qwen2_5_vl"), "selection"), "*.json").Order(StringComparer.Ordinal))
            if (!Path.GetFileName(f).StartsWith('_')) data.Add(Path.GetFileNameWithoutExtension(f));
        return data;
    }

    [Theory]
    [MemberData(nameof(SelectionFiles))]
    public void MethodsRunOnTheModelKeepTheReferenceTokens(string file)
    {
        using var selection = new GoldenSelection(Path.Combine(TestPaths.Golden("qwen2_5_vl"), "selection", file + ".json"));
        var parameters = selection.Method switch
        {
            "dart" => new Dictionary<string, string> { ["pivot_image"] = selection.ParamInt("pivot_image_token").ToString(), ["pivot_text"] = selection.ParamInt("pivot_text_token").ToString() },
            "vispruner" => new Dictionary<string, string> { ["per_round_cap"] = selection.ParamInt("per_round_cap").ToString(), ["important_ratio"] = "0.5" },
            _ => new Dictionary<string, string>(),
        };
        var hooks = new RecordingHooks(PruningRegistry.CreateHooks(selection.Method, new PruningSettings(selection.Ratio) { Parameters = parameters }));

        using var golden = new Qwen25VLGolden();
        using var model = golden.LoadModel();
        // The importance substitute is computed only because the method's extras ask for it (here: all of them).
        using var image = golden.Encode(model, VisionExtras.All);
        using var run = model.RunPrompt(golden.InputIds(), [image], hooks, 1, new HashSet<long>());

        Assert.NotNull(hooks.Kept);
        Assert.Equal(selection.Longs("kept_indices"), hooks.Kept!.Order());
        Assert.Equal(selection.Longs("kept_indices").Length, run.VisualTokensKept);
    }
}

public class Qwen25VLPositionPolicyTests
{
    [Theory]
    [InlineData(PositionPolicy.Renumber)]
    [InlineData(PositionPolicy.KeepOriginal)]
    public void PreLlmDropGathersOriginalMropeIdsWhateverThePolicy(PositionPolicy policy)
    {
        // methods.md §1.4: Qwen keeps its 3-D ids (renumbering M-RoPE columns has no meaning) and decodes from L + rope_deltas.
        using var golden = new Qwen25VLGolden();
        using var model = golden.LoadModel();
        using var image = golden.Encode(model, VisionExtras.None);
        var ids = golden.InputIds();
        long[] keep = [0, 7, 8, 40];
        using var hooks = ReplayHooks.PreLlm(keep, policy);
        using var run = model.RunPrompt(ids, [image], hooks, 2, new HashSet<long>());

        var rows = Enumerable.Range(0, 15).Select(i => (long)i).Concat(keep.Select(k => 15 + k)).Concat(Enumerable.Range(63, 10).Select(i => (long)i)).ToArray();
        Assert.Equal(run.Positions.Gather(rows).SelectMany(r => r), run.LlmPositions.data<long>().ToArray());
        Assert.Equal(ids.Length + run.Positions.RopeDelta, run.DecodePositions[0]);
        Assert.Equal(33, run.DecodePositions[0]);   // 73 − 40, as the golden decode_position_ids say
    }
}

public class Qwen25VLAllMethodsTests(ITestOutputHelper log)
{
    public static TheoryData<string> Methods()
    {
        var data = new TheoryData<string>();
        foreach (var name in PruningRegistry.Names.Order(StringComparer.Ordinal)) data.Add(name);
        return data;
    }

    [Theory, MemberData(nameof(Methods))]
    public void EveryRegisteredMethodRunsEndToEndOnQwen(string method)
    {
        using var golden = new Qwen25VLGolden();
        using var model = golden.LoadModel();
        using var image = golden.Encode(model, VisionExtras.All);
        var hooks = PruningRegistry.CreateHooks(method, GoldenDepthSettings.OneThird(method));
        using var run = model.RunPrompt(golden.InputIds(), [image], hooks, 8, new HashSet<long>());
        log.WriteLine($"{method}: {run.VisualTokens} → {run.VisualTokensKept} visual tokens, {run.Greedy.Tokens.Length} tokens, method {run.MethodMs:F1} ms");
        Assert.Equal(8, run.Greedy.Tokens.Length);
        Assert.InRange(run.VisualTokensKept, 0, run.VisualTokens + 2);
        // Whatever was dropped, decoding continues after the unpruned maximum position (P-QWEN).
        Assert.Equal(33, run.DecodePositions[0]);
    }
}
