using UniPrune.Engine.Models.Abstractions;

namespace UniPrune.Engine.Pruning.Abstractions;

/// <summary>Where a method acts (the UniPruneBench taxonomy plus the decode stage).</summary>
public enum PruningStage
{
    /// <summary>After the vision tower / projector, before the LLM (ViT-only methods).</summary>
    PreLlm,
    /// <summary>Once, at the input of layer K (LLM-only methods).</summary>
    IntraLlm,
    /// <summary>At several layers of the prefill.</summary>
    MultiStage,
    /// <summary>Vision-side and LLM-side stages, possibly with decode-stage cache trimming (hybrid methods).</summary>
    Hybrid,
}

/// <summary>A pruning method. Methods see only the seam contexts and return indices (and merged features); they never edit the
/// model's tensors or caches.</summary>
public interface IPruningMethod
{
    string Name { get; }
    PruningStage Stage { get; }
}

/// <summary>A method that chooses the visual tokens entering the LLM.</summary>
public interface IPreLlmMethod : IPruningMethod
{
    PreLlmDecision Select(PreLlmContext context);
}

/// <summary>A method that drops visual tokens inside the LLM, at one or several layers.</summary>
public interface IIntraLlmMethod : IPruningMethod
{
    /// <summary>Sees the prompt once before the LLM runs (SparseVLM picks its text raters here). <paramref name="state"/> is the
    /// sequence the LLM will run on (after any pre-LLM stage).</summary>
    void Observe(PreLlmContext context, SequenceState state) { }

    /// <summary>What to capture at layer K−1 for a decision at the input of layer K; null when the method does not act at K.</summary>
    LayerProbe? Probe(int layerK, int numLayers, SequenceState state);

    /// <summary>The decision at the input of layer K (only called when <see cref="Probe"/> returned a probe).</summary>
    LayerDecision? Decide(LayerContext context, SequenceState state);

    /// <summary>True when, after prefill, the caches of earlier-pruned layers are trimmed to the final kept set (MustDrop stage 3).</summary>
    bool TrimsCacheAfterPrefill => false;
}
