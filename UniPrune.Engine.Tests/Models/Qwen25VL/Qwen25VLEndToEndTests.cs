using UniPrune.Engine.Imaging;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.Qwen25VL;
using UniPrune.Engine.Tests.Models.Common;
using UniPrune.Engine.Tests.Text;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.Qwen25VL;

/// <summary>The harness path: image file → processor → vision tower, and PromptMessage → chat template → tokenizer → ids.</summary>
public class Qwen25VLEndToEndTests(ITestOutputHelper log)
{
    [Fact]
    public void ChatPromptTokenisesAsTheReferenceTokenizerDoes()
    {
        // reference_ids.json "qwen_chat_vision": HF tokenizers on the template text with 3 image pads.
        var reference = TokenizerFixtures.Reference.Variants["qwen25vl"].Single(c => c.Name == "qwen_chat_vision");
        var prompt = PromptMessage.ImageThenText("What is in the image? Answer in one word.");
        Assert.Equal(reference.Text, Qwen25VLPrompt.Render(prompt).Replace("<|image_pad|>", "<|image_pad|><|image_pad|><|image_pad|>"));
        using var model = Qwen25VLModel.OnMeta(Qwen25VLConfig.Load(Qwen25VLConfigTests.RealConfig("3b")));
        model.UseTokenizer(TokenizerFixtures.Qwen25VL);
        using var image = new EncodedImage { Embeddings = empty(3, 2048, device: META), Units = [new VisualUnit(VisualUnitKind.Image, 0, 0, 3, 1, 3)] };

        var ids = model.TokenizePrompt(prompt, [image]);

        Assert.Equal(reference.Ids.Select(i => (long)i), ids);
        // models.md §2.5: 15 tokens before the visual span, 5 closing tokens.
        Assert.Equal(15, Array.IndexOf(ids, 151655L));
        Assert.Equal([151645L, 198, 151644, 77091, 198], ids[^5..]);
    }

    [Fact]
    public void ImageFileThroughTheProcessorGivesTheReferenceEmbeddingsAndTokens()
    {
        using var golden = new Qwen25VLGolden();
        using var model = golden.LoadModel();
        var picture = ImageDecoder.DecodeFile(Path.Combine(golden.Folder, "image.png"));
        using var image = model.EncodeImage(picture, VisionExtras.None);
        Assert.Equal([new VisualUnit(VisualUnitKind.Image, 0, 0, 48, 6, 8)], image.Units);
        using (var expected = golden.Outputs.Read("image_embeds")) GoldenAssert.Close(expected, image.Embeddings, "image_embeds from image.png", log);

        using var run = model.RunPrompt(golden.InputIds(), [image], null, 8, new HashSet<long>());
        using var tokens = golden.Outputs.Read("generated_token_ids");
        GoldenAssert.Equal(tokens, run.Greedy.Tokens, "tokens from image.png");
    }

    /// <summary>Maps the one prompt text it expects to the golden ids (whose vocabulary is made up), so Generate's wiring can be checked.</summary>
    private sealed class GoldenIdsTokenizer(string expectedText, long[] ids) : ITextTokenizer
    {
        public IReadOnlyList<long> Encode(string text) =>
            text == expectedText ? ids : throw new ArgumentException($"unexpected prompt text: {text}");
        public string Decode(IReadOnlyList<long> generated) => string.Join(" ", generated);
    }

    [Fact]
    public void GenerateRunsTemplateImagesAndDecodingTogether()
    {
        using var golden = new Qwen25VLGolden();
        using var model = golden.LoadModel();
        var expanded = golden.InputIds();
        long pad = golden.Config.Tokens.ImageToken;
        // The template text holds one pad per image; the tokenizer's output is expanded by the model.
        var collapsed = expanded.Where((id, i) => id != pad || expanded[i - 1] != pad).ToArray();
        var prompt = PromptMessage.ImageThenText("q");
        model.UseTokenizer(new GoldenIdsTokenizer(Qwen25VLPrompt.Render(prompt), collapsed));
        using var image = golden.Encode(model, VisionExtras.None);

        var result = model.Generate(prompt, [image], null, new GenerationOptions(8));

        using var tokens = golden.Outputs.Read("generated_token_ids");
        GoldenAssert.Equal(tokens, result.TokenIds, "Generate tokens");
        Assert.Equal(string.Join(" ", result.TokenIds), result.Text);
        Assert.Equal((73, 48, 48), (result.PromptTokens, result.VisualTokens, result.VisualTokensKept));
        Assert.True(result.Timings.VisionMs > 0 && result.Timings.PrefillMs > 0 && result.Timings.DecodeMs > 0);
    }

    [Fact]
    public void GenerateStopsAtTheImEndToken()
    {
        using var golden = new Qwen25VLGolden();
        using var model = golden.LoadModel();
        var expanded = golden.InputIds();
        long pad = golden.Config.Tokens.ImageToken;
        var collapsed = expanded.Where((id, i) => id != pad || expanded[i - 1] != pad).ToArray();
        var prompt = PromptMessage.ImageThenText("q");
        model.UseTokenizer(new GoldenIdsTokenizer(Qwen25VLPrompt.Render(prompt), collapsed));
        using var image = golden.Encode(model, VisionExtras.None);
        using var tokens = golden.Outputs.Read("generated_token_ids");
        long third = tokens.data<long>()[2];

        // Declaring the third generated token a stop token ends the answer there, and the stop token is not in the text.
        var result = model.Generate(prompt, [image], null, new GenerationOptions(8, [(int)third]));

        Assert.Equal(3, result.TokenIds.Count);
        Assert.Equal(string.Join(" ", result.TokenIds.Take(2)), result.Text);
    }
}

public class Qwen25VLPixelBoundsTests
{
    [Fact]
    public void PixelBoundsDecideTheVisualTokenCount()
    {
        using var golden = new Qwen25VLGolden();
        var picture = ImageDecoder.DecodeFile(Path.Combine(golden.Folder, "image.png"));   // 224×168
        using var model = Qwen25VLModel.Load(golden.Folder, ModelLoadOptions.Cpu(), Qwen25VLOptions.Paper);
        Assert.Equal((256 * 28 * 28, 1280 * 28 * 28), (model.ImageProcessor!.MinPixels, model.ImageProcessor.MaxPixels));
        using var paper = model.EncodeImage(picture, VisionExtras.None);
        Assert.Equal(14 * 19, paper.TokenCount);   // smart_resize upsizes 168×224 to 392×532 (≥ 256 tokens)
        // VLMEvalKit: ≥ 1280 tokens, except OCRBench (min 10·10·28²).
        var vlmEvalKit = Qwen25VLOptions.VlmEvalKit;
        using var general = model.EncodeImage(picture, vlmEvalKit.MinPixels!.Value, vlmEvalKit.MaxPixels!.Value, VisionExtras.None);
        Assert.Equal(31 * 42, general.TokenCount);   // 868×1176
        var ocr = vlmEvalKit.ForVlmEvalKitDataset("OCRBench");
        using var ocrImage = model.EncodeImage(picture, ocr.MinPixels!.Value, ocr.MaxPixels!.Value, VisionExtras.None);
        Assert.Equal(100, ocr.MinPixels / (28 * 28));
        Assert.Equal(vlmEvalKit, vlmEvalKit.ForVlmEvalKitDataset("MME"));
        Assert.Equal(ocrImage.Units.Single().GridRows * ocrImage.Units.Single().GridCols, ocrImage.TokenCount);
        Assert.Equal(9 * 12, ocrImage.TokenCount);   // 252×336
    }
}
