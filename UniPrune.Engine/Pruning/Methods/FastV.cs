using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Pruning.Abstractions;
using UniPrune.Engine.Pruning.Common;
using static TorchSharp.torch;

namespace UniPrune.Engine.Pruning.Methods;

/// <summary>
/// FastV (pkunlp-icler/FastV, arXiv 2403.06764; methods.md §2.6): at the input of layer K (default 2) score every visual token by the
/// head-mean softmax attention it receives from the last prompt token at layer K−1, keep the top k = keep(r·N) over the whole visual
/// span, sorted ascending; original position ids are kept. The attention row is computed by the model for that one query row inside the
/// same forward (the probe), never by re-running the layer.
/// Differences from the reference: k = keep(r·N) instead of int(576·ratio); K = 2 (the repo's KV-cache script hard-codes K = 3);
/// UniPruneBench returns the top-k unsorted (pitfall U3), we sort. The paper's "average attention received from all tokens" wording is
/// not used: both released implementations score with the last token, and so do we.
/// </summary>
public sealed class FastV(PruningSettings settings) : IIntraLlmMethod
{
    public string Name => "fastv";
    public PruningStage Stage => PruningStage.IntraLlm;

    public LayerProbe? Probe(int layerK, int numLayers, SequenceState state) =>
        layerK == settings.Layer ? new LayerProbe([state.LastRow]) : null;

    public LayerDecision? Decide(LayerContext context, SequenceState state)
    {
        using var scope = NewDisposeScope();
        var scores = Scores(LastRowAttention(context, Name), context.Layout);
        return new LayerDecision(Selection.TopKAscending(scores, settings.KeepCount(context.Layout.Count)), PositionPolicy.KeepOriginal);
    }

    /// <summary>Head-mean attention of the probed last row to each visual token (N).</summary>
    public static Tensor Scores(Tensor lastRowAttentionPerHead, VisualLayout layout)
    {
        using var scope = NewDisposeScope();
        var mean = lastRowAttentionPerHead.to_type(ScalarType.Float32).mean([0]);
        return mean.index_select(0, tensor(layout.SequenceIndices.ToArray())).MoveToOuterDisposeScope();
    }

    /// <summary>(heads, L) attention of the last probed row, checked against the context.</summary>
    internal static Tensor LastRowAttention(LayerContext context, string method)
    {
        var attention = context.Attention ?? throw new InvalidOperationException($"{method}: the model gave no attention at layer {context.Layer - 1}");
        long last = context.Layout.SequenceLength - 1;
        int row = context.AttentionQueryRows.ToList().IndexOf(last);
        if (attention.dim() != 3 || row < 0)
            throw new InvalidOperationException($"{method}: expected attention (heads, rows, L) with the last row {last} among the probed rows [{string.Join(", ", context.AttentionQueryRows)}], got shape [{string.Join(", ", attention.shape)}]");
        return attention.select(1, row);
    }
}
