using UniPrune.Engine.Datasets;
using UniPrune.Engine.Imaging;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.InternVL3;
using static TorchSharp.torch;
using UniPrune.Engine.Models.Common;

namespace UniPrune.Engine.Training;

/// <summary>
/// Teacher-forced loss of an InternVL3 model on one example through the model's own prompt code: VLMEvalKit's image
/// placement, the internvl2_5 template and the &lt;img&gt;&lt;IMG_CONTEXT&gt;…&lt;/img&gt; expansion
/// (<see cref="InternVL3Model.TokenizePrompt"/>), dynamic tiles + thumbnail with the plan's max_num (as the harness sets
/// it), InternViT, pixel shuffle and mlp1 with autograd, the IMG_CONTEXT splice of <see cref="InternVL3Model.TeacherForcedLogits"/>.
/// Target: the answer's tokens then &lt;|im_end|&gt;. The model needs its tokenizer attached.
/// </summary>
public sealed class InternVLTrainingFamily(InternVL3Model model, AuxiliaryLosses? losses = null) : ITrainingFamily
{
    public nn.Module Module => model;

    /// <summary>The training-only heads (the reconstruction target: each merged token's 28-px group of its tile).</summary>
    private readonly AuxiliaryHeads _heads = new(model.Config.Language.HiddenSize, losses);

    public IReadOnlyList<nn.Module> Auxiliary => _heads.Modules;

    /// <inheritdoc/>
    public bool PackSharedImages { get; set; }

    /// <summary>All the batch's tiles through the tower in one pass, then one decoder pass over the padded prompts.</summary>
    public Tensor Loss(IReadOnlyList<TrainingExample> batch)
    {
        using var scope = NewDisposeScope();
        var tokenizer = model.Tokenizer ?? throw new InvalidOperationException("the InternVL model needs its tokenizer (UseTokenizer) to build training prompts");
        // With packing, an image that several of the batch's examples ask about (under the same tile budget) is tiled and encoded once.
        var slotOf = new Dictionary<string, int>();
        var slots = new List<int>();
        var prepared = new List<(PreparedImage Input, Synthetic.Scene? Scene)>();
        foreach (var e in batch)
            for (int k = 0; k < e.Plan.Images.Count; k++)
            {
                string key = $"{e.Plan.Images[k].Key} {MaxTilesFor(e.Plan)}";
                if (PackSharedImages && slotOf.TryGetValue(key, out int seen)) { slots.Add(seen); continue; }
                if (PackSharedImages) slotOf[key] = prepared.Count;
                slots.Add(prepared.Count);
                prepared.Add((Preprocess(e.Plan.Images[k], e.Plan), e.SceneOf(k)));
            }
        var inputs = prepared.Select(p => (p.Input.PixelValues, p.Input.Tiles)).ToList();
        var encoded = inputs.Count == 0 ? [] : model.EncodeManyForTraining(inputs);
        Tensor? auxiliary = null;
        // Each prepared image's token regions, computed once for whichever heads need them.
        var tokenBoxes = new IReadOnlyList<Box>?[prepared.Count];
        IReadOnlyList<Box> BoxesOf(int i) => tokenBoxes[i] ??= TokenBoxes(prepared[i].Input);
        if (_heads.Reconstruction is { } reconstruction && inputs.Count > 0)
            auxiliary = reconstruction.Loss(cat(encoded.Select(e => e.Embeddings).ToList(), 0),
                PatchReconstructionHead.GridTargets(cat(inputs.Select(i => i.PixelValues).ToList(), 0), model.Config.TileSize / model.Config.TokenGrid))
                .Times(_heads.Weights.Reconstruction);
        if (_heads.Symbols is { } symbolHead)
        {
            var withScenes = Enumerable.Range(0, prepared.Count).Where(i => prepared[i].Scene is not null).ToList();
            if (withScenes.Count > 0)
            {
                var tokens = cat(withScenes.Select(i => encoded[i].Embeddings).ToList(), 0);
                var targets = cat(withScenes.Select(i => SymbolTargets.For(prepared[i].Scene!, BoxesOf(i))).ToList(), 0);
                var symbols = symbolHead.Loss(tokens, targets.to(tokens.device)).Times(_heads.Weights.Symbols);
                auxiliary = auxiliary is null ? symbols : auxiliary.Plus(symbols);
            }
        }
        var sequences = new List<TeacherForcedSequence>();
        int next = 0;
        foreach (var example in batch)
        {
            var exampleSlots = slots.Skip(next).Take(example.Plan.Images.Count).ToList();
            var images = exampleSlots.Select(i => encoded[i]).ToList();
            next += images.Count;
            var (prompt, target, ordered) = Sequence(tokenizer, example, images);
            var (embeds, positions) = model.TeacherForcedInputs([.. prompt, .. target], ordered);
            // A one-image example's merged tokens are the prompt's <IMG_CONTEXT> rows, tile by tile then the thumbnail.
            IReadOnlyList<ReadingPointer>? pointers = null;
            if (_heads.Pointer is not null && exampleSlots.Count == 1 && prepared[exampleSlots[0]].Scene is { } scene)
            {
                var rows = TrainingTokens.RowsOf(prompt, TrainingTokens.Single(tokenizer, InternVL3Prompt.ImageContext));
                pointers = ReadingPointers.For(scene, example.Answer, target[..^1], tokenizer, BoxesOf(exampleSlots[0]), rows);
            }
            pointers = TrainingTokens.WithCopyPointers(pointers, _heads.Copy, example, target, tokenizer,
                () => TrainingTokens.TextOf(prompt, TrainingTokens.Single(tokenizer, InternVL3Prompt.ImageContext)));
            sequences.Add(new TeacherForcedSequence(embeds, positions, target, pointers));
        }
        if (PackSharedImages)
            sequences = PackedPrompt.Pack(sequences, batch.Select(e => e.FirstImageKey).ToList()).ToList();
        var (language, rotary) = model.TrainingDecoder;
        var loss = TeacherForcedBatch.Loss(language, rotary, sequences, _heads.Pointer, _heads.Copy);
        return (auxiliary is null ? loss : loss.Plus(auxiliary)).MoveToOuterDisposeScope();
    }

    public TeacherForcedRows TeacherForced(TrainingExample example)
    {
        var tokenizer = model.Tokenizer ?? throw new InvalidOperationException("the InternVL model needs its tokenizer (UseTokenizer) to build training prompts");
        var images = example.Plan.Images.Select(i => EncodeForTraining(i, example.Plan)).ToList();
        var (prompt, target, ordered) = Sequence(tokenizer, example, images);
        var logits = model.TeacherForcedLogits([.. prompt, .. target], ordered);
        return TeacherForcedRows.From(logits, prompt, target, ordered);
    }

    /// <summary>The evaluation prompt's ids, the target (answer then &lt;|im_end|&gt;) and the images in prompt order.</summary>
    private (IReadOnlyList<long> Prompt, long[] Target, List<EncodedImage> Ordered) Sequence(ITextTokenizer tokenizer, TrainingExample example, IReadOnlyList<EncodedImage> images)
    {
        var ordered = InternVL3Model.InOrder(example.Plan.Message, images);
        var prompt = model.TokenizePrompt(example.Plan.Message, images);
        long[] target = [.. tokenizer.Encode(example.Answer), TrainingTokens.Single(tokenizer, InternVL3Prompt.EndOfTurn)];
        return (prompt, target, ordered);
    }

    /// <summary>Each merged token's region of the original image, in the order the tower returns them.</summary>
    private IReadOnlyList<Box> TokenBoxes(PreparedImage input) =>
        SymbolTargets.InternVLTokens(input.Width, input.Height, input.Columns, input.Rows, input.Tiles.HasThumbnail, model.Config.TokenGrid);

    /// <summary>The tile budget the harness uses for this plan (VLMEvalKit's max_num; 6 when the plan sets none).</summary>
    public static int MaxTilesFor(PromptPlan plan) => plan.InternVLMaxTiles ?? InternVL3Model.VlmEvalKitDefaultMaxTiles;

    private EncodedImage EncodeForTraining(SampleImage image, PromptPlan plan)
    {
        var input = Preprocess(image, plan);
        return model.EncodePixelsForTraining(input.PixelValues, input.Tiles);
    }

    /// <summary>One image as the harness tiles it (the plan's max_num): its tile pixels and layout, and the original size and grid.</summary>
    private sealed record PreparedImage(Tensor PixelValues, InternVLImageTiles Tiles, int Width, int Height, int Columns, int Rows);

    private PreparedImage Preprocess(SampleImage image, PromptPlan plan)
    {
        var decoded = ImageDecoder.Decode(image.Bytes, image.Origin);
        using var input = model.ImageProcessor.WithMaxTiles(MaxTilesFor(plan)).Process(decoded);
        return new PreparedImage(input.PixelValues.clone(), InternVLImageTiles.Of(input), decoded.Width, decoded.Height, input.Columns, input.Rows);
    }

    /// <summary>
    /// Trainer.Initialise plus what its name rules miss here: mlp1's LayerNorm starts at identity, and InternViT's layer
    /// scales (ls1, ls2) at the config's initializer_factor (0.1), as InternVisionEncoderLayer initialises them.
    /// </summary>
    public static void Initialise(InternVL3Model model, int seed, double layerScale = 0.1)
    {
        Trainer.Initialise(model, seed);
        TrainingTokens.NormsToIdentity(model);
        using var _ = no_grad();
        foreach (var (name, parameter) in model.named_parameters())
            if (name.EndsWith(".ls1") || name.EndsWith(".ls2")) parameter.FillInPlace(layerScale);
    }
}
