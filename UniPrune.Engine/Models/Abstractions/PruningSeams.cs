using static TorchSharp.torch;

namespace UniPrune.Engine.Models.Abstractions;

// The small contract between models and pruning methods. Models expose evidence at their seams and apply the
// decisions (hidden states, position ids, causal mask, KV cache, next decode position); methods only choose
// indices. Tensors in the contexts belong to the model's forward scope: methods read them and must not dispose
// them; tensors a method returns are owned by the model from then on.

/// <summary>How position ids of the kept sequence are formed after a drop (methods.md §1.4).</summary>
public enum PositionPolicy
{
    /// <summary>Kept tokens keep their original ids (FastV, DART, VTW; Qwen's 3-D ids are gathered).</summary>
    KeepOriginal,
    /// <summary>Ids are re-numbered 0..len'-1 (LLaVA/InternVL pre-LLM, SparseVLM v1, MustDrop). Qwen's 3-D ids are gathered instead.</summary>
    Renumber,
}

/// <summary>Which kind of vision tower produced the evidence: methods pick their feature space from it (VisPruner measures
/// similarity before the projector on CLIP, after it elsewhere; PruMerge needs CLIP's last-layer q/k).</summary>
public enum VisionTowerKind
{
    /// <summary>Not stated by the model; methods that depend on the tower refuse to run.</summary>
    Unspecified,
    /// <summary>CLIP ViT with CLS, one visual token per patch (LLaVA-1.5).</summary>
    ClipWithCls,
    /// <summary>InternViT with CLS, tiles pixel-shuffled 2×2 into one token (InternVL3).</summary>
    InternVitPixelShuffle,
    /// <summary>Qwen2.5-VL windowed ViT without CLS, 2×2 merge units (Qwen2.5-VL).</summary>
    QwenWindowedNoCls,
}

/// <summary>Evidence from the vision side for one prompt (all images, visual tokens in sequence order).</summary>
public sealed class VisionEvidence
{
    /// <summary>Projected visual embeddings in LLM space (N, H): hook H2.</summary>
    public required Tensor Embeddings { get; init; }
    /// <summary>Vision features before the projector, one row per visual token (N, C): hook H1. Qwen: the merger input
    /// regrouped per merge unit (N, 4C); InternVL: pixel-shuffled features (N, 4C).</summary>
    public Tensor? FeaturesBeforeProjector { get; init; }
    /// <summary>Head-mean CLS→patch attention at the selected vision layer, per visual token (N), when the tower has a CLS
    /// (LLaVA: per patch; InternVL: summed over each 2×2 pixel-shuffle group). Null for Qwen2.5-VL.</summary>
    public Tensor? ClsAttention { get; init; }
    /// <summary>CLS-free importance substitute (N): Qwen2.5-VL's attention received in the last full-attention block, mean per merge unit (methods.md §1.3 (b)).</summary>
    public Tensor? AttentionReceived { get; init; }
    /// <summary>Raw q/k projections of the last vision layer including CLS (1+P, C), for PruMerge (LLaVA).</summary>
    public Tensor? LastLayerQueries { get; init; }
    public Tensor? LastLayerKeys { get; init; }
    public required VisualLayout Layout { get; init; }
    /// <summary>The tower that produced this evidence (added for the pruning methods; default Unspecified).</summary>
    public VisionTowerKind Tower { get; init; } = VisionTowerKind.Unspecified;
    /// <summary>The model's projector: rows shaped like <see cref="FeaturesBeforeProjector"/> → LLM space (M, H). Merging methods that
    /// merge before the projector (PruMerge on CLIP) need it; null when the model does not offer it.</summary>
    public Func<Tensor, Tensor>? Project { get; init; }
}

/// <summary>What a pre-LLM method sees: vision evidence plus the prompt's text-token embeddings.</summary>
public sealed class PreLlmContext
{
    public required VisionEvidence Vision { get; init; }
    /// <summary>Input embeddings of the non-visual prompt tokens (T, H), in sequence order.</summary>
    public required Tensor TextEmbeddings { get; init; }
    /// <summary>Sequence indices of the text tokens that follow the (last) image: the question and template suffix.</summary>
    public required IReadOnlyList<long> TextAfterImage { get; init; }
}

/// <summary>A pre-LLM decision: which visual tokens enter the LLM, in which order, optionally with replaced embeddings (merging methods).</summary>
/// <param name="Kept">Indices into the visual tokens (0..N-1), in the order they enter the LLM; unique.</param>
/// <param name="Embeddings">Replacement embeddings (kept.Length [+ extra], H) in LLM space, or null to gather the originals.</param>
/// <param name="ExtraTokens">Merged tokens appended after the kept ones (PruMerge's extra token); rows at the end of <paramref name="Embeddings"/>.</param>
public sealed record PreLlmDecision(long[] Kept, Tensor? Embeddings = null, int ExtraTokens = 0, PositionPolicy Positions = PositionPolicy.Renumber);

/// <summary>What an intra-LLM method may ask the model to compute at layer K−1, inside the same forward (never a second pass).</summary>
public sealed record LayerProbe(
    /// <summary>Sequence rows whose softmax attention (all heads) of layer K−1 is needed; empty for none.</summary>
    IReadOnlyList<long> AttentionQueryRows,
    bool NeedsKeys = false);

/// <summary>What an intra-LLM method sees at the input of layer K (the first layer that runs on the reduced sequence).</summary>
public sealed class LayerContext
{
    /// <summary>K: the first layer that runs on the reduced sequence.</summary>
    public required int Layer { get; init; }
    public required int NumLayers { get; init; }
    /// <summary>Current layout of visual tokens in the current (possibly already reduced) sequence.</summary>
    public required VisualLayout Layout { get; init; }
    /// <summary>Hidden states entering layer K (L, H) = output of layer K−1.</summary>
    public required Tensor Hidden { get; init; }
    /// <summary>Softmax attention probabilities of layer K−1 for the probe's query rows (heads, rows, L); null when not asked.</summary>
    public Tensor? Attention { get; init; }
    public IReadOnlyList<long> AttentionQueryRows { get; init; } = [];
    /// <summary>Post-RoPE keys of layer K−1 as cached, KV heads concatenated (L, n_kv·head_dim); null when not asked.</summary>
    public Tensor? Keys { get; init; }
    /// <summary>The model's final norm (DART measures duplication on normalised hidden states).</summary>
    public required Func<Tensor, Tensor> FinalNorm { get; init; }
    /// <summary>Input embeddings of the full original prompt (L0, H) (SparseVLM's raters).</summary>
    public required Tensor PromptEmbeddings { get; init; }
    /// <summary>Current sequence indices of text tokens after the image (question + template suffix).</summary>
    public required IReadOnlyList<long> TextAfterImage { get; init; }
}

/// <summary>An intra-LLM decision: which of the current visual tokens survive (indices into the current visual tokens, ascending).</summary>
/// <param name="AppendedVisual">Merged tokens (c, H) inserted right after the last kept visual token and counted as visual tokens of
/// the new layout (SparseVLM's recycled clusters). Only used with <see cref="PositionPolicy.Renumber"/>. Null for none.</param>
public sealed record LayerDecision(long[] KeptVisual, PositionPolicy Positions = PositionPolicy.KeepOriginal, Tensor? ReplacementHidden = null,
    Tensor? AppendedVisual = null);

/// <summary>
/// Decode-stage KV-cache trimming, asked once after prefill (MustDrop's output-aware cache): for each listed layer, the rows of
/// that layer's cached prompt to keep (indices into its current cache, ascending). Unlisted layers keep their cache.
/// Decode positions are unchanged by a trim.
/// </summary>
public sealed record KvCacheTrim(IReadOnlyDictionary<int, long[]> KeptRowsByLayer);

/// <summary>
/// What a model calls while it runs a prompt. The pruning framework implements it from a method (or a two-stage
/// combination); a null hooks object means vanilla inference. Models never know which method is behind it.
/// </summary>
public interface IPruningHooks
{
    /// <summary>Called once after the vision tower and projector, before splicing. Null keeps every visual token.</summary>
    PreLlmDecision? OnVisualTokens(PreLlmContext context);

    /// <summary>Asked before running layer K−1 (for each K ≥ 1): what to capture for a decision at the input of layer K; null when there is none.</summary>
    LayerProbe? ProbeBeforeLayer(int layerK, int numLayers);

    /// <summary>Called at the input of layer K when <see cref="ProbeBeforeLayer"/> returned a probe. Null keeps every token.</summary>
    LayerDecision? OnLayerInput(LayerContext context);

    /// <summary>Called once after prefill, before the first decode step, with each layer's cached prompt length (added for
    /// MustDrop's decode stage; default: no trim). The model index-selects each listed layer's K/V cache.</summary>
    KvCacheTrim? AfterPrefill(IReadOnlyList<int> cachedRowsPerLayer) => null;
}
