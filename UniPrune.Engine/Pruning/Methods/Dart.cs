using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Pruning.Abstractions;
using UniPrune.Engine.Pruning.Common;
using static TorchSharp.torch;
using UniPrune.Engine.Models.Common;

namespace UniPrune.Engine.Pruning.Methods;

/// <summary>How DART walks its pivots.</summary>
public enum DartPivotOrder
{
    /// <summary>The reference's <c>list(set(image_pivots + text_pivots))</c> order (CPython set layout of the prompt-row ints).</summary>
    PythonSet,
    /// <summary>Image pivots by descending key norm, then text pivots by descending key norm (methods.md §2.8's suggestion).</summary>
    ImageThenText,
}

/// <summary>
/// DART (arXiv 2502.11494; methods.md §2.8; reference: LightCompress port of ZichenWen1/DART, <c>get_retained_image_token</c>): at the
/// input of layer K (default 2), pivots are the |P_I| visual tokens (default 4) and the |P_T| rows after the image (default 4; question
/// and chat-template suffix) with the largest L1 norm of their post-RoPE layer-(K−1) keys (KV heads concatenated). For each pivot, in
/// the reference's Python-set order, the TOKEN_TOPK remaining candidate visual tokens with the lowest cosine similarity to the pivot
/// (measured on the layer-(K−1) output passed through the model's final norm) are retained and leave the candidate pool. Kept = image
/// pivots ∪ all picks, sorted; original position ids.
/// Count: TOKEN_TOPK = k // (|P_I|+|P_T|) with k = keep(r·N) (the official max_num_trunction // 8 with max_num_trunction = k), so DART
/// keeps |P_I| + (|P_I|+|P_T|)·TOKEN_TOPK tokens — its documented count, which overshoots k (132 for 128 at N = 576). With
/// exact_count=true, TOKEN_TOPK = (k − |P_I|) // P and the remainder is filled from the last pivot's list, giving exactly k.
/// Differences from the reference / methods.md: methods.md says LightCompress gives 132 for 128; with its shipped reduction_ratio 0.7778 it
/// gives 124 (golden README disagreement 3) — we follow the official max_num_trunction form. All pivot cosines come from one normalised matmul (the
/// reference calls cosine_similarity once per pivot; float rounding differs at 1e−7). Candidates are scanned in ascending order
/// (the reference uses set order; only exact cosine ties could differ). Parameters: pivot_image, pivot_text, exact_count, pivot_order.
/// </summary>
public sealed class Dart : IIntraLlmMethod
{
    private readonly PruningSettings _settings;
    private readonly int _pivotImage, _pivotText;
    private readonly bool _exactCount;
    private readonly DartPivotOrder _order;

    public Dart(PruningSettings settings)
    {
        _settings = settings;
        var p = new MethodParameters(Name, settings.Parameters);
        _pivotImage = p.Int("pivot_image", 4);
        _pivotText = p.Int("pivot_text", 4);
        _exactCount = p.Bool("exact_count", false);
        _order = p.Enum("pivot_order", DartPivotOrder.PythonSet);
        p.RejectUnknown();
        if (_pivotImage < 1 || _pivotText < 0) throw new ArgumentException($"{Name}: need pivot_image ≥ 1 and pivot_text ≥ 0, got {_pivotImage}/{_pivotText}");
    }

    public string Name => "dart";
    public PruningStage Stage => PruningStage.IntraLlm;

    public LayerProbe? Probe(int layerK, int numLayers, SequenceState state) =>
        layerK == _settings.Layer ? new LayerProbe([], NeedsKeys: true) : null;

    public LayerDecision? Decide(LayerContext context, SequenceState state)
    {
        using var scope = NewDisposeScope();
        var keys = context.Keys ?? throw new InvalidOperationException($"{Name}: the model gave no layer-{context.Layer - 1} keys");
        var normed = context.FinalNorm(context.Hidden);
        var trace = Run(keys, normed, context.Layout, context.TextAfterImage, _settings.KeepCount(context.Layout.Count), _pivotImage, _pivotText, _exactCount, _order);
        return new LayerDecision(trace.Kept, PositionPolicy.KeepOriginal);
    }

    /// <summary>What DART did: pivots, the order it walked them, and each pivot's picks (visual indices).</summary>
    public sealed record Trace(long[] Kept, long[] ImagePivots, long[] TextPivotRows, long[] PivotOrderRows, IReadOnlyList<long[]> Picks, int TokenTopK);

    public static Trace Run(Tensor keys, Tensor normedHidden, VisualLayout layout, IReadOnlyList<long> textAfterImage, int k,
        int pivotImage = 4, int pivotText = 4, bool exactCount = false, DartPivotOrder order = DartPivotOrder.PythonSet)
    {
        using var scope = NewDisposeScope();
        int n = layout.Count;
        var visualRows = layout.SequenceIndices.ToArray();
        var textRows = textAfterImage.ToArray();
        pivotImage = Math.Min(pivotImage, n);
        pivotText = Math.Min(pivotText, textRows.Length);
        int pivots = pivotImage + pivotText;
        int topK = exactCount ? Math.Max(0, k - pivotImage) / pivots : k / pivots;
        int remainder = exactCount ? Math.Max(0, k - pivotImage) - topK * pivots : 0;

        var keyNorm = keys.to_type(ScalarType.Float32).abs().sum(1); // L1 norm per row
        var imagePivots = Selection.TopKOrder(keyNorm.index_select(0, tensor(visualRows)), pivotImage);
        var textPivotRows = Selection.TopKOrder(keyNorm.index_select(0, tensor(textRows)), pivotText).Select(i => textRows[i]).ToArray();
        var imagePivotRows = imagePivots.Select(i => visualRows[i]).ToArray();
        long[] walk = order == DartPivotOrder.PythonSet
            ? PythonSetOrder.Of([.. imagePivotRows, .. textPivotRows])
            : [.. imagePivotRows, .. textPivotRows];

        // All pivot-to-visual cosines in one matmul; each pivot then takes its least similar remaining candidates.
        var unit = nn.functional.normalize(normedHidden.to_type(ScalarType.Float32), p: 2, dim: 1);
        var cosines = unit.index_select(0, tensor(walk)).matmul(unit.index_select(0, tensor(visualRows)).t()); // (pivots, N)
        var taken = new bool[n];
        foreach (long v in imagePivots) taken[v] = true;
        var picks = new List<long[]>();
        var kept = new SortedSet<long>(imagePivots);
        int available = n - imagePivots.Length;
        for (int p = 0; p < walk.Length; p++)
        {
            int take = Math.Min(topK + (p == walk.Length - 1 ? remainder : 0), available);
            if (take == 0) { picks.Add([]); continue; }
            using var inner = NewDisposeScope();
            var mask = tensor(taken);
            var least = Selection.TopKOrder(-cosines[p].masked_fill(mask, HeldScalars.PositiveInfinity), take);
            picks.Add(least);
            foreach (long v in least) { kept.Add(v); taken[v] = true; }
            available -= take;
        }
        return new Trace([.. kept], imagePivots, textPivotRows, walk, picks, topK);
    }
}
