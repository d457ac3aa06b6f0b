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
public sealed class LlavaTrainingFamily(Llava15Model model, ITextTokenizer tokenizer, ClipImageProcessor processor) : ITrainingFamily
{
    public nn.Module Module => model;

    public Tensor Loss(TrainingExample example)
    {
        var prompt = Llava15Prompt.Tokenize(Llava15Prompt.Build(example.Plan.Message, model.Options.PromptStyle), tokenizer, model.Config.BosTokenId);
        var target = tokenizer.Encode(example.Answer).Append(model.Config.EosTokenId).ToArray();
        var ids = prompt.Concat(target).ToList();

        var images = new List<EncodedImage>();
        foreach (var image in example.Plan.Images)
        {
            var rgb = ImageDecoder.Decode(image.Bytes, image.Origin);
            using var input = processor.Process(rgb);
            var tokens = model.VisualTokensForTraining(input.PixelValues)[0];
            int side = model.Config.Vision.PatchesPerSide;
            images.Add(new EncodedImage { Embeddings = tokens, Units = [new VisualUnit(VisualUnitKind.Image, 0, 0, (int)tokens.shape[0], side, side)] });
        }
        var (embeds, _) = model.Splice(ids, images);
        long length = embeds.shape[0];
        var positions = arange(length, dtype: ScalarType.Int64).unsqueeze(0);
        var output = model.LanguageModel.forward(new DecoderInput { InputsEmbeds = embeds, PositionIds = positions, Logits = LogitsSelection.All });
        // Row t predicts token t+1: the answer's tokens are the last target.Length rows of the sequence.
        var predicting = output.Logits![(int)(length - target.Length - 1)..(int)(length - 1)];
        var targets = tensor(target, dtype: ScalarType.Int64);
        return nn.functional.cross_entropy(predicting, targets);
    }
}
