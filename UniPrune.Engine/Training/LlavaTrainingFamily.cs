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
public sealed class LlavaTrainingFamily(Llava15Model model, ITextTokenizer tokenizer, ClipImageProcessor processor, double reconstructionWeight = 0)
    : ITrainingFamily
{
    public nn.Module Module => model;

    /// <summary>
    /// Auxiliary head (training only): each visual token predicts its own patch at half resolution. A from-scratch
    /// tower otherwise learns to see only through the few answer tokens; this dense target makes every token carry
    /// its patch's content early, so the decoder has something to read. Not part of the checkpoint.
    /// </summary>
    private readonly PatchReconstructionHead? _reconstruction = reconstructionWeight > 0
        ? new PatchReconstructionHead(model.Config.Text.HiddenSize, model.Config.Vision.PatchSize) : null;

    public nn.Module? Auxiliary => _reconstruction;

    public Tensor Loss(TrainingExample example)
    {
        var prompt = Llava15Prompt.Tokenize(Llava15Prompt.Build(example.Plan.Message, model.Options.PromptStyle), tokenizer, model.Config.BosTokenId);
        var target = tokenizer.Encode(example.Answer).Append(model.Config.EosTokenId).ToArray();
        var ids = prompt.Concat(target).ToList();

        var images = new List<EncodedImage>();
        Tensor? auxiliary = null;
        foreach (var image in example.Plan.Images)
        {
            var rgb = ImageDecoder.Decode(image.Bytes, image.Origin);
            using var input = processor.Process(rgb);
            var tokens = model.VisualTokensForTraining(input.PixelValues)[0];
            if (_reconstruction is not null)
            {
                var term = _reconstruction.Loss(tokens, input.PixelValues[0]);
                auxiliary = auxiliary is null ? term : auxiliary.Plus(term);
            }
            int side = model.Config.Vision.PatchesPerSide;
            images.Add(new EncodedImage { Embeddings = tokens, Units = [new VisualUnit(VisualUnitKind.Image, 0, 0, (int)tokens.shape[0], side, side)] });
        }
        var (embeds, _) = model.Splice(ids, images);
        long length = embeds.shape[0];
        var positions = HeldScalars.Arange(length, ScalarType.Int64).unsqueeze(0);
        var output = model.LanguageModel.forward(new DecoderInput { InputsEmbeds = embeds, PositionIds = positions, Logits = LogitsSelection.All });
        // Row t predicts token t+1: the answer's tokens are the last target.Length rows of the sequence.
        var predicting = output.Logits![(int)(length - target.Length - 1)..(int)(length - 1)];
        var targets = tensor(target, dtype: ScalarType.Int64);
        var loss = nn.functional.cross_entropy(predicting, targets);
        return auxiliary is null ? loss : loss.Plus(auxiliary.Times(reconstructionWeight));
    }
}
