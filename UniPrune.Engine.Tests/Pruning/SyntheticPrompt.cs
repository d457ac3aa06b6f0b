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
    public const int Prefix = 5, Suffix = 12, Hidden = 32, Heads = 4;
    public int N { get; }
    public int Layers { get; }
    public IReadOnlyList<VisualUnit> Units { get; }
    private readonly int _seed;

    public SyntheticPrompt(int n, int layers, IReadOnlyList<VisualUnit> units, int seed = 7) { N = n; Layers = layers; Units = units; _seed = seed; }

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
        var embeddings = randn(N, Hidden, generator: g);
        // Square images get near-constant 3×3 blocks in their upper half, so window-merging methods have something to merge.
        if (Units is [{ Kind: VisualUnitKind.Image, GridRows: var side, GridCols: var cols }] && side == cols && side % 3 == 0)
        {
            var blocks = randn(side / 3, side / 3, Hidden, generator: g);
            for (int r = 0; r < side / 2; r++)
                for (int c = 0; c < side; c++)
                    embeddings[r * side + c] = blocks[r / 3, c / 3] + 0.05 * randn(Hidden, generator: g);
        }
        var text = randn(Prefix + Suffix, Hidden, generator: g);
        var layout = new VisualLayout(Units, Enumerable.Range(Prefix, N).Select(i => (long)i).ToArray(), PromptLength);
        var projectorWeight = randn(Hidden, Hidden, generator: g) / Math.Sqrt(Hidden);
        var vision = new VisionEvidence
        {
            Embeddings = embeddings,
            FeaturesBeforeProjector = embeddings.matmul(projectorWeight.t().inverse()), // so that Project(features) = embeddings
            Project = x => x.matmul(projectorWeight.t()),
            ClsAttention = (randn(N, generator: g) * 2).softmax(0),
            LastLayerQueries = randn(N + 1, Hidden, generator: g),
            LastLayerKeys = randn(N + 1, Hidden, generator: g),
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
                        Keys = probe.NeedsKeys ? randn(length, Hidden, generator: g) : null,
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
