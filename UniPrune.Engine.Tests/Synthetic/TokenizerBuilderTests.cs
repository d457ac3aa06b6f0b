using System.Text.Json;
using UniPrune.Engine.Synthetic;

namespace UniPrune.Engine.Tests.Synthetic;

public class TokenizerBuilderTests
{
    private static readonly string[] Corpus =
    [
        "Is there a red circle in the image? Please answer yes or no.", "What color is the square?", "How many triangles are there?",
        "Answer with the option's letter from the given choices directly.", "the blue square", "the green circle", "12 + 7 = 19",
    ];

    [Fact]
    public void SentencePieceLayoutHasControlBytesMergesAndAddedTokensInOrder()
    {
        string json = TokenizerBuilder.SentencePieceBpe(Corpus.Concat(Corpus), 400, ["<image>", "<pad>"]);
        using var doc = JsonDocument.Parse(json);
        var model = doc.RootElement.GetProperty("model");
        Assert.True(model.GetProperty("byte_fallback").GetBoolean());
        var vocab = model.GetProperty("vocab");
        Assert.Equal(0, vocab.GetProperty("<unk>").GetInt32());
        Assert.Equal(2, vocab.GetProperty("</s>").GetInt32());
        Assert.Equal(3 + 0x0A, vocab.GetProperty("<0x0A>").GetInt32());
        Assert.True(vocab.TryGetProperty("▁the", out _), "a frequent word-start merge is learned");
        int size = vocab.EnumerateObject().Count();
        var added = doc.RootElement.GetProperty("added_tokens").EnumerateArray().ToList();
        Assert.Equal(size, added.Single(a => a.GetProperty("content").GetString() == "<image>").GetProperty("id").GetInt32());
        Assert.All(model.GetProperty("merges").EnumerateArray(), m => Assert.Equal(2, m.GetArrayLength()));
    }

    [Fact]
    public void ByteLevelLayoutStartsWithTheByteAlphabetAndIsDeterministic()
    {
        string a = TokenizerBuilder.ByteLevelBpe(Corpus, 320, ["<|endoftext|>", "<|im_start|>"]);
        Assert.Equal(a, TokenizerBuilder.ByteLevelBpe(Corpus, 320, ["<|endoftext|>", "<|im_start|>"]));
        using var doc = JsonDocument.Parse(a);
        var vocab = doc.RootElement.GetProperty("model").GetProperty("vocab");
        Assert.Equal(0, vocab.GetProperty("!").GetInt32());
        Assert.Equal(220, vocab.GetProperty("Ġ").GetInt32()); // as in GPT-2 and Qwen2
        Assert.True(vocab.TryGetProperty("Ġthe", out _));
        Assert.Equal(256, TokenizerBuilder.ByteLevelAlphabet().Values.Distinct().Count());
    }
}
