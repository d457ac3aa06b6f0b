using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Pruning.Abstractions;
using UniPrune.Engine.Pruning.Common;
using static TorchSharp.torch;
using UniPrune.Engine.Models.Common;

namespace UniPrune.Engine.Pruning.Methods;

/// <summary>
/// MustDrop (liuting20/MustDrop, arXiv 2411.10803; methods.md §2.10), hybrid: vision-side window merge + key set, LLM-side dual-attention
/// filtering, decode-stage cache trimming.
/// 1. Vision merge. The reference merges 3×3 windows inside CLIP after encoder layer 0, so layers 1–23 run on the merged sequence. The
///    pruning contract only sees the tower's output, so we merge there (methods.md §2.10 item 4's deterministic variant, LightCompress does
///    the same): window similarity = mean pairwise cosine of its members (self-pairs excluded); a merged window becomes the mean of its
///    members — before the projector and then projected when the model offers its projector, else the mean of the projected embeddings.
///    Window side 3 when the grid allows it (LLaVA 24×24), else 2 (InternVL 16×16 per tile, Qwen grids; methods.md item 6); units whose
///    grid the window does not tile stay unmerged. Output order per unit: merged tokens first, then the rest in raster order.
///    Key set: the top ⌈0.08·N'⌉ merged-sequence tokens by the tower's importance (CLS attention; Qwen: attention received, §1.3 (b);
///    a merged token's importance is the sum of its members') are never dropped by the LLM stage. The reference recomputes CLS attention
///    on the merged sequence at the last layer, which an output-level merge cannot do.
/// 2. LLM filtering at K (prunes the output of layer K−1): with T = head-mean attention of layer K−1 from every text token after the image
///    to each visual token, g_v = Σ T, m_v = max T; a non-key token is dropped when g_v &lt; global·Σ g and m_v &lt; individual.
/// 3. Decode stage: after prefill the caches of the layers from the first to the last stage are trimmed to the final kept set.
/// Variants. mustdrop (native schedule): windows with similarity ≥ 0.8 merge; stages at K = 3, 7, 11, 15 (the reference's layers 2, 6, 10,
/// 14); the released TextVQA thresholds (global, individual) 1/3: (0.001, 0.001), 2/9: (0.0012, 0.001), 1/9: (0.011, 0.01); adaptive count,
/// reported as T_eq by the hooks; other retentions need the thresholds as parameters. mustdrop-k2 (exact budget, methods.md item 4):
/// each unit merges the r_w most similar windows with r_w = ⌊merge_share·(N_u − k_u)/(w²−1)⌋ (merge_share 0.5), then one LLM stage at K
/// (default 2) keeps exactly k = keep(r·N) tokens: the key set first, then the highest g_v. Positions re-numbered (both).
/// Parameters: window, merge_threshold, merge_share, key_fraction, stage_layers, global_threshold, individual_threshold.
/// </summary>
public sealed class MustDrop : IPreLlmMethod, IIntraLlmMethod
{
    private readonly PruningSettings _settings;
    private readonly bool _exactBudget;
    private readonly int _window;
    private readonly double _mergeThreshold, _mergeShare, _keyFraction, _globalThreshold, _individualThreshold;
    private readonly int[] _stageLayers;
    private HashSet<long> _keyRows = [];
    private int _visualOriginal;

    public MustDrop(PruningSettings settings, bool exactBudget)
    {
        _settings = settings; _exactBudget = exactBudget;
        var p = new MethodParameters(Name, settings.Parameters);
        _window = p.Int("window", 0);
        _mergeThreshold = p.Double("merge_threshold", 0.8);
        _mergeShare = p.Double("merge_share", 0.5);
        _keyFraction = p.Double("key_fraction", 0.08);
        _stageLayers = p.Ints("stage_layers", exactBudget ? [settings.Layer] : [3, 7, 11, 15]);
        var (g, i) = ReleasedThresholds(settings.Retention);
        _globalThreshold = p.Double("global_threshold", g);
        _individualThreshold = p.Double("individual_threshold", i);
        p.RejectUnknown();
        if (!exactBudget && !settings.KeepsEverything && (double.IsNaN(_globalThreshold) || double.IsNaN(_individualThreshold)))
            throw new ArgumentException($"{Name}: thresholds were released only for retentions 1/3, 2/9, 1/9; give global_threshold and individual_threshold for {settings.Retention}");
        if (exactBudget && _stageLayers.Length != 1) throw new ArgumentException($"{Name}: the exact-budget variant has one LLM stage, got {_stageLayers.Length}");
    }

    public string Name => _exactBudget ? "mustdrop-k2" : "mustdrop";
    public PruningStage Stage => PruningStage.Hybrid;
    public bool TrimsCacheAfterPrefill => !_exactBudget;

    private static (double Global, double Individual) ReleasedThresholds(double r) =>
        Math.Abs(r - 1.0 / 3) < 1e-3 ? (0.001, 0.001) : Math.Abs(r - 2.0 / 9) < 1e-3 ? (0.0012, 0.001) : Math.Abs(r - 1.0 / 9) < 1e-3 ? (0.011, 0.01) : (double.NaN, double.NaN);

    // ---------------- vision side ----------------

    public PreLlmDecision Select(PreLlmContext context)
    {
        using var scope = NewDisposeScope();
        var vision = context.Vision;
        var layout = vision.Layout;
        int n = layout.Count;
        _visualOriginal = n;
        var embeddings = Selection.Require(vision.Embeddings, Name, "Vision.Embeddings", n);
        bool mergeBeforeProjector = vision.Project is not null && vision.FeaturesBeforeProjector is not null;
        var features = mergeBeforeProjector ? Selection.Require(vision.FeaturesBeforeProjector, Name, "Vision.FeaturesBeforeProjector", n) : embeddings;
        var importance = vision.ClsAttention ?? vision.AttentionReceived;

        var kept = new List<long>();
        var groups = new List<long[]>(); // members of each output token; one member = unmerged
        foreach (var unit in layout.Units)
        {
            var windows = Windows(unit);
            var mergedWindows = new List<long[]>();
            if (windows.Count > 0)
            {
                var similarity = Selection.ToFloats(WindowSimilarity(features, windows));
                IEnumerable<int> chosen;
                if (_exactBudget)
                {
                    int size = windows[0].Length, k = _settings.KeepCount(unit.Count);
                    int count = Math.Min(windows.Count, (int)(_mergeShare * (unit.Count - k) / (size - 1)));
                    chosen = Enumerable.Range(0, windows.Count).OrderByDescending(w => similarity[w]).ThenBy(w => w).Take(count).Order();
                }
                else chosen = Enumerable.Range(0, windows.Count).Where(w => similarity[w] >= _mergeThreshold);
                mergedWindows = chosen.Select(w => windows[w]).ToList();
            }
            var inMerged = new HashSet<long>(mergedWindows.SelectMany(w => w));
            foreach (var w in mergedWindows) { kept.Add(w[0]); groups.Add(w); }
            for (long v = unit.Offset; v < unit.Offset + unit.Count; v++)
                if (!inMerged.Contains(v)) { kept.Add(v); groups.Add([v]); }
        }

        // Key set over the merged sequence: importance summed per output token.
        _keyRows = [];
        if (importance is not null)
        {
            var score = Selection.ToFloats(Selection.Require(importance, Name, "Vision.ClsAttention/AttentionReceived", n));
            var tokenScore = groups.Select(g => g.Sum(v => (double)score[v])).ToArray();
            int keys = (int)Math.Ceiling(_keyFraction * groups.Count);
            foreach (int t in Enumerable.Range(0, groups.Count).OrderByDescending(t => tokenScore[t]).ThenBy(t => t).Take(keys))
                _keyRows.Add(layout.SequenceIndices[(int)kept[t]]);
        }

        if (groups.All(g => g.Length == 1)) return new PreLlmDecision([.. kept], null, 0, PositionPolicy.Renumber);
        var merged = groups.Where(g => g.Length > 1).Select(g => features.index_select(0, tensor(g)).to_type(ScalarType.Float32).mean([0])).ToArray();
        var mergedRows = stack(merged);
        var mergedEmbeddings = (mergeBeforeProjector ? vision.Project!(mergedRows.to_type(features.dtype)) : mergedRows).to_type(embeddings.dtype);
        int next = 0;
        var rows = groups.Select(g => g.Length > 1 ? mergedEmbeddings[next++] : embeddings[g[0]]).ToArray();
        return new PreLlmDecision([.. kept], stack(rows).MoveToOuterDisposeScope(), 0, PositionPolicy.Renumber);
    }

    private List<long[]> Windows(VisualUnit unit)
    {
        int rows = unit.GridRows, cols = unit.GridCols, tiles = Math.Max(1, unit.Tiles);
        if (rows * cols * tiles != unit.Count || rows == 0) return [];
        int w = _window > 0 ? _window : rows % 3 == 0 && cols % 3 == 0 ? 3 : 2;
        if (rows % w != 0 || cols % w != 0) return [];
        var windows = new List<long[]>();
        for (int t = 0; t < tiles; t++)
            for (int wr = 0; wr < rows / w; wr++)
                for (int wc = 0; wc < cols / w; wc++)
                {
                    var members = new long[w * w];
                    for (int i = 0; i < w; i++)
                        for (int j = 0; j < w; j++)
                            members[i * w + j] = unit.Offset + t * rows * cols + (wr * w + i) * cols + wc * w + j;
                    windows.Add(members);
                }
        return windows;
    }

    /// <summary>Mean pairwise cosine (self-pairs excluded) of each window's members.</summary>
    public static Tensor WindowSimilarity(Tensor features, IReadOnlyList<long[]> windows)
    {
        using var scope = NewDisposeScope();
        int size = windows[0].Length;
        var index = tensor(windows.SelectMany(w => w).ToArray());
        var x = Selection.Normalized(features).index_select(0, index).view(windows.Count, size, -1);
        var gram = x.matmul(x.transpose(1, 2));                                      // (W, s, s)
        var offDiagonal = gram.sum([1, 2]) - gram.diagonal(0, 1, 2).sum(1);
        return offDiagonal.DividedBy(size * (size - 1)).MoveToOuterDisposeScope();
    }

    // ---------------- LLM side ----------------

    public void Observe(PreLlmContext context, SequenceState state)
    {
        if (_visualOriginal == 0) _visualOriginal = context.Vision.Layout.Count;
    }

    public LayerProbe? Probe(int layerK, int numLayers, SequenceState state)
    {
        StageSchedule.RequireDepth(Name, _stageLayers, numLayers);
        return _stageLayers.Contains(layerK) && state.Layout.Count > 0 && state.TextAfterImage.Count > 0
            ? new LayerProbe(state.TextAfterImage.ToArray()) : null;
    }

    public LayerDecision? Decide(LayerContext context, SequenceState state)
    {
        using var scope = NewDisposeScope();
        int n = context.Layout.Count;
        var attention = ProbedAttention.ToVisual(context, context.TextAfterImage, Name); // (T, N)
        var global = Selection.ToFloats(attention.sum(dim: 0));
        var individual = Selection.ToFloats(attention.max(dim: 0).values);
        var isKey = Enumerable.Range(0, n).Select(v => _keyRows.Contains(state.OriginalRows[(int)context.Layout.SequenceIndices[v]])).ToArray();
        long[] kept;
        if (_exactBudget)
        {
            int k = Math.Min(n, _settings.KeepCount(_visualOriginal > 0 ? _visualOriginal : n));
            kept = Enumerable.Range(0, n).OrderByDescending(v => isKey[v]).ThenByDescending(v => global[v]).ThenBy(v => v).Take(k).Select(v => (long)v).Order().ToArray();
        }
        else
        {
            double total = global.Sum(v => (double)v);
            kept = Enumerable.Range(0, n).Where(v => isKey[v] || global[v] >= _globalThreshold * total || individual[v] >= _individualThreshold).Select(v => (long)v).ToArray();
        }
        return new LayerDecision(kept, PositionPolicy.Renumber);
    }
}
