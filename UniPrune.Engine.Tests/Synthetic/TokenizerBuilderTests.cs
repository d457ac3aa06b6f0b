using System.Text.Json;
using UniPrune.Engine.Synthetic;
using UniPrune.Engine.Text;

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
    public void CharactersOutsideTheBasicPlaneStayWholePieces()
    {
        string json = TokenizerBuilder.SentencePieceBpe(["smile 😀 smile 😀", "smile 😀"], 300, []);
        using var doc = JsonDocument.Parse(json);
        var pieces = doc.RootElement.GetProperty("model").GetProperty("vocab").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Contains("😀", pieces);
        Assert.DoesNotContain(pieces, p => p.Any(char.IsSurrogate) && !p.EnumerateRunes().Any(r => r.Value > 0xFFFF));
        Assert.Equal(pieces.Count, pieces.Distinct().Count());
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
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TheProjectLoaderReadsBuiltTokenizersAndRoundTripsText(bool sentencePiece)
    {
        var corpus = SyntheticCorpus.Texts(SyntheticSplit.Train, 10).ToList();
        string json = sentencePiece ? TokenizerBuilder.SentencePieceBpe(corpus, 600, ["<image>"])
            : TokenizerBuilder.ByteLevelBpe(corpus, 600, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]);
        string path = Path.Combine(TestPaths.NewTempDir(), "tokenizer.json");
        File.WriteAllText(path, json);
        var tokenizer = HfTokenizer.Load(path);
        foreach (var text in corpus.Take(200).Append("Unseen: Zürich 42\tok 图"))
        {
            var ids = tokenizer.Encode(text, addSpecialTokens: false);
            Assert.All(ids, id => Assert.InRange(id, 0, 599));
            Assert.Equal(text, tokenizer.Decode(ids));
        }
        // Learned merges make in-domain text short: fewer tokens than characters by a wide margin.
        int chars = corpus.Take(200).Sum(t => t.Length), tokens = corpus.Take(200).Sum(t => tokenizer.Encode(t, false).Length);
        Assert.True(tokens * 3 < chars, $"{tokens} tokens for {chars} characters");
    }
}
