using UniPrune.Engine.Core;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.Common;
using UniPrune.Engine.Models.Llava15;
using UniPrune.Engine.Tests.Models.Common;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.Llava15;

public sealed class Llava15PromptTests
{
    /// <summary>A stand-in tokenizer: one id per character (3..902), so tests see exactly where chunks and sentinels go.</summary>
    private sealed class CharTokenizer : ITextTokenizer
    {
        public IReadOnlyList<long> Encode(string text) => text.Select(c => 3L + c % 900).ToArray();
        public string Decode(IReadOnlyList<long> ids) => string.Join(" ", ids.Select(i => $"t{i}"));
    }

    [Fact]
    public void Vlmevalkit_prompt_is_its_system_prompt_user_content_with_spaced_image_and_trailing_space()
    {
        var message = PromptMessage.ImageThenText("What is it?");
        Assert.Equal("A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the human's questions. USER:  <image> What is it? ASSISTANT: ",
            Llava15Prompt.Build(message, LlavaPromptStyle.VlmEvalKit));
        Assert.Equal("A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions. USER: <image>\nWhat is it? ASSISTANT:",
            Llava15Prompt.Build(message, LlavaPromptStyle.VicunaV1));
        Assert.Equal("USER: <image>\nWhat is it? ASSISTANT:", Llava15Prompt.Build(message, LlavaPromptStyle.LlavaHf));
        // llava-hf's template puts every image first, whatever the message order.
        var textFirst = new PromptMessage([new TextSegment("Q"), new ImageSegment(0)]);
        Assert.Equal("USER: <image>\nQ ASSISTANT:", Llava15Prompt.Build(textFirst, LlavaPromptStyle.LlavaHf));
    }

    [Fact]
    public void Tokenization_splits_at_each_image_keeps_one_bos_and_puts_the_sentinel_between_chunks()
    {
        var tok = new CharTokenizer();
        Assert.Equal([1, 3 + 'a', 3 + 'b', -200, 3 + 'c'], Llava15Prompt.Tokenize("ab<image>c", tok, 1));
        Assert.Equal([1, -200, -200, 3 + 'x'], Llava15Prompt.Tokenize("<image><image>x", tok, 1));
        Assert.Equal([1, 3 + 'q', -200], Llava15Prompt.Tokenize("q<image>", tok, 1));
    }

    /// <summary>The real LLaMA-2 tokenizer (Text's fixture) through the models' tokenizer seam gives LLaVA's ids and segment boundaries.</summary>
    [Fact]
    public void Real_llama2_tokenizer_reproduces_tokenizer_image_token_and_the_35_token_vicuna_prefix()
    {
        string fixtures = Path.Combine(TestPaths.Fixtures, "tokenizers");
        var hf = UniPrune.Engine.Text.HfTokenizer.Load(Path.Combine(fixtures, "llama2", "tokenizer.json.gz"), Path.Combine(fixtures, "llava15_hf", "tokenizer_config.json"));
        var tokenizer = new HfTextTokenizer(hf);
        var message = PromptMessage.ImageThenText("What is in the image?");
        foreach (var style in new[] { LlavaPromptStyle.VicunaV1, LlavaPromptStyle.VlmEvalKit, LlavaPromptStyle.LlavaHf })
        {
            string prompt = Llava15Prompt.Build(message, style);
            var ids = Llava15Prompt.Tokenize(prompt, tokenizer, 1);
            Assert.Equal(hf.EncodeWithImagePlaceholder(prompt, -200).Select(i => (long)i), ids);
        }
        var vicuna = Llava15Prompt.Tokenize(Llava15Prompt.Build(message, LlavaPromptStyle.VicunaV1), tokenizer, 1);
        // models.md §1.4 / FastV's SYS_TOKEN_LEN: BOS + system + "USER:" + "▁" = 35 tokens before the image.
        Assert.Equal(35, Array.IndexOf(vicuna, -200L));
        // After the image: "▁" (29871), "\n" (13), …, then "ASSISTANT:" as ▁A SS IST ANT :.
        Assert.Equal([29871, 13], vicuna[36..38]);
        Assert.Equal(["▁A", "SS", "IST", "ANT", ":"], vicuna[^5..].Select(i => hf.IdToToken((int)i)));
        var vlmevalkit = Llava15Prompt.Tokenize(Llava15Prompt.Build(message, LlavaPromptStyle.VlmEvalKit), tokenizer, 1);
        // VLMEvalKit's "USER:  <image> " (two spaces) also has 35 tokens before the image: "USER:" then "▁▁" as one piece.
        Assert.Equal(35, Array.IndexOf(vlmevalkit, -200L));
        Assert.Equal(["▁▁"], vlmevalkit[34..35].Select(i => hf.IdToToken((int)i)));
        Assert.Equal("What is in the image?", tokenizer.Decode(tokenizer.Encode("What is in the image?")));
    }

    /// <summary>From the PNG through Imaging's CLIP preprocessing (both aspect modes are identities on this square 84² image) to the projector.</summary>
    [Theory]
    [InlineData(UniPrune.Engine.Imaging.LlavaImageAspect.PadToSquare)]
    [InlineData(UniPrune.Engine.Imaging.LlavaImageAspect.ResizeAndCenterCrop)]
    public void Encoding_the_png_reproduces_the_reference_image_embeddings(UniPrune.Engine.Imaging.LlavaImageAspect aspect)
    {
        string golden = TestPaths.Golden("llava");
        using var model = Llava15Model.Load(golden, ModelLoadOptions.Cpu(), new Llava15Options(ImageAspect: aspect));
        var picture = UniPrune.Engine.Imaging.ImageDecoder.DecodeFile(Path.Combine(golden, "image.png"));
        using var image = model.EncodeImage(picture, VisionExtras.None);
        using var outputs = SafetensorsFile.Open(Path.Combine(golden, "outputs.safetensors"));
        GoldenAssert.Close(outputs.Read("image_embeds"), image.Embeddings, "image_embeds from image.png");
        Assert.True(image.VisionMs > 0);
        Assert.Null(image.ClsAttention);
        Assert.Equal(new VisualUnit(VisualUnitKind.Image, 0, 0, 36, 6, 6), Assert.Single(image.Units));
    }

    private static (Llava15Model Model, EncodedImage Image) GoldenModelWithTokenizer()
    {
        var model = Llava15Model.Load(TestPaths.Golden("llava"), ModelLoadOptions.Cpu(), new Llava15Options(LlavaPromptStyle.LlavaHf));
        model.UseTokenizer(new CharTokenizer());
        using var inputs = SafetensorsFile.Open(Path.Combine(TestPaths.Golden("llava"), "inputs.safetensors"));
        return (model, model.EncodePixels(inputs.Read("pixel_values")));
    }

    [Fact]
    public void Generate_runs_template_tokenizer_splice_and_decoding_and_reports_counts_and_stage_times()
    {
        var (model, image) = GoldenModelWithTokenizer();
        using var _ = model;
        using var __ = image;
        var message = PromptMessage.ImageThenText("hi");
        var result = model.Generate(message, [image], null, new GenerationOptions(MaxNewTokens: 5));
        var ids = Llava15Prompt.Tokenize("USER: <image>\nhi ASSISTANT:", new CharTokenizer(), 1);
        Assert.Equal(ids.Length - 1 + 36, result.PromptTokens);
        Assert.Equal((36, 36), (result.VisualTokens, result.VisualTokensKept));
        using var direct = model.RunPrompt(ids, [image], null, 5, new HashSet<long> { 2 });
        Assert.Equal(direct.Greedy.Tokens, result.TokenIds);
        Assert.True(result.Timings.PrefillMs > 0 && result.Timings.DecodeMs > 0 && result.Timings.VisionMs > 0);

        // A stop token ends the run and is left out of the text.
        var stopped = model.Generate(message, [image], null, new GenerationOptions(5, [(int)result.TokenIds[0]]));
        Assert.Single(stopped.TokenIds);
        Assert.Equal("", stopped.Text);
    }

    [Fact]
    public void Generate_applies_pre_and_intra_llm_decisions_and_counts_kept_tokens_and_method_time()
    {
        var (model, image) = GoldenModelWithTokenizer();
        using var _ = model;
        using var __ = image;
        using var pre = ReplayHooks.PreLlm([0, 5, 7, 30], PositionPolicy.Renumber);
        var preResult = model.Generate(PromptMessage.ImageThenText("hi"), [image], pre, new GenerationOptions(3));
        Assert.Equal(4, preResult.VisualTokensKept);
        Assert.Equal(1, pre.PreLlmCalls);
        Assert.True(preResult.Timings.MethodMs >= 0);
        using var intra = ReplayHooks.IntraLlm(2, [1, 2]);
        var intraResult = model.Generate(PromptMessage.ImageThenText("hi"), [image], intra, new GenerationOptions(3));
        Assert.Equal(2, intraResult.VisualTokensKept);
        Assert.Equal(1, intra.LayerCalls);
        Assert.Throws<ArgumentException>(() => model.Generate(new PromptMessage([new ImageSegment(1)]), [image], null, new GenerationOptions(1)));
    }
}
