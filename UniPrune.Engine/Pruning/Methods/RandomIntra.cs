using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Pruning.Abstractions;

namespace UniPrune.Engine.Pruning.Methods;

/// <summary>
/// Random-Intra (UniPruneBench baseline, methods.md §2.1): at the input of layer K (default 2) keep a seeded uniform subset of
/// k = keep(r·N) of the visual tokens (whole visual span), sorted ascending. Nothing is probed.
/// Difference from the reference: UniPruneBench re-numbers 2-D positions after the drop; we keep the original ids like FastV/DART
/// (and the golden intra-LLM references), so the two intra-LLM baselines differ only in which tokens they keep.
/// </summary>
public sealed class RandomIntra(PruningSettings settings) : IIntraLlmMethod
{
    public string Name => "random-intra";
    public PruningStage Stage => PruningStage.IntraLlm;

    public LayerProbe? Probe(int layerK, int numLayers, SequenceState state) => layerK == settings.Layer ? new LayerProbe([]) : null;

    public LayerDecision? Decide(LayerContext context, SequenceState state)
    {
        int n = context.Layout.Count;
        return new LayerDecision(RandomSubset.Draw(settings.Seed, context.Layer, n, settings.KeepCount(n)), PositionPolicy.KeepOriginal);
    }
}
