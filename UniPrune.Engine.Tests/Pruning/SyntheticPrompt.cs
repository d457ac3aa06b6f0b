using UniPrune.Engine.Models.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Pruning;

/// <summary>
/// A stand-in model for the pruning hooks: it builds seeded random evidence for a prompt (prefix text, visual tokens, text after the
/// image) and drives the hooks through pre-LLM, every layer's probe/decision and the post-prefill trim, applying each decision to its
/// own row list (independently of the framework's SequenceState) so the tests can check what the model would end up with.
/// </summary>
public sealed class SyntheticPrompt
{
    public const int Prefix = 5, Suffix = 12;
    public int N { get; }
    public int Layers { get; }
    public IReadOnlyList<VisualUnit> Units { get; }
    /// <summary>LLM width, attention heads, key width (KV heads × head dim) and vision width; small by default, real sizes for the benchmark.</summary>
    public int Hidden { get; init; } = 32;
    public int Heads { get; init; } = 4;
    public int KeyWidth { get; init; } = 32;
    public int VisionWidth { get; init; } = 24;
    private readonly int _seed;

    public SyntheticPrompt(int n, int layers, IReadOnlyList<VisualUnit> units, int seed = 7) { N = n; Layers = layers; Units = units; _seed = seed; }

    /// <summary>One image on a rows×cols grid.</summary>
    public static SyntheticPrompt Grid(int rows, int cols, int layers, int seed = 7) =>
        new(rows * cols, layers, [new VisualUnit(VisualUnitKind.Image, 0, 0, rows * cols, rows, cols)], seed);

    /// <summary>One image on a square grid.</summary>
    public static SyntheticPrompt Square(int side, int layers = 24, int seed = 7) =>
        new(side * side, layers, [new VisualUnit(VisualUnitKind.Image, 0, 0, side * side, side, side)], seed);

    /// <summary>InternVL-like: two 4×4 local tiles pruned jointly and a 4×4 thumbnail alone.</summary>
    public static SyntheticPrompt Tiled(int layers = 24, int seed = 7) =>
        new(48, layers, [new VisualUnit(VisualUnitKind.LocalTiles, 0, 0, 32, 4, 4, 2), new VisualUnit(VisualUnitKind.Thumbnail, 0, 32, 16, 4, 4)], seed);

    public int PromptLength => Prefix + N + Suffix;

    public sealed record Outcome(PreLlmDecision? Pre, List<(int Layer, LayerDecision Decision)> Layers, List<(long Row, bool Visual)> FinalRows,
        KvCacheTrim? Trim, List<int> CachedRowsPerLayer, List<IReadOnlyList<(long Row, bool Visual)>> RowsPerLayer)
    {
        public int FinalVisual => FinalRows.Count(r => r.Visual);
    }

    public Outcome Run(IPruningHooks hooks)
    {
        using var scope = NewDisposeScope();
        var g = new Generator((ulong)_seed);
        var features = randn(N, VisionWidth, generator: g);
        // Grids divisible by 3 get near-constant 3×3 blocks in their upper half, so window-merging methods have something to merge.
        if (Units is [{ Kind: VisualUnitKind.Image, GridRows: var gridRows, GridCols: var cols }] && gridRows % 3 == 0 && cols % 3 == 0)
        {
            var blocks = randn(gridRows / 3, cols / 3, VisionWidth, generator: g);
            var top = blocks.repeat_interleave(3, 0).repeat_interleave(3, 1).narrow(0, 0, gridRows / 2).reshape(-1, VisionWidth);
            features.narrow(0, 0, top.shape[0]).copy_(top + 0.05 * randn(top.shape, generator: g));
        }
        var projectorWeight = randn(Hidden, VisionWidth, generator: g) / Math.Sqrt(VisionWidth);
        Func<Tensor, Tensor> project = x => x.matmul(projectorWeight.t());
        var embeddings = project(features);
        var text = randn(Prefix + Suffix, Hidden, generator: g);
        var layout = new VisualLayout(Units, Enumerable.Range(Prefix, N).Select(i => (long)i).ToArray(), PromptLength);
        var vision = new VisionEvidence
        {
            Embeddings = embeddings,
            FeaturesBeforeProjector = features,
            Project = project,
            ClsAttention = (randn(N, generator: g) * 2).softmax(0),
            LastLayerQueries = randn(N + 1, VisionWidth, generator: g),
            LastLayerKeys = randn(N + 1, VisionWidth, generator: g),
            Layout = layout,
            Tower = VisionTowerKind.ClipWithCls,
        };
        var pre = new PreLlmContext
        {
            Vision = vision,
            TextEmbeddings = text,
            TextAfterImage = Enumerable.Range(Prefix + N, Suffix).Select(i => (long)i).ToArray(),
        };
        var rows = Enumerable.Range(0, PromptLength).Select(r => (Row: (long)r, Visual: r >= Prefix && r < Prefix + N)).ToList();
        var decision = hooks.OnVisualTokens(pre);
        decision?.Embeddings?.MoveToOuterDisposeScope(); // the outcome outlives this forward's scope
        if (decision is not null)
        {
            var visual = decision.Kept.Select(v => (Row: (long)(Prefix + v), Visual: true)).Concat(Enumerable.Repeat((Row: -1L, Visual: true), decision.ExtraTokens));
            rows = [.. rows.Take(Prefix), .. visual, .. rows.Skip(Prefix + N)];
        }
        var layerDecisions = new List<(int, LayerDecision)>();
        var rowsPerLayer = new List<IReadOnlyList<(long Row, bool Visual)>>();
        var promptEmbeddings = cat([text.narrow(0, 0, Prefix), embeddings, text.narrow(0, Prefix, Suffix)], 0);
        for (int layer = 0; layer < Layers; layer++)
        {
            if (layer >= 1)
            {
                var probe = hooks.ProbeBeforeLayer(layer, Layers);
                if (probe is not null)
                {
                    // The probe was asked before layer K−1 ran; the sequence has not changed since (no decision between).
                    int length = rows.Count;
                    var visualRows = Enumerable.Range(0, length).Where(i => rows[i].Visual).Select(i => (long)i).ToArray();
                    var currentLayout = new VisualLayout(UnitsFor(visualRows.Length), visualRows, length);
                    using var layerScope = NewDisposeScope();
                    var context = new LayerContext
                    {
                        Layer = layer,
                        NumLayers = Layers,
                        Layout = currentLayout,
                        Hidden = randn(length, Hidden, generator: g),
                        Attention = probe.AttentionQueryRows.Count > 0 ? (randn(Heads, probe.AttentionQueryRows.Count, length, generator: g) * 6).softmax(2) : null,
                        AttentionQueryRows = probe.AttentionQueryRows,
                        Keys = probe.NeedsKeys ? randn(length, KeyWidth, generator: g) : null,
                        FinalNorm = h => h / h.pow(2).mean([1], keepdim: true).add(1e-6).sqrt(),
                        PromptEmbeddings = promptEmbeddings,
                        TextAfterImage = Enumerable.Range(0, length).Where(i => !rows[i].Visual && rows[i].Row >= Prefix + N).Select(i => (long)i).ToArray(),
                    };
                    var d = hooks.OnLayerInput(context);
                    if (d is not null)
                    {
                        d.AppendedVisual?.MoveToOuterDisposeScope().MoveToOuterDisposeScope();
                        layerDecisions.Add((layer, d));
                        var keptVisual = new HashSet<long>(d.KeptVisual.Select(v => visualRows[v]));
                        var next = new List<(long Row, bool Visual)>();
                        long lastKept = d.KeptVisual.Length > 0 ? visualRows[d.KeptVisual[^1]] : visualRows.Length > 0 ? visualRows[0] - 1 : -1;
                        int appended = d.AppendedVisual is null ? 0 : (int)d.AppendedVisual.shape[0];
                        if (lastKept < 0) next.AddRange(Enumerable.Repeat((Row: -1L, Visual: true), appended));
                        for (int i = 0; i < length; i++)
                        {
                            if (!rows[i].Visual || keptVisual.Contains(i)) next.Add(rows[i]);
                            if (i == lastKept) next.AddRange(Enumerable.Repeat((Row: -1L, Visual: true), appended));
                        }
                        rows = next;
                    }
                }
            }
            rowsPerLayer.Add(rows.ToList());
        }
        var cached = rowsPerLayer.Select(r => r.Count).ToList();
        return new Outcome(decision, layerDecisions, rows, hooks.AfterPrefill(cached), cached, rowsPerLayer);
    }

    // After a decision the units' sizes change; the tests only need the visual rows, so one unit carries them.
    private IReadOnlyList<VisualUnit> UnitsFor(int count) => [new VisualUnit(VisualUnitKind.Image, 0, 0, count, 0, 0)];
}
