using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Pruning;
using UniPrune.Engine.Pruning.Abstractions;
using UniPrune.Engine.Pruning.Common;
using UniPrune.Engine.Pruning.Methods;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Pruning;

/// <summary>
/// Selection parity: each golden selection file (produced by the method's reference code) is replayed through our method, driven
/// through the registry and the hooks exactly as a model would call them, and must keep exactly the stored indices (and orders,
/// traces, merged features where the file has them).
/// </summary>
public class SelectionParityTests
{
    public static TheoryData<string> Files()
    {
        var data = new TheoryData<string>();
        foreach (var f in GoldenSelection.AllFiles()) data.Add(ShortName(f));
        return data;
    }

    // "family/file" keeps the test names readable (xunit cuts long arguments); external folders keep their full path.
    private static string ShortName(string file) => file.StartsWith(Path.Combine(TestPaths.Fixtures, "golden"))
        ? $"{Path.GetFileName(Path.GetDirectoryName(Path.GetDirectoryName(file)))}/{Path.GetFileNameWithoutExtension(file)}" : file;

    private static string Resolve(string name) => GoldenSelection.AllFiles().Single(f => ShortName(f) == name);

    [Fact]
    public void TheRepoFixturesHoldEverySelectionFile() => Assert.True(GoldenSelection.AllFiles().Count() >= 20 + 15 + 24 + 24);

    [Theory]
    [MemberData(nameof(Files))]
    public void KeepsExactlyTheReferenceIndices(string file)
    {
        using var scope = NewDisposeScope();
        using var golden = new GoldenSelection(Resolve(file));
        string method = golden.Method.Replace("_global", ""); // the unit policy comes from the file's unit_policy field
        switch (method)
        {
            case "fastv": FastV(golden); break;
            case "dart": Dart(golden); break;
            case "divprune": PreLlm(golden, "divprune", new Dictionary<string, string>()); DivPruneOrder(golden); break;
            case "gprune": PreLlm(golden, "gprune", new Dictionary<string, string>()); GPruneScores(golden); break;
            case "vispruner": PreLlm(golden, "vispruner", new Dictionary<string, string> { ["per_round_cap"] = golden.ParamInt("per_round_cap").ToString(), ["important_ratio"] = "0.5" }); break;
            case "prumerge_adaptive": PruMergeCase(golden, "prumerge-adaptive", 1.0 / 3); break;
            case "prumerge_plus_adaptive": PruMergeCase(golden, "prumerge-plus-adaptive", 1.0 / 3); break;
            case "prumerge_fixed": PruMergeCase(golden, "prumerge", golden.Ratio); break;
            default: throw new InvalidOperationException($"{file}: no parity driver for method '{method}'");
        }
    }

    private static void FastV(GoldenSelection g)
    {
        var hooks = PruningRegistry.CreateHooks("fastv", new PruningSettings(g.Ratio));
        Assert.Null(hooks.OnVisualTokens(g.PreLlmContext()));
        Assert.Null(hooks.ProbeBeforeLayer(1, 4));
        var probe = hooks.ProbeBeforeLayer(2, 4);
        Assert.NotNull(probe);
        Assert.Equal([(long)g.PromptLength - 1], probe.AttentionQueryRows);
        var decision = hooks.OnLayerInput(g.LayerTwoContext(probe))!;
        Assert.Equal(g.Longs("kept_indices"), decision.KeptVisual);
        Assert.Equal(PositionPolicy.KeepOriginal, decision.Positions);
        // The score itself is the head mean of the stored per-head row.
        var scores = Selection.ToFloats(Engine.Pruning.Methods.FastV.Scores(g.SelectionInput("llm_layer1_attn_last_token_per_head"), g.Layout()));
        var stored = g.Json.GetProperty("scores").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        for (int i = 0; i < stored.Length; i++) Assert.Equal(stored[i], scores[i], 1e-6);
        Assert.Equal(g.Longs("kept_order_as_selected"), Selection.TopKOrder(tensor(scores), decision.KeptVisual.Length));
    }

    private static void Dart(GoldenSelection g)
    {
        var parameters = new Dictionary<string, string> { ["pivot_image"] = g.ParamInt("pivot_image_token").ToString(), ["pivot_text"] = g.ParamInt("pivot_text_token").ToString() };
        var settings = new PruningSettings(g.Ratio) { Parameters = parameters };
        var hooks = PruningRegistry.CreateHooks("dart", settings);
        hooks.OnVisualTokens(g.PreLlmContext());
        var probe = hooks.ProbeBeforeLayer(2, 4)!;
        Assert.True(probe.NeedsKeys);
        Assert.Empty(probe.AttentionQueryRows);
        var context = g.LayerTwoContext(probe);
        var decision = hooks.OnLayerInput(context)!;
        Assert.Equal(g.Longs("kept_indices"), decision.KeptVisual);
        Assert.Equal(g.Json.GetProperty("keep").GetInt32(), decision.KeptVisual.Length);

        // The per-pivot trace: pivots, the Python-set walk order, each pivot's picks.
        var trace = Engine.Pruning.Methods.Dart.Run(context.Keys!, context.FinalNorm(context.Hidden), context.Layout, context.TextAfterImage,
            settings.KeepCount(g.N), g.ParamInt("pivot_image_token"), g.ParamInt("pivot_text_token"));
        Assert.Equal(g.ParamInt("TOKEN_TOPK"), trace.TokenTopK);
        Assert.Equal(g.ParamLongs("image_pivots_visual_index"), trace.ImagePivots);
        Assert.Equal(g.ParamLongs("text_pivots_prompt_row"), trace.TextPivotRows);
        Assert.Equal(g.ParamLongs("pivot_iteration_order_prompt_rows"), trace.PivotOrderRows);
        var picks = g.Json.GetProperty("params").GetProperty("per_pivot_picks").EnumerateArray().ToArray();
        Assert.Equal(picks.Length, trace.Picks.Count);
        for (int p = 0; p < picks.Length; p++)
        {
            Assert.Equal(picks[p].GetProperty("pivot_prompt_row").GetInt64(), trace.PivotOrderRows[p]);
            Assert.Equal(picks[p].GetProperty("picked_visual_index").EnumerateArray().Select(e => e.GetInt64()).Order(), trace.Picks[p].Order());
        }
    }

    private static void PreLlm(GoldenSelection g, string method, Dictionary<string, string> parameters)
    {
        var units = g.UnitPolicy;
        var hooks = PruningRegistry.CreateHooks(method, new PruningSettings(g.Ratio) { Units = units, Parameters = parameters });
        var decision = hooks.OnVisualTokens(g.PreLlmContext())!;
        Assert.Equal(g.Longs("kept_indices"), decision.Kept);
        Assert.Equal(g.Json.GetProperty("keep").GetInt32(), decision.Kept.Length);
        Assert.Null(decision.Embeddings);
        Assert.Null(hooks.ProbeBeforeLayer(2, 4));
    }

    private static IEnumerable<(int Offset, int Count, int Keep)> Units(GoldenSelection g)
    {
        var units = g.UnitPolicy;
        var settings = new PruningSettings(g.Ratio) { Units = units };
        return KeepCounts.Units(g.Layout(), units).Select(u => (u.Offset, u.Count, settings.KeepCount(u.Count)));
    }

    private static void DivPruneOrder(GoldenSelection g)
    {
        var x = g.ImageEmbeds();
        var order = Units(g).SelectMany(u => DivPrune.GreedyOrder(x.narrow(0, u.Offset, u.Count), u.Keep).Select(i => i + u.Offset)).ToArray();
        Assert.Equal(g.Longs("kept_order_as_selected"), order);
    }

    private static void GPruneScores(GoldenSelection g)
    {
        var x = g.ImageEmbeds();
        var storedScores = g.Json.GetProperty("scores");
        var order = new List<long>();
        foreach (var (offset, count, keep) in Units(g))
        {
            var scores = GPrune.Scores(x.narrow(0, offset, count));
            string unitName = storedScores.TryGetProperty("all", out _) ? "all" : offset == 0 ? "local_tiles" : "thumbnail";
            var stored = storedScores.GetProperty(unitName).EnumerateArray().Select(e => e.GetDouble()).ToArray();
            var ours = Selection.ToFloats(scores);
            for (int i = 0; i < stored.Length; i++) Assert.True(Math.Abs(stored[i] - ours[i]) <= 1e-5 * Math.Max(1, Math.Abs(stored[i])), $"{unitName} score {i}: {ours[i]} vs {stored[i]}");
            var degree = g.Json.GetProperty("units").GetProperty(unitName).GetProperty("degree").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            using var cos = Selection.CosineMatrix(x.narrow(0, offset, count));
            Assert.Equal(degree, Selection.ToLongs((cos >= 0.5).sum(1)).Select(d => (int)d).ToArray());
            order.AddRange(Selection.TopKOrder(scores, keep).Select(i => i + offset));
        }
        Assert.Equal(g.Longs("kept_order_as_selected"), order);
    }

    private static void PruMergeCase(GoldenSelection g, string method, double retention)
    {
        var project = g.LlavaProjector();
        var hooks = PruningRegistry.CreateHooks(method, new PruningSettings(retention));
        var context = g.PreLlmContext(project);
        var decision = hooks.OnVisualTokens(context)!;
        Assert.Equal(g.Longs("kept_order_as_output"), decision.Kept);
        Assert.Equal(g.Longs("kept_indices"), decision.Kept.Order());
        Assert.Equal(1, decision.ExtraTokens);
        Assert.Equal(g.Json.GetProperty("output_tokens").GetInt32(), (int)decision.Embeddings!.shape[0]);

        // The CLS attention we derive from the raw q/k equals the stored one.
        var attention = PruMerge.ClsAttention(context.Vision.LastLayerQueries!, context.Vision.LastLayerKeys!);
        AssertClose(g.SelectionInput("prumerge_cls_attn"), attention, 1e-6, "cls attention");
        if (g.Json.TryGetProperty("iqr", out var iqr))
        {
            var (ratio, q1, q3) = PruMerge.OutlierRatio(Selection.ToFloats(attention));
            Assert.Equal(iqr.GetProperty("Q1").GetDouble(), q1, 1e-7);
            Assert.Equal(iqr.GetProperty("Q3").GetDouble(), q3, 1e-7);
            Assert.Equal(iqr.GetProperty("outlier_ratio").GetDouble(), ratio, 12);
        }
        var plus = method.Contains("plus");
        var budget = method.EndsWith("adaptive") ? PruMergeBudget.AdaptiveIqr : PruMergeBudget.FixedK;
        var run = PruMerge.Run(attention, context.Vision.LastLayerKeys!.narrow(0, 1, g.N), context.Vision.FeaturesBeforeProjector!, plus, budget,
            new PruningSettings(retention).KeepCount(g.N));
        AssertClose(g.Merged("merged_features_pre_projector"), run.Merged, 1e-4, "merged features before the projector");
        AssertClose(g.Merged("merged_features_projected"), decision.Embeddings!, 1e-4, "merged features after the projector");
    }

    private static void AssertClose(Tensor expected, Tensor actual, double tolerance, string what)
    {
        Assert.Equal(expected.shape, actual.shape);
        double diff = (expected - actual).abs().max().item<float>();
        double scale = Math.Max(1, expected.abs().max().item<float>());
        Assert.True(diff <= tolerance * scale, $"{what}: max |diff| {diff:E3} > {tolerance:E0}·{scale:F3}");
    }
}
