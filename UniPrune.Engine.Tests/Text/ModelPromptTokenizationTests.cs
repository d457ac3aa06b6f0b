using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.InternVL3;
using UniPrune.Engine.Models.Llava15;
using UniPrune.Engine.Models.Qwen25VL;
using UniPrune.Engine.Text;

namespace UniPrune.Engine.Tests.Text;

/// <summary>The models' prompt builders tokenized with the real tokenizers through <see cref="ITextTokenizer"/>: the segment facts of models.md.</summary>
public class ModelPromptTokenizationTests
{
    private static readonly PromptMessage Question = PromptMessage.ImageThenText("What is in the image?");

    [Fact]
    public void Llava_prompt_tokenize_equals_tokenizer_image_token_and_the_reference()
    {
        var llama = TokenizerFixtures.Llama2;
        string prompt = Llava15Prompt.Build(Question, LlavaPromptStyle.VicunaV1);
        var ids = Llava15Prompt.Tokenize(prompt, llama, bosTokenId: 1);
        Assert.Equal(llama.EncodeWithImagePlaceholder(prompt, (int)Llava15Config.ImageSentinel).Select(i => (long)i), ids);
        var reference = TokenizerFixtures.Reference.LlavaImageToken.Single(c => c.Name == "llava_vicuna_v1");
        Assert.Equal(reference.Text, prompt);
        Assert.Equal(reference.Ids.Select(i => (long)i), ids);
        Assert.Equal(35, Array.IndexOf(ids, Llava15Config.ImageSentinel));

        // VLMEvalKit's form (" <image> " inside "USER: ", trailing space) splits the same way.
        string vlm = Llava15Prompt.Build(Question, LlavaPromptStyle.VlmEvalKit);
        Assert.Equal(llama.EncodeWithImagePlaceholder(vlm, -200).Select(i => (long)i), Llava15Prompt.Tokenize(vlm, llama, 1));
        Assert.Equal("What is in the image?", ((ITextTokenizer)llama).Decode([1, 1724, 338, 297, 278, 1967, 29973, 2]));
    }

    [Fact]
    public void Qwen_rendered_prompt_places_the_image_at_index_15()
    {
        ITextTokenizer qwen = TokenizerFixtures.Qwen25VL;
        var ids = qwen.Encode(Qwen25VLPrompt.Render(Question));
        Assert.Equal(15, ids.ToList().IndexOf(151655));
        Assert.Equal(151652, ids[14]);
        Assert.Equal(151653, ids[16]);
        Assert.Equal([151645L, 198, 151644, 77091, 198], ids.TakeLast(5));
        var expanded = Qwen25VLPrompt.ExpandImagePads(ids, 151655, [256]);
        Assert.Equal(ids.Count + 255, expanded.Length);
        Assert.Equal("Yes", qwen.Decode([9454, 151645]));
    }

    [Fact]
    public void InternVL_special_tokens_and_system_segment_length()
    {
        var internvl = TokenizerFixtures.InternVL3;
        var special = InternVL3SpecialTokens.FromTokenizer(internvl, internvl.File);
        Assert.Equal(new InternVL3SpecialTokens(151667, 151665, 151666, 151645), special);

        string prompt = InternVL3Prompt.Expand(InternVL3Prompt.UserContent(Question), [1], tokensPerTile: 256);
        var ids = ((ITextTokenizer)internvl).Encode(prompt);
        int imageStart = ids.ToList().IndexOf(151665);
        Assert.Equal(41, imageStart + 1); // models.md §3.6 says "≈40" for the system segment up to and including <img>: it is 41
        Assert.Equal(256, ids.Count(id => id == 151667));
        Assert.Equal(151666, ids[imageStart + 257]);
        // Qwen2.5-VL's tokenizer has no <IMG_CONTEXT>: the same check fails loudly, naming the file.
        var e = Assert.Throws<UniPrune.Engine.Core.CheckpointFormatException>(() => InternVL3SpecialTokens.FromTokenizer(TokenizerFixtures.Qwen25VL, "qwen25vl"));
        Assert.Contains("<IMG_CONTEXT>", e.Message);
    }

    [Fact]
    public void Model_loader_entry_point_picks_up_the_config_beside_the_json()
    {
        string dir = TestPaths.NewTempDir();
        File.Copy(TokenizerFixtures.Files["internvl3"].Json, Path.Combine(dir, "tokenizer.json.gz"));
        File.Copy(TokenizerFixtures.Files["internvl3"].Config!, Path.Combine(dir, "tokenizer_config.json"));
        var tokenizer = HfTokenizer.LoadForModel(Path.Combine(dir, "tokenizer.json.gz"));
        Assert.Equal(151667, tokenizer.TokenToId("<IMG_CONTEXT>"));
        Assert.Equal(151645, tokenizer.EosId);
    }
}
