using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Pruning.Abstractions;
using UniPrune.Engine.Pruning.Common;
using static TorchSharp.torch;
using UniPrune.Engine.Models.Common;

namespace UniPrune.Engine.Pruning.Methods;

/// <summary>
/// FitPrune (as in UniPruneBench's FitPrune_IntraLLM; methods.md §2.12): at the input of layer K (default 2), from the head-max
/// attention of layer K−1, self score = column sums of the visual×visual block / N, cross score = column sums of the
/// text-after-image×visual block, score = self·cross; keep the k = keep(r·N) highest, sorted; original position ids.
/// Difference from the reference: UniPruneBench sorts ascending and keeps the first k — the lowest-scored tokens (its comment says
/// "select topK to delete"; pitfall U2, consistent with FitPrune scoring below random there). We keep the highest, as the paper intends.
/// The attention rows are probed for the visual and text-after-image rows only.
/// </summary>
public sealed class FitPrune(PruningSettings settings) : IIntraLlmMethod
{
    public string Name => "fitprune";
    public PruningStage Stage => PruningStage.IntraLlm;

    public LayerProbe? Probe(int layerK, int numLayers, SequenceState state) =>
        layerK == settings.Layer ? new LayerProbe([.. state.Layout.SequenceIndices, .. state.TextAfterImage]) : null;

    public LayerDecision? Decide(LayerContext context, SequenceState state)
    {
        using var scope = NewDisposeScope();
        int n = context.Layout.Count;
        var selfAttention = ProbedAttention.ToVisual(context, context.Layout.SequenceIndices, Name, headMax: true);  // (N, N)
        var crossAttention = ProbedAttention.ToVisual(context, context.TextAfterImage, Name, headMax: true);        // (T, N)
        var score = selfAttention.sum(dim: 0).DividedBy(n) * crossAttention.sum(dim: 0);
        return new LayerDecision(Selection.TopKAscending(score, settings.KeepCount(n)), PositionPolicy.KeepOriginal);
    }
}
