using UniPrune.Engine.Datasets;
using UniPrune.Engine.Imaging;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.Common;
using UniPrune.Engine.Models.Qwen25VL;
using UniPrune.Engine.Synthetic;
using static TorchSharp.torch;

namespace UniPrune.Engine.Training;

/// <summary>The rows of a teacher-forced prompt that predict the answer, and what they should predict.</summary>
/// <param name="AnswerLogits">(T, V) float32: row t predicts target token t.</param>
/// <param name="Targets">(T) int64: the answer's tokens, then the turn end.</param>
/// <param name="InputIds">The whole teacher-forced sequence: the evaluation prompt's ids, then the targets.</param>
/// <param name="Images">The encoded images in the order they fill the prompt.</param>
public sealed record TeacherForcedRows(Tensor AnswerLogits, Tensor Targets, long[] InputIds, IReadOnlyList<EncodedImage> Images)
{
    /// <summary>Cuts the answer rows out of all-row logits of <paramref name="prompt"/> + <paramref name="target"/>.</summary>
    public static TeacherForcedRows From(Tensor allLogits, IReadOnlyList<long> prompt, long[] target, IReadOnlyList<EncodedImage> images)
    {
        int length = prompt.Count + target.Length;
        // Row t predicts token t+1: the answer's tokens are predicted by the target.Length rows before the last.
        return new TeacherForcedRows(allLogits[(length - target.Length - 1)..(length - 1)], tensor(target, dtype: ScalarType.Int64),
            [.. prompt, .. target], images);
    }
}

/// <summary>
/// Teacher-forced loss of a Qwen2.5-VL model on one example through the model's own prompt code: the chat template and
/// one &lt;|image_pad|&gt; per merged token (<see cref="Qwen25VLModel.TokenizePrompt"/>), smart_resize with the plan's
/// min_pixels override (VLMEvalKit's OCRBench rule, as the harness applies it), the windowed tower and merger with
/// autograd, the splice and the M-RoPE ids of <see cref="Qwen25VLModel.TeacherForcedLogits"/>. Target: the answer's tokens
/// then &lt;|im_end|&gt;, where the template ends the assistant turn. The model needs its tokenizer attached.
/// </summary>
public sealed class QwenTrainingFamily(Qwen25VLModel model, QwenImageProcessor processor, AuxiliaryLosses? losses = null) : ITrainingFamily
{
    public nn.Module Module => model;

    /// <summary>The training-only heads (the reconstruction target: each merged token's 28-px merge unit).</summary>
    private readonly AuxiliaryHeads _heads = new(model.Config.Text.HiddenSize, losses);

    public IReadOnlyList<nn.Module> Auxiliary => _heads.Modules;

    /// <inheritdoc/>
    public bool PackSharedImages { get; set; }

    /// <summary>
    /// Each image through the windowed tower on its own (grids differ from image to image), then one decoder pass over the
    /// padded prompts with each prompt's own M-RoPE ids.
    /// </summary>
    public Tensor Loss(IReadOnlyList<TrainingExample> batch)
    {
        using var scope = NewDisposeScope();
        var sequences = new List<TeacherForcedSequence>();
        var heads = new AuxiliaryTargets();
        // With packing, an image that several of the batch's examples ask about goes through the tower once.
        var encoded = PackSharedImages ? new Dictionary<string, EncodedImage>() : null;
        foreach (var example in batch)
        {
            var (prompt, target, ordered) = Sequence(example, heads, encoded);
            var (embeds, positions) = model.TeacherForcedInputs([.. prompt, .. target], ordered);
            sequences.Add(new TeacherForcedSequence(embeds, positions, target, Pointers(example, prompt, target, ordered, heads)));
        }
        if (PackSharedImages)
            sequences = PackedPrompt.Pack(sequences, batch.Select(e => e.FirstImageKey).ToList()).ToList();
        var (language, rotary) = model.TrainingDecoder;
        var loss = TeacherForcedBatch.Loss(language, rotary, sequences, _heads.Pointer, _heads.Copy);
        if (_heads.Reconstruction is { } reconstruction && heads.PixelTokens.Count > 0)
            loss = loss.Plus(reconstruction.Loss(cat(heads.PixelTokens, 0), cat(heads.Pixels, 0)).Times(_heads.Weights.Reconstruction));
        if (_heads.Symbols is { } symbols && heads.SymbolTokens.Count > 0)
            loss = loss.Plus(symbols.Loss(cat(heads.SymbolTokens, 0), cat(heads.Symbols, 0)).Times(_heads.Weights.Symbols));
        return loss.MoveToOuterDisposeScope();
    }

    public TeacherForcedRows TeacherForced(TrainingExample example)
    {
        var (prompt, target, ordered) = Sequence(example);
        var logits = model.TeacherForcedLogits([.. prompt, .. target], ordered);
        return TeacherForcedRows.From(logits, prompt, target, ordered);
    }

    /// <summary>The evaluation prompt's ids, the target (answer then &lt;|im_end|&gt;) and the encoded images in prompt order.</summary>
    /// <param name="heads">When given, each image's merged tokens and their auxiliary targets are added to it.</param>
    /// <param name="encoded">When given, images already encoded in this batch (by key and processor rule) are reused, and new ones added.</param>
    private (long[] Prompt, long[] Target, List<EncodedImage> Ordered) Sequence(TrainingExample example, AuxiliaryTargets? heads = null,
        Dictionary<string, EncodedImage>? encoded = null)
    {
        var tokenizer = model.Tokenizer ?? throw new InvalidOperationException("the Qwen model needs its tokenizer (UseTokenizer) to build training prompts");
        var images = example.Plan.Images.Select((i, k) =>
        {
            if (encoded is null) return EncodeForTraining(i, example.Plan, example.SceneOf(k), heads);
            string key = $"{i.Key} {example.Plan.QwenMinPixels}";
            if (!encoded.TryGetValue(key, out var e)) encoded[key] = e = EncodeForTraining(i, example.Plan, example.SceneOf(k), heads);
            return e;
        }).ToList();
        var ordered = example.Plan.Message.Segments.OfType<ImageSegment>().Select(s => images[s.ImageIndex]).ToList();
        var prompt = model.TokenizePrompt(example.Plan.Message, images);
        long[] target = [.. tokenizer.Encode(example.Answer), TrainingTokens.Single(tokenizer, Qwen25VLPrompt.ImEnd)];
        return (prompt, target, ordered);
    }

    /// <summary>The processor the harness would use for this plan (min_pixels override, the folder's max_pixels).</summary>
    public QwenImageProcessor ProcessorFor(PromptPlan plan) => plan.QwenMinPixels is int min ? processor with { MinPixels = min } : processor;

    private EncodedImage EncodeForTraining(SampleImage image, PromptPlan plan, Scene? scene, AuxiliaryTargets? heads)
    {
        var decoded = ImageDecoder.Decode(image.Bytes, image.Origin);
        using var input = ProcessorFor(plan).Process(decoded, image.Origin);
        var encoded = model.EncodePixelsForTraining(input.PixelValues, input.Grid);
        var v = model.Config.Vision;
        if (heads is not null && _heads.Reconstruction is not null)
        {
            heads.PixelTokens.Add(encoded.Embeddings);
            heads.Pixels.Add(PatchReconstructionHead.QwenMergeUnitTargets(input.PixelValues, v.SpatialMergeSize, v.PatchSize, v.TemporalPatchSize));
        }
        if (heads is not null && _heads.NeedTokenBoxes && scene is not null)
        {
            // Token regions once per image, for whichever heads need them.
            var boxes = SymbolTargets.QwenTokens(decoded.Width, decoded.Height, input.ResizedImage.Width, input.ResizedImage.Height,
                v.PatchSize * v.SpatialMergeSize);
            if (_heads.Pointer is not null) heads.TokenBoxes[encoded] = boxes;
            if (_heads.Symbols is not null)
            {
                heads.SymbolTokens.Add(encoded.Embeddings);
                heads.Symbols.Add(SymbolTargets.For(scene, boxes).to(encoded.Embeddings.device));
            }
        }
        return encoded;
    }

    /// <summary>Visual tokens and the targets of each auxiliary head, gathered over a batch.</summary>
    private sealed class AuxiliaryTargets
    {
        public List<Tensor> PixelTokens { get; } = [];
        public List<Tensor> Pixels { get; } = [];
        public List<Tensor> SymbolTokens { get; } = [];
        public List<Tensor> Symbols { get; } = [];
        /// <summary>Each encoded image's token regions, where a reading pointer may need them.</summary>
        public Dictionary<EncodedImage, IReadOnlyList<Box>> TokenBoxes { get; } = new(ReferenceEqualityComparer.Instance);
    }

    /// <summary>A one-image example's reading pointers (its merged tokens are the prompt's &lt;|image_pad|&gt; rows, in tower order).</summary>
    private IReadOnlyList<ReadingPointer>? Pointers(TrainingExample example, long[] prompt, long[] target, IReadOnlyList<EncodedImage> ordered, AuxiliaryTargets heads)
    {
        long pad = TrainingTokens.Single(model.Tokenizer!, Qwen25VLPrompt.ImagePad);
        IReadOnlyList<ReadingPointer>? reading = _heads.Pointer is not null && ordered.Count == 1 && heads.TokenBoxes.TryGetValue(ordered[0], out var boxes)
            ? ReadingPointers.For(example.SceneOf(0), example.Answer, target[..^1], model.Tokenizer!, boxes, TrainingTokens.RowsOf(prompt, pad))
            : null;
        return TrainingTokens.WithCopyPointers(reading, _heads.Copy, example, target, model.Tokenizer!, () => TrainingTokens.TextOf(prompt, pad));
    }

    /// <summary>
    /// Trainer.Initialise plus what its name rules miss here: the merger's RMSNorm (ln_q) starts at 1 like every other norm.
    /// </summary>
    public static void Initialise(Qwen25VLModel model, int seed)
    {
        Trainer.Initialise(model, seed);
        TrainingTokens.NormsToIdentity(model);
    }
}

internal static class TrainingTokens
{
    /// <summary>The id of a special token that must encode as exactly one id.</summary>
    public static long Single(ITextTokenizer tokenizer, string token) => tokenizer.Encode(token) is [var id]
        ? id : throw new InvalidOperationException($"the tokenizer does not encode '{token}' as one added token");

    /// <summary>The rows of <paramref name="ids"/> that hold <paramref name="placeholder"/> (an image's tokens, in the order the tower returns them).</summary>
    public static IReadOnlyList<long> RowsOf(IReadOnlyList<long> ids, long placeholder) =>
        Enumerable.Range(0, ids.Count).Where(i => ids[i] == placeholder).Select(i => (long)i).ToList();

    /// <summary>
    /// <paramref name="reading"/> plus, when copy pointers are trained and the example is multiple choice, the pointers from
    /// its answer to the option text in the prompt; <paramref name="promptText"/> gives the prompt's text token ids and their
    /// sequence rows, and is only asked for then.
    /// </summary>
    public static IReadOnlyList<ReadingPointer>? WithCopyPointers(IReadOnlyList<ReadingPointer>? reading, ReadingPointerLoss? copy, TrainingExample example,
        long[] target, ITextTokenizer tokenizer, Func<(IReadOnlyList<long> Ids, IReadOnlyList<long> Rows)> promptText)
    {
        if (copy is null || example.Sample is not { Options.Count: > 0 }) return reading;
        var (ids, rows) = promptText();
        return [.. reading ?? [], .. ReadingPointers.InPrompt(example.Answer, target[..^1], tokenizer, ids, rows)];
    }

    /// <summary>The text tokens of a prompt that holds one <paramref name="placeholder"/> id per visual row: their ids and rows.</summary>
    public static (IReadOnlyList<long> Ids, IReadOnlyList<long> Rows) TextOf(IReadOnlyList<long> prompt, long placeholder)
    {
        var rows = Enumerable.Range(0, prompt.Count).Where(i => prompt[i] != placeholder).ToList();
        return (rows.Select(i => prompt[i]).ToList(), rows.Select(i => (long)i).ToList());
    }

    /// <summary>Every RMSNorm/LayerNorm weight 1 and bias 0, whatever its parameter is called (ln_q, mlp1.0).</summary>
    public static void NormsToIdentity(TorchSharp.torch.nn.Module model)
    {
        using var _ = no_grad();
        foreach (var (_, module) in model.named_modules())
            if (module is RmsNorm or LayerNorm)
                foreach (var (name, parameter) in module.named_parameters(recurse: false))
                    if (name == "weight") parameter.FillInPlace(1.0); else parameter.zero_();
    }
}
