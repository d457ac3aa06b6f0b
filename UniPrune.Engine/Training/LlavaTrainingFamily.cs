using UniPrune.Engine.Imaging;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.Common;
using UniPrune.Engine.Models.Llava15;
using static TorchSharp.torch;

namespace UniPrune.Engine.Training;

/// <summary>
/// Teacher-forced loss of a LLaVA-1.5 model on one example, through the model's own prompt code: VLMEvalKit's chat
/// layout, LLaVA's split-on-&lt;image&gt; tokenisation, the CLIP feature layer and projector, the splice, the decoder.
/// </summary>
public sealed class LlavaTrainingFamily(Llava15Model model, ITextTokenizer tokenizer, ClipImageProcessor processor, AuxiliaryLosses? losses = null) : ITrainingFamily
{
    public nn.Module Module => model;

    /// <summary>The training-only heads (the reconstruction target: each token's 14-px patch).</summary>
    private readonly AuxiliaryHeads _heads = new(model.Config.Text.HiddenSize, losses);

    public IReadOnlyList<nn.Module> Auxiliary => _heads.Modules;

    /// <inheritdoc/>
    public bool PackSharedImages { get; set; }

    /// <summary>All the batch's images through the tower at once (every LLaVA image is one square of the same size), then one decoder pass.</summary>
    public Tensor Loss(IReadOnlyList<TrainingExample> batch)
    {
        using var scope = NewDisposeScope();
        var pixels = new List<Tensor>();
        var symbolRows = new List<long>();
        var symbolTargets = new List<Tensor>();
        var tokenBoxes = new Dictionary<int, IReadOnlyList<Box>>();   // by image row, where a pointer may need them
        int side = model.Config.Vision.PatchesPerSide;
        // With packing, an image that several of the batch's examples ask about goes through the tower once.
        var rowOf = new Dictionary<string, int>();
        var imageRows = new List<int>();
        foreach (var example in batch)
            for (int k = 0; k < example.Plan.Images.Count; k++)
            {
                var image = example.Plan.Images[k];
                if (PackSharedImages && rowOf.TryGetValue(image.Key, out int seen)) { imageRows.Add(seen); continue; }
                if (PackSharedImages) rowOf[image.Key] = pixels.Count;
                imageRows.Add(pixels.Count);
                var decoded = ImageDecoder.Decode(image.Bytes, image.Origin);
                using var input = processor.Process(decoded);
                if (_heads.NeedTokenBoxes && example.SceneOf(k) is { } scene)
                {
                    // Token regions once per image, for whichever heads need them.
                    var boxes = SymbolTargets.LlavaTokens(processor, decoded.Width, decoded.Height, model.Config.Vision.PatchSize);
                    if (_heads.Pointer is not null) tokenBoxes[pixels.Count] = boxes;
                    if (_heads.Symbols is not null)
                    {
                        symbolRows.Add(pixels.Count);
                        symbolTargets.Add(SymbolTargets.For(scene, boxes));
                    }
                }
                pixels.Add(input.PixelValues[0].clone());
            }
        Tensor? tokens = null, auxiliary = null;
        if (pixels.Count > 0)
        {
            var stacked = stack(pixels, 0);
            tokens = model.VisualTokensForTraining(stacked);
            if (_heads.Reconstruction is { } reconstruction)
                auxiliary = reconstruction.Loss(tokens, PatchReconstructionHead.GridTargets(stacked, model.Config.Vision.PatchSize)).Times(_heads.Weights.Reconstruction);
            if (symbolRows.Count > 0)
            {
                var picked = tokens.index_select(0, tensor(symbolRows.ToArray(), dtype: ScalarType.Int64, device: tokens.device));
                var symbols = _heads.Symbols!.Loss(picked.reshape(-1, picked.shape[^1]), cat(symbolTargets, 0).to(tokens.device)).Times(_heads.Weights.Symbols);
                auxiliary = auxiliary is null ? symbols : auxiliary.Plus(symbols);
            }
        }
        var sequences = new List<TeacherForcedSequence>();
        int next = 0;
        foreach (var example in batch)
        {
            var prompt = Llava15Prompt.Tokenize(Llava15Prompt.Build(example.Plan.Message, model.Options.PromptStyle), tokenizer, model.Config.BosTokenId);
            var target = tokenizer.Encode(example.Answer).Append(model.Config.EosTokenId).ToArray();
            var images = new List<EncodedImage>();
            int firstRow = next;
            for (int k = 0; k < example.Plan.Images.Count; k++)
            {
                var rows = tokens![imageRows[next++]];
                images.Add(new EncodedImage { Embeddings = rows, Units = [new VisualUnit(VisualUnitKind.Image, 0, 0, (int)rows.shape[0], side, side)] });
            }
            var (embeds, layout) = model.Splice([.. prompt, .. target], images);
            var positions = HeldScalars.Arange(embeds.shape[0], ScalarType.Int64).unsqueeze(0);
            var pointers = images.Count == 1 && tokenBoxes.TryGetValue(imageRows[firstRow], out var boxes)
                ? ReadingPointers.For(example.SceneOf(0), example.Answer, target[..^1], tokenizer, boxes, layout.SequenceIndices) : null;
            pointers = TrainingTokens.WithCopyPointers(pointers, _heads.Copy, example, target, tokenizer, () => TextOf(prompt, layout));
            sequences.Add(new TeacherForcedSequence(embeds, positions, target, pointers));
        }
        if (PackSharedImages)
            sequences = PackedPrompt.Pack(sequences, batch.Select(e => e.FirstImageKey).ToList()).ToList();
        var loss = TeacherForcedBatch.Loss(model.LanguageModel, null, sequences, _heads.Pointer, _heads.Copy);
        return (auxiliary is null ? loss : loss.Plus(auxiliary)).MoveToOuterDisposeScope();
    }

    /// <summary>The prompt's text token ids and their rows in the spliced sequence: the rows the splice gave no image token, in order.</summary>
    private static (IReadOnlyList<long> Ids, IReadOnlyList<long> Rows) TextOf(long[] prompt, VisualLayout layout)
    {
        var ids = prompt.Where(id => id != Llava15Config.ImageSentinel).ToList();
        var visual = layout.SequenceIndices.ToHashSet();
        return (ids, Enumerable.Range(0, layout.SequenceLength).Select(r => (long)r).Where(r => !visual.Contains(r)).Take(ids.Count).ToList());
    }
}
