using UniPrune.Engine.Imaging;
using static TorchSharp.torch;

namespace UniPrune.Engine.Models.Abstractions;

/// <summary>Vision-side evidence beyond the embeddings, computed only when asked (pre-projector features are always kept: they are free).</summary>
[Flags]
public enum VisionExtras
{
    None = 0,
    /// <summary>Head-mean CLS→patch attention of the selected vision layer (CLIP, InternViT).</summary>
    ClsAttention = 1,
    /// <summary>Raw q/k projections of the last vision layer incl. CLS (CLIP; PruMerge).</summary>
    LastLayerQueryKey = 2,
    /// <summary>Attention received in the last full-attention block (Qwen2.5-VL's CLS substitute).</summary>
    AttentionReceived = 4,
    All = ClsAttention | LastLayerQueryKey | AttentionReceived,
}

/// <summary>
/// One image after the vision tower and projector: everything a prompt needs from it, independent of the prompt,
/// the pruning method and the ratio, so a harness can encode once and reuse it. Tensors live on the model's device.
/// </summary>
public sealed class EncodedImage : IDisposable
{
    /// <summary>Projected visual tokens (n, H) in LLM space, in the order they fill the placeholder rows.</summary>
    public required Tensor Embeddings { get; init; }
    /// <summary>The projector's input rows (n, C) (see <see cref="VisionEvidence.FeaturesBeforeProjector"/>).</summary>
    public Tensor? FeaturesBeforeProjector { get; init; }
    public Tensor? ClsAttention { get; init; }
    public Tensor? AttentionReceived { get; init; }
    public Tensor? LastLayerQueries { get; init; }
    public Tensor? LastLayerKeys { get; init; }
    /// <summary>Units of this image with offsets relative to its first token (ImageIndex is set when spliced).</summary>
    public required IReadOnlyList<VisualUnit> Units { get; init; }
    /// <summary>Wall-clock milliseconds of the vision tower + projector (device-synchronised).</summary>
    public double VisionMs { get; init; }
    public int TokenCount => (int)Embeddings.shape[0];

    public void Dispose()
    {
        Embeddings.Dispose();
        FeaturesBeforeProjector?.Dispose(); ClsAttention?.Dispose(); AttentionReceived?.Dispose();
        LastLayerQueries?.Dispose(); LastLayerKeys?.Dispose();
    }
}

/// <summary>Text ↔ ids for a model's prompts. Implemented by the tokenizers (Text); models only call it.</summary>
public interface ITextTokenizer
{
    /// <summary>Ids of a text chunk without BOS/EOS (SentencePiece tokenizers add their dummy prefix, as HF's slow LLaMA tokenizer does).</summary>
    IReadOnlyList<long> Encode(string text);
    /// <summary>Text of generated ids; special tokens (BOS/EOS/pad) left out.</summary>
    string Decode(IReadOnlyList<long> ids);
}

/// <summary>Load-time choices shared by every family.</summary>
/// <param name="DType">float32, bfloat16 or float16 for weights and activations.</param>
/// <param name="TokenizerLoader">Builds the tokenizer from a tokenizer.json path (null: prompts must come as ids).</param>
public sealed record ModelLoadOptions(ScalarType DType, Device Device, Func<string, ITextTokenizer>? TokenizerLoader = null)
{
    public static ModelLoadOptions Cpu(ScalarType dtype = ScalarType.Float32) => new(dtype, CPU);
}

/// <summary>
/// The harness's view of a vision-language model: encode images once, then answer prompts with optional pruning.
/// Generation is greedy; times are per stage and device-synchronised.
/// </summary>
public interface IVisionLanguageModel : IDisposable
{
    ModelIdentity Identity { get; }

    /// <summary>Preprocesses and encodes one image (vision tower + projector), with the extras a method may need.</summary>
    EncodedImage EncodeImage(RgbImage image, VisionExtras extras = VisionExtras.All);

    /// <summary>Answers a prompt whose i-th image segment is <paramref name="images"/>[i]; hooks null = vanilla inference.</summary>
    GenerationResult Generate(PromptMessage prompt, IReadOnlyList<EncodedImage> images, IPruningHooks? hooks, GenerationOptions options);
}
