using UniPrune.Engine.Synthetic;
using UniPrune.Engine.Text;

namespace UniPrune.Engine.Tests.Text;

/// <summary>The tokenizer.json files that Synthetic.TokenizerBuilder writes for the embedded models load and round-trip here.</summary>
public class SyntheticTokenizerTests
{
    private static readonly string[] Corpus =
    [
        "Is there a red circle in the image? Please answer yes or no.", "What color is the square?", "How many triangles are there?",
        "Answer with the option's letter from the given choices directly.", "the blue square", "the green circle", "12 + 7 = 19",
    ];

    private static HfTokenizer Load(string json)
    {
        string path = Path.Combine(TestPaths.NewTempDir(), "tokenizer.json");
        File.WriteAllText(path, json);
        return HfTokenizer.Load(path);
    }

    [Fact]
    public void SentencePiece_layout_encodes_with_learned_merges_and_byte_fallback()
    {
        var tokenizer = Load(TokenizerBuilder.SentencePieceBpe(Corpus.Concat(Corpus), 400, ["<image>", "<pad>"]));
        Assert.Equal(TokenizerLayout.SentencePieceBpe, tokenizer.Layout);
        int image = tokenizer.TokenToId("<image>");
        var ids = tokenizer.Encode("What color is the square? <image> Ω", addSpecialTokens: false);
        Assert.Contains(tokenizer.TokenToId("▁the"), ids);
        Assert.Contains(image, ids);
        Assert.Contains(tokenizer.TokenToId("<0xCE>"), ids); // Ω is not in the corpus: byte fallback
        // Each piece around <image> gets its own "▁" prefix, so skipping the token leaves three spaces (as in HF).
        Assert.Equal("What color is the square?   Ω", tokenizer.Decode(ids, skipSpecialTokens: true));
        Assert.Equal("the green circle", tokenizer.Decode(tokenizer.Encode("the green circle")));
    }

    [Fact]
    public void ByteLevel_layout_round_trips_any_text()
    {
        var tokenizer = Load(TokenizerBuilder.ByteLevelBpe(Corpus, 320, ["<|endoftext|>", "<|im_start|>"]));
        Assert.Equal(TokenizerLayout.ByteLevelBpe, tokenizer.Layout);
        const string text = "<|im_start|>is the blue square 12 ✓ 中文\r\n";
        var ids = tokenizer.Encode(text);
        Assert.Equal(tokenizer.TokenToId("<|im_start|>"), ids[0]);
        Assert.Contains(tokenizer.TokenToId("Ġthe"), ids);
        Assert.Equal(text, tokenizer.Decode(ids));
    }
}
