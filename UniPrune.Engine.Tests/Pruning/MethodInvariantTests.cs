using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Pruning;
using UniPrune.Engine.Pruning.Abstractions;

namespace UniPrune.Engine.Tests.Pruning;

/// <summary>Invariants of every registered method × retention on synthetic prompts driven through the hooks like a model would.</summary>
public class MethodInvariantTests
{
    private static readonly double[] Retentions = [1.0 / 3, 2.0 / 9, 1.0 / 9];

    public static TheoryData<string, string> MethodsAndRatios()
    {
        var data = new TheoryData<string, string>();
        foreach (var name in PruningRegistry.Names.Order())
            foreach (var r in new[] { "1/3", "2/9", "1/9" }) data.Add(name, r);
        return data;
    }

    public static TheoryData<string> MethodNames()
    {
        var data = new TheoryData<string>();
        foreach (var name in PruningRegistry.Names.Order()) data.Add(name);
        return data;
    }

    private static double Parse(string ratio) { var p = ratio.Split('/'); return double.Parse(p[0]) / double.Parse(p[1]); }

    /// <summary>The visual tokens each method documents keeping at the end of prefill for a 12×12 image (N = 144), or null when its
    /// count is adaptive (PruMerge's IQR rule, MustDrop's thresholds, SparseVLM's multi-stage table with recycling).</summary>
    private static int? DocumentedFinalCount(string method, PruningSettings s, int n) => method switch
    {
        "prumerge-adaptive" or "prumerge-plus-adaptive" or "mustdrop" or "sparsevlm" => null,
        "dart" => 4 + 8 * (s.KeepCount(n) / 8),
        "vtw" => 0,
        _ => s.KeepCount(n),
    };

    [Theory]
    [MemberData(nameof(MethodsAndRatios))]
    public void KeepsTheDocumentedCountInsideTheVisualSpanAndNeverDropsText(string method, string ratio)
    {
        var settings = new PruningSettings(Parse(ratio)) { Seed = 3 };
        var prompt = SyntheticPrompt.Square(12);
        var outcome = prompt.Run(PruningRegistry.CreateHooks(method, settings));

        // Text rows survive every decision, in their original order.
        var textRows = outcome.FinalRows.Where(r => !r.Visual).Select(r => r.Row).ToArray();
        Assert.Equal(Enumerable.Range(0, prompt.PromptLength).Where(r => r < SyntheticPrompt.Prefix || r >= SyntheticPrompt.Prefix + prompt.N).Select(r => (long)r), textRows);

        // Visual rows stay inside the visual span (or are merged tokens) and are never duplicated.
        var visualRows = outcome.FinalRows.Where(r => r.Visual && r.Row >= 0).Select(r => r.Row).ToArray();
        Assert.All(visualRows, r => Assert.InRange(r, SyntheticPrompt.Prefix, SyntheticPrompt.Prefix + prompt.N - 1));
        Assert.Equal(visualRows.Length, visualRows.Distinct().Count());

        int? expected = DocumentedFinalCount(method, settings, prompt.N);
        if (expected is int k) Assert.Equal(k, outcome.FinalVisual);
        else Assert.InRange(outcome.FinalVisual, 1, prompt.N);
        Assert.True(outcome.FinalVisual < prompt.N, $"{method} pruned nothing at r = {ratio}");

        // Intra-LLM decisions are ascending (validated by the hooks too); pre-LLM ones are ascending unless the method defines an order.
        foreach (var (_, d) in outcome.Layers) Assert.Equal(d.KeptVisual.Order(), d.KeptVisual);
        if (outcome.Pre is { } pre && !method.StartsWith("prumerge") && !method.StartsWith("mustdrop"))
            Assert.Equal(pre.Kept.Order(), pre.Kept);
    }

    [Theory]
    [MemberData(nameof(MethodNames))]
    public void RetentionOneIsVanillaInference(string method)
    {
        var outcome = SyntheticPrompt.Square(12).Run(PruningRegistry.CreateHooks(method, new PruningSettings(1.0)));
        Assert.Null(outcome.Pre);
        Assert.Empty(outcome.Layers);
        Assert.Null(outcome.Trim);
        Assert.Equal(144, outcome.FinalVisual);
    }

    [Theory]
    [MemberData(nameof(MethodNames))]
    public void SameSeedSameDecisions(string method)
    {
        var settings = new PruningSettings(2.0 / 9) { Seed = 11 };
        var a = SyntheticPrompt.Square(12).Run(PruningRegistry.CreateHooks(method, settings));
        var b = SyntheticPrompt.Square(12).Run(PruningRegistry.CreateHooks(method, settings));
        Assert.Equal(a.Pre?.Kept, b.Pre?.Kept);
        Assert.Equal(a.Layers.Select(l => (l.Layer, string.Join(",", l.Decision.KeptVisual))), b.Layers.Select(l => (l.Layer, string.Join(",", l.Decision.KeptVisual))));
        if (a.Pre?.Embeddings is { } ea) Assert.True(ea.equal(b.Pre!.Embeddings!).all().item<bool>());
        Assert.Equal(a.FinalRows, b.FinalRows);
    }

    [Theory]
    [InlineData("random-pre")]
    [InlineData("random-intra")]
    public void RandomMethodsDependOnTheSeed(string method)
    {
        var draws = Enumerable.Range(0, 4).Select(seed =>
            string.Join(",", SyntheticPrompt.Square(12).Run(PruningRegistry.CreateHooks(method, new PruningSettings(1.0 / 3) { Seed = seed })).FinalRows)).ToHashSet();
        Assert.Equal(4, draws.Count);
    }

    [Theory]
    [InlineData("random-pre")]
    [InlineData("divprune")]
    [InlineData("gprune")]
    [InlineData("vispruner")]
    public void PreLlmMethodsPruneEachUnitWithItsOwnKeepCount(string method)
    {
        foreach (double r in Retentions)
        {
            var settings = new PruningSettings(r);
            var outcome = SyntheticPrompt.Tiled().Run(PruningRegistry.CreateHooks(method, settings));
            var kept = outcome.Pre!.Kept;
            Assert.Equal(settings.KeepCount(32), kept.Count(v => v < 32));
            Assert.Equal(settings.KeepCount(16), kept.Count(v => v >= 32));
            var global = SyntheticPrompt.Tiled().Run(PruningRegistry.CreateHooks(method, settings with { Units = UnitPolicy.Global }));
            Assert.Equal(settings.KeepCount(48), global.Pre!.Kept.Length);
        }
    }

    [Fact]
    public void TwoStageCompositionPrunesBeforeAndInsideTheLlm()
    {
        var settings = new PruningSettings(1.0 / 3);
        var hooks = PruningRegistry.CreateHooks("divprune+fastv", settings);
        var outcome = SyntheticPrompt.Square(12).Run(hooks);
        Assert.Equal(48, outcome.Pre!.Kept.Length);
        var (layer, decision) = Assert.Single(outcome.Layers);
        Assert.Equal(2, layer);
        Assert.Equal(16, decision.KeptVisual.Length); // keep(1/3 · 48)
        Assert.Equal(16, outcome.FinalVisual);
        Assert.Equal("divprune+fastv", hooks.Name);
        Assert.Equal([PruningStage.PreLlm, PruningStage.IntraLlm], hooks.Records.Select(r => r.Stage));
        Assert.Equal((2 * 48 + 22 * 16) / 24.0, hooks.EquivalentVisualTokens(144, 24), 9);
        Assert.True(hooks.MethodTime > TimeSpan.Zero);
        var summary = hooks.Summary(144, 24);
        Assert.Equal(("divprune+fastv", KeepCountRule.Round, 144, 16), (summary.Method, summary.KeepRule, summary.VisualTokens, summary.VisualTokensAfterPrefill));
        Assert.Equal(hooks.EquivalentVisualTokens(144, 24), summary.EquivalentVisualTokens);
        Assert.Throws<ArgumentException>(() => PruningRegistry.CreateHooks("fastv+divprune", settings));
        Assert.Throws<ArgumentException>(() => PruningRegistry.CreateHooks("nosuchmethod", settings));
    }

    [Fact]
    public void VtwWithdrawsEveryVisualTokenAtRoundRL()
    {
        foreach (var (r, kw) in new[] { (1.0 / 3, 8), (2.0 / 9, 5), (1.0 / 9, 3) }) // 24 layers
        {
            var outcome = SyntheticPrompt.Square(12).Run(PruningRegistry.CreateHooks("vtw", new PruningSettings(r)));
            var (layer, decision) = Assert.Single(outcome.Layers);
            Assert.Equal(kw, layer);
            Assert.Empty(decision.KeptVisual);
        }
    }

    [Fact]
    public void MultiStageSchedulesActAtTheirLayers()
    {
        var pdrop = SyntheticPrompt.Square(12).Run(PruningRegistry.CreateHooks("pdrop", new PruningSettings(1.0 / 9)));
        Assert.Equal([6, 12, 18], pdrop.Layers.Select(l => l.Layer));
        Assert.Equal(16, pdrop.FinalVisual);
        var sparse = SyntheticPrompt.Square(12).Run(PruningRegistry.CreateHooks("sparsevlm", new PruningSettings(1.0 / 3)));
        Assert.Equal([3, 7, 16], sparse.Layers.Select(l => l.Layer));
        // 300/200/110 of 576 scaled to N = 144: 75/50/28 kept, plus the recycled clusters of each stage.
        Assert.Equal([75, 50, 28], sparse.Layers.Select(l => l.Decision.KeptVisual.Length));
        Assert.All(sparse.Layers, l => Assert.NotNull(l.Decision.AppendedVisual));
        var k2 = SyntheticPrompt.Square(24, 24).Run(PruningRegistry.CreateHooks("sparsevlm-k2", new PruningSettings(1.0 / 3)));
        var (layer, single) = Assert.Single(k2.Layers);
        Assert.Equal(2, layer);
        Assert.Equal(180, single.KeptVisual.Length); // 180 kept + 12 recycled clusters = 192 of 576
        Assert.Equal(12, single.AppendedVisual!.shape[0]);
    }

    [Fact]
    public void MustDropTrimsEarlierCachesToTheFinalKeptSetAfterPrefill()
    {
        var hooks = PruningRegistry.CreateHooks("mustdrop", new PruningSettings(1.0 / 9));
        var outcome = SyntheticPrompt.Square(12).Run(hooks);
        Assert.Equal([3, 7, 11, 15], outcome.Layers.Select(l => l.Layer));
        Assert.True(outcome.Pre!.Kept.Length < 144, "the vision merge merged no window");
        var trim = outcome.Trim!;
        var final = outcome.FinalRows.Select(r => r.Row).ToHashSet();
        for (int layer = 0; layer < 24; layer++)
        {
            if (layer < 3 || layer >= 15) { Assert.False(trim.KeptRowsByLayer.ContainsKey(layer)); continue; }
            var rows = outcome.RowsPerLayer[layer];
            var expected = Enumerable.Range(0, rows.Count).Where(i => final.Contains(rows[i].Row)).Select(i => (long)i);
            Assert.Equal(expected, trim.KeptRowsByLayer[layer]);
        }
    }
}
