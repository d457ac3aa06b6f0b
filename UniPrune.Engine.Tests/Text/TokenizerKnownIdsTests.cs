using Microsoft.ML.Tokenizers;
using UniPrune.Engine.Text;

namespace UniPrune.Engine.Tests.Text;

/// <summary>Ids stated in toolchain.md §4 and models.md, and the special-token tables of each model family.</summary>
public class TokenizerKnownIdsTests
{
    private const string LlavaShort = "USER: <image>\nWhat is in the image? ASSISTANT:";
    private const string Chinese = "图像中有什么？请用中文详细描述这张图片。";

    [Fact]
    public void Llama2_ids_from_toolchain_md()
    {
        var llama = TokenizerFixtures.Llama2;
        Assert.Equal([1, 3148, 1001, 29901, 529, 3027, 29958, 13, 5618, 338, 297, 278, 1967, 29973, 319, 1799, 9047, 13566, 29901], llama.Encode(LlavaShort));
        Assert.Equal([1, 3148, 1001, 29901, 29871, -200, 29871, 13, 5618, 338, 297, 278, 1967, 29973, 319, 1799, 9047, 13566, 29901],
            llama.EncodeWithImagePlaceholder(LlavaShort, -200));
        Assert.Equal([1, 29871, 30861, 31551, 30275, 30417, 231, 190, 131], llama.Encode(Chinese).Take(9));
        Assert.Equal(29871, llama.TokenToId("▁"));
        Assert.Equal(13, llama.TokenToId("<0x0A>"));
        Assert.Equal(32000, llama.ModelVocabularySize);
        Assert.Equal(1, llama.BosId);
        Assert.Equal(2, llama.EosId);
        Assert.Equal([1], llama.PrefixIds);
    }

    [Fact]
    public void Llava_hf_adds_image_and_pad_tokens_after_the_vocabulary()
    {
        var llava = TokenizerFixtures.LlavaHf;
        Assert.Equal(32000, llava.TokenToId("<image>"));
        Assert.Equal(32001, llava.TokenToId("<pad>"));
        Assert.Equal(32002, llava.VocabularySize);
        // The fast tokenizer keeps the "▁" of the chunk after <image>, which LLaVA's split also produces.
        Assert.Equal([1, 3148, 1001, 29901, 29871, 32000, 29871, 13, 5618], llava.Encode(LlavaShort).Take(9));
        Assert.Equal(llava.EncodeWithImagePlaceholder(LlavaShort, 32000), llava.Encode(LlavaShort));
        Assert.Equal("USER:  \nWhat is in the image? ASSISTANT:", llava.Decode(llava.Encode(LlavaShort), skipSpecialTokens: true));
    }

    [Fact]
    public void Vicuna_v1_prompt_segments_match_models_md()
    {
        const string system = "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions.";
        var ids = TokenizerFixtures.Llama2.EncodeWithImagePlaceholder(system + " USER: <image>\nWhat is in the image? ASSISTANT:", -200);
        Assert.Equal(35, Array.IndexOf(ids, -200)); // FastV/DivPrune's hard-coded system length
        Assert.Equal([29871, 13], ids[36..38]);
        Assert.Equal(["▁A", "SS", "IST", "ANT", ":"], ids[^5..].Select(id => TokenizerFixtures.Llama2.IdToToken(id)));
    }

    [Fact]
    public void Qwen_ids_from_toolchain_md_and_vision_tokens()
    {
        var qwen = TokenizerFixtures.Qwen25VL;
        Assert.Equal([6448, 25, 366, 1805, 397, 3838, 374, 304, 279, 2168, 30, 35560, 3846, 2821, 25], qwen.Encode(LlavaShort));
        Assert.Equal([107553, 15946, 104139, 11319, 14880, 11622, 104811, 100700, 53481, 108893, 45930, 1773], qwen.Encode(Chinese));
        Assert.Equal(151643, qwen.TokenToId("<|endoftext|>"));
        Assert.Equal(151644, qwen.TokenToId("<|im_start|>"));
        Assert.Equal(151645, qwen.TokenToId("<|im_end|>"));
        Assert.Equal(151652, qwen.TokenToId("<|vision_start|>"));
        Assert.Equal(151653, qwen.TokenToId("<|vision_end|>"));
        Assert.Equal(151654, qwen.TokenToId("<|vision_pad|>"));
        Assert.Equal(151655, qwen.TokenToId("<|image_pad|>"));
        Assert.Equal(151656, qwen.TokenToId("<|video_pad|>"));
        Assert.Equal(151665, qwen.VocabularySize);
        Assert.Equal(151645, qwen.EosId);
        Assert.Empty(qwen.PrefixIds);
        Assert.False(qwen.TryTokenToId("<think>", out _)); // a Qwen3 token, not Qwen2.5's
        Assert.Equal(151667, TokenizerFixtures.Get("qwen3").TokenToId("<think>"));
    }

    [Fact]
    public void Qwen_chat_prompt_positions_match_models_md()
    {
        var qwen = TokenizerFixtures.Qwen25VL;
        var ids = qwen.Encode("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Hi<|im_end|>\n<|im_start|>assistant\n");
        Assert.Equal(15, Array.IndexOf(ids, 151655)); // visual tokens start at index 15
        Assert.Equal(["<|im_end|>", "\n", "<|im_start|>", "assistant", "\n"], ids[^5..].Select(id => qwen.Decode([id])));
    }

    [Fact]
    public void InternVL3_replaces_qwen3_tokens_with_its_own()
    {
        var internvl = TokenizerFixtures.InternVL3;
        string[] own = ["<img>", "</img>", "<IMG_CONTEXT>", "<quad>", "</quad>", "<ref>", "</ref>", "<box>", "</box>"];
        for (int i = 0; i < own.Length; i++) Assert.Equal(151665 + i, internvl.TokenToId(own[i]));
        Assert.Equal(151674, internvl.VocabularySize); // = embed_tokens rows of InternVL3
        Assert.Equal(151655, internvl.TokenToId("<|image_pad|>"));
        Assert.False(internvl.TryTokenToId("<think>", out _));
        var ids = internvl.Encode("<img>" + string.Concat(Enumerable.Repeat("<IMG_CONTEXT>", 256)) + "</img>\nWhat?");
        Assert.Equal(151665, ids[0]);
        Assert.Equal(256, ids.Count(id => id == 151667));
        Assert.Equal(151666, ids[257]);
    }

    [Fact]
    public void Synthesized_model_proto_reads_back_with_llama_settings_in_both_readers()
    {
        var definition = TokenizerDefinition.Load(TokenizerFixtures.Files["llama2"].Json, null);
        byte[] proto = SentencePieceModelProto.Write(definition);
        var model = SentencePieceModelProto.Read(proto, "(memory)");
        Assert.Equal(32000, model.Pieces.Count);
        Assert.Equal(("▁", SentencePieceType.Normal), (model.Pieces[29871].Piece, model.Pieces[29871].Type));
        Assert.Equal(SentencePieceType.Byte, model.Pieces[13].Type);
        Assert.Equal(SentencePieceType.Control, model.Pieces[1].Type);
        Assert.Equal((2, true, 0, 1, 2), (model.ModelType, model.ByteFallback, model.UnknownId, model.BosId, model.EosId));
        Assert.Equal((true, false, true, false), (model.AddDummyPrefix, model.RemoveExtraWhitespaces, model.EscapeWhitespaces, model.TreatWhitespaceAsSuffix));

        // Microsoft.ML.Tokenizers reads the same proto with the same settings ...
        var llama = LlamaTokenizer.Create(new MemoryStream(proto), addBeginOfSentence: false, addEndOfSentence: false);
        Assert.True(llama.ByteFallback && llama.AddDummyPrefix && llama.EscapeWhiteSpaces && !llama.TreatWhitespaceAsSuffix);
        Assert.Equal((0, 1, 2), (llama.UnknownId, llama.BeginningOfSentenceId, llama.EndOfSentenceId));
        Assert.Equal(TokenizerFixtures.Llama2.Encode("What is in the image?", false), llama.EncodeToIds("What is in the image?", false, false));
        // ... but breaks equal-score ties toward the rightmost pair (2.0.1), which is why the engine has its own encoder:
        // Hugging Face and SentencePiece give "▁..", "..." here.
        Assert.Equal([6317, 856], TokenizerFixtures.Llama2.Encode(".....", false));
        Assert.Equal([2023, 636], llama.EncodeToIds(".....", false, false));
    }

    [Fact]
    public void Decode_skips_ids_without_a_token_and_special_tokens_on_request()
    {
        var qwen = TokenizerFixtures.Qwen25VL;
        int[] ids = [151644, 77091, 198, 9707, 0, 151645];
        Assert.Equal("<|im_start|>assistant\nHello!<|im_end|>", qwen.Decode(ids));
        Assert.Equal("assistant\nHello!", qwen.Decode(ids, skipSpecialTokens: true));
        Assert.Equal("<s> Hello</s>", TokenizerFixtures.Llama2.Decode([1, -200, 15043, 2]));
        Assert.Equal("Hello", TokenizerFixtures.Llama2.Decode([1, -200, 15043, 2], skipSpecialTokens: true));
        Assert.Throws<KeyNotFoundException>(() => qwen.TokenToId("<|no_such_token|>"));
    }
}
