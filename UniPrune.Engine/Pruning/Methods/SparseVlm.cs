using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Pruning.Abstractions;
using UniPrune.Engine.Pruning.Common;
using static TorchSharp.torch;
using UniPrune.Engine.Models.Common;

namespace UniPrune.Engine.Pruning.Methods;

/// <summary>
/// SparseVLM v1.0 (Gumpest/SparseVLMs, arXiv 2410.04417; methods.md §2.9): text-guided, multi-stage, with recycling.
/// Raters (once, from the LLM input embeddings): M = softmax over the text axis of V·Tᵀ (visual × text-after-image); g = mean of M over
/// the visual rows; raters = text tokens with g above its mean. At each stage the head-mean attention of layer K−1 from the raters to the
/// current visual tokens, averaged over raters, ranks the visual tokens; the top n are kept (ascending). Recycling: the top ⌊0.3·n_del⌋+1
/// deleted tokens (by that score) are clustered by DPC-KNN on the layer's output (c = ⌊m/10⌋+1 clusters, uniform mean) and the c merged
/// tokens are inserted right after the kept visual tokens. Positions re-numbered (v1.0).
/// Multi-stage (the native schedule): the reference prunes the outputs of layers 2, 6, 15, i.e. K = 3, 7, 16, keeping the released
/// table for N = 576 — 192: 300/200/110, 128: 303/110/36, 96: 238/48/26, 64: 66/30/17 — scaled by N/576 for other N. Its count is the
/// equivalent (layer-averaged) token number, reported by the hooks; only the four released retentions (1/3, 2/9, 1/6, 1/9) have a table.
/// Single-stage (sparsevlm-k2, the paper's fixed-K protocol): one stage at K (default 2) keeps n such that n + c(n) = k exactly
/// (180+12, 114+14, 48+16 for N = 576), or k without recycling (recycle=false).
/// Differences from the reference: attention rows are computed for the raters only, inside the forward (the reference runs eager
/// attention at the stage layers); the DPC-KNN tie-break noise (1e−6·U(0,1)) comes from a generator seeded with the settings' seed, so
/// runs are reproducible. Parameters: stage_layers (K values), recycle.
/// </summary>
public sealed class SparseVlm : IIntraLlmMethod
{
    private static readonly Dictionary<int, int[]> ReleasedTable = new()
    {
        [192] = [300, 200, 110], [128] = [303, 110, 36], [96] = [238, 48, 26], [64] = [66, 30, 17],
    };

    private readonly PruningSettings _settings;
    private readonly bool _singleStage, _recycle;
    private readonly int[] _stageLayers;
    private int[] _raters = [];

    public SparseVlm(PruningSettings settings, bool singleStage)
    {
        _settings = settings; _singleStage = singleStage;
        var p = new MethodParameters(Name, settings.Parameters);
        _stageLayers = p.Ints("stage_layers", singleStage ? [settings.Layer] : [3, 7, 16]);
        _recycle = p.Bool("recycle", true);
        p.RejectUnknown();
        if (singleStage && _stageLayers.Length != 1) throw new ArgumentException($"{Name}: the single-stage variant takes one stage layer, got {_stageLayers.Length}");
        if (!singleStage && !settings.KeepsEverything) TargetFor576(); // fail early on a retention without a released table
    }

    public string Name => _singleStage ? "sparsevlm-k2" : "sparsevlm";
    public PruningStage Stage => _singleStage ? PruningStage.IntraLlm : PruningStage.MultiStage;
    public IReadOnlyList<int> Raters => _raters;

    public void Observe(PreLlmContext context, SequenceState state)
    {
        using var scope = NewDisposeScope();
        var layout = context.Vision.Layout;
        var visualRows = new HashSet<long>(layout.SequenceIndices);
        var textRowToEmbedding = new Dictionary<long, long>();
        long e = 0;
        for (long r = 0; r < layout.SequenceLength; r++) if (!visualRows.Contains(r)) textRowToEmbedding[r] = e++;
        var textIndex = tensor(context.TextAfterImage.Select(r => textRowToEmbedding[r]).ToArray());
        var text = context.TextEmbeddings.to_type(ScalarType.Float32).index_select(0, textIndex);
        _raters = SelectRaters(context.Vision.Embeddings, text);
        _visualAtStart = state.Layout.Count;
    }

    /// <summary>Positions (within the text after the image) of the rater tokens.</summary>
    public static int[] SelectRaters(Tensor visualEmbeddings, Tensor textEmbeddings)
    {
        using var scope = NewDisposeScope();
        var relation = visualEmbeddings.to_type(ScalarType.Float32).matmul(textEmbeddings.to_type(ScalarType.Float32).t()).softmax(1); // (N, n_t)
        var g = relation.mean([0]);
        var above = Selection.ToFloats(g > g.mean());
        return Enumerable.Range(0, above.Length).Where(i => above[i] > 0).ToArray();
    }

    public LayerProbe? Probe(int layerK, int numLayers, SequenceState state)
    {
        StageSchedule.RequireDepth(Name, _stageLayers, numLayers);
        if (!_stageLayers.Contains(layerK) || state.Layout.Count <= 1) return null;
        return new LayerProbe(_raters.Select(i => state.TextAfterImage[i]).ToArray());
    }

    public LayerDecision? Decide(LayerContext context, SequenceState state)
    {
        using var scope = NewDisposeScope();
        int n = context.Layout.Count;
        var raterRows = _raters.Select(i => context.TextAfterImage[i]).ToArray();
        var relevance = ProbedAttention.ToVisual(context, raterRows, Name).mean([0]); // (N)
        int keep = _singleStage ? SingleStageKeep(n) : StageKeep(Array.IndexOf(_stageLayers, context.Layer), n);
        keep = Math.Clamp(keep, 1, Math.Max(1, n - 1));
        var order = Selection.TopKOrder(relevance, n);
        var kept = order[..keep];
        Array.Sort(kept);
        if (!_recycle || keep >= n) return new LayerDecision(kept, PositionPolicy.Renumber);
        var deleted = order[keep..];
        int recycled = deleted.Length * 3 / 10 + 1;
        int clusters = recycled / 10 + 1;
        var candidates = tensor(deleted[..recycled].Select(v => context.Layout.SequenceIndices[(int)v]).ToArray());
        var merged = DpcKnn.MergeClusters(context.Hidden.index_select(0, candidates), clusters, _settings.Seed + context.Layer);
        return new LayerDecision(kept, PositionPolicy.Renumber, AppendedVisual: merged.MoveToOuterDisposeScope());
    }

    private int TargetFor576()
    {
        int target = (int)Math.Round(_settings.Retention * 576);
        return ReleasedTable.ContainsKey(target) ? target
            : throw new ArgumentException($"{Name}: the multi-stage schedule exists only for retentions 1/3, 2/9, 1/6, 1/9 (192/128/96/64 of 576), got {_settings.Retention}");
    }

    // The released table is for N = 576; it scales with the visual tokens the LLM starts with. The caller caps it at n − 1.
    private int StageKeep(int stage, int n) =>
        (int)Math.Round(ReleasedTable[TargetFor576()][stage] * (_visualAtStart > 0 ? _visualAtStart : n) / 576.0, MidpointRounding.ToEven);

    private int _visualAtStart;

    private int SingleStageKeep(int n)
    {
        int k = _settings.KeepCount(n);
        if (!_recycle) return k;
        for (int keep = k; keep >= 1; keep--)
        {
            int del = n - keep, clusters = (del * 3 / 10 + 1) / 10 + 1;
            if (keep + clusters <= k) return keep;
        }
        return 1;
    }
}

/// <summary>DPC-KNN clustering as SparseVLM uses it (density peaks over k nearest neighbours), returning the uniform mean of each cluster.</summary>
public static class DpcKnn
{
    public static Tensor MergeClusters(Tensor x, int clusters, int seed)
    {
        using var scope = NewDisposeScope();
        var f = x.to_type(ScalarType.Float32);
        int m = (int)f.shape[0];
        clusters = Math.Clamp(clusters, 1, m);
        var distance = cdist(f.unsqueeze(0), f.unsqueeze(0)).squeeze(0).DividedBy(Math.Sqrt(f.shape[1]));
        int neighbours = Math.Min(clusters, m);
        var (nearest, _) = distance.topk(neighbours, dim: 1, largest: false);
        var generator = new Generator((ulong)(uint)seed);
        var density = (-(nearest.pow(HeldScalars.Two).mean([1]))).exp().Plus(rand(m, generator: generator).Times(1e-6));
        var denser = density.unsqueeze(0) > density.unsqueeze(1);               // [i, j]: j denser than i
        var maxDistance = distance.max();
        var delta = where(denser, distance, maxDistance).min(1).values;
        var centers = delta.mul(density).topk(clusters).indexes;
        var assign = distance.index_select(0, centers).argmin(dim: 0);            // nearest centre of every token
        assign.index_put_(HeldScalars.Arange(clusters, ScalarType.Int64), new[] { centers });   // centres belong to themselves
        var sums = zeros(clusters, f.shape[1]).index_add_(0, assign, f, HeldScalars.One);
        var counts = zeros(clusters).index_add_(0, assign, ones(m), HeldScalars.One).unsqueeze(1);
        return (sums / counts).to_type(x.dtype).MoveToOuterDisposeScope();
    }
}
