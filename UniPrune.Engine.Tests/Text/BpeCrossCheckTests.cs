using System.IO.Compression;
using System.Text;
using UniPrune.Engine.Synthetic;
using UniPrune.Engine.Text;

namespace UniPrune.Engine.Tests.Text;

/// <summary>
/// The LLaMA-2 route (SentencePiece scores through LlamaTokenizer) against a plain rank-ordered BPE on thousands of
/// seeded random texts, beyond the fixed prompts of the Hugging Face reference fixture.
/// </summary>
public class BpeCrossCheckTests
{
    private static readonly string[] Words =
    [
        "the", "image", "What", "is", "in", "colour", "color", "square", "circle", "triangle", "Answer", "option's", "letter",
        "question", "ASSISTANT", "USER", "llama", "Vicuna", "don't", "we'll", "naïve", "café", "Straße", "Ωmega", "東京", "图像",
        "中文", "描述", "こんにちは", "한국어", "Привет", "مرحبا", "🦙", "🎉", "👍🏽", "🌍", "𝕜", "√", "∑", "½", "x²", "3.14", "2024",
        "1,000", "#", "**", "...", "--", "(a)", "[b]", "{c}", "<tag>", "e\u0301", "\u00a0", "ﬁ",
    ];

    private static readonly string[] Gaps = [" ", " ", " ", "  ", "\n", "\t", "\r\n", "", ", ", ". ", "? ", "   "];

    public static IEnumerable<string> RandomTexts(int count, int seed)
    {
        var rng = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            var sb = new StringBuilder();
            if (rng.Next(4) == 0) sb.Append(Gaps[rng.Next(Gaps.Length)]);
            int n = rng.Next(1, 14);
            for (int w = 0; w < n; w++)
            {
                string word = Words[rng.Next(Words.Length)];
                if (rng.Next(5) == 0) word = word.ToUpperInvariant();
                if (rng.Next(7) == 0 && word.Length > 2 && !char.IsSurrogate(word[^1])) word = word[..^1]; // broken words exercise partial merges
                sb.Append(word).Append(Gaps[rng.Next(Gaps.Length)]);
            }
            yield return sb.ToString();
        }
    }

    private static string ReadJson(string path)
    {
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var reader = new StreamReader(gz);
        return reader.ReadToEnd();
    }

    [Fact]
    public void Llama2_sentencepiece_route_equals_rank_ordered_bpe_on_random_texts()
    {
        var reference = new RankBpeReference(ReadJson(TokenizerFixtures.Files["llama2"].Json));
        var tokenizer = TokenizerFixtures.Llama2;
        var mismatches = new List<string>();
        int checkedTexts = 0;
        foreach (var text in RandomTexts(3000, seed: 20261128))
        {
            var expected = reference.Encode(text);
            var actual = tokenizer.Encode(text, addSpecialTokens: false);
            if (!expected.SequenceEqual(actual))
                mismatches.Add($"{System.Text.Json.JsonSerializer.Serialize(text)}: rank BPE [{string.Join(",", expected)}], engine [{string.Join(",", actual)}]");
            checkedTexts++;
        }
        Assert.Equal(3000, checkedTexts);
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} mismatches:\n" + string.Join("\n", mismatches.Take(8)));
    }

    [Fact]
    public void Synthetic_sentencepiece_vocabulary_agrees_with_rank_ordered_bpe()
    {
        // The embedded models' tokenizers are trained by TokenizerBuilder; both routes must cut their text the same way.
        // TokenizerBuilder splits words into UTF-16 chars, so its training text stays in the BMP (reported, not ours to change).
        var corpus = RandomTexts(600, seed: 7).Where(t => !t.Any(char.IsSurrogate)).ToList();
        string json = TokenizerBuilder.SentencePieceBpe(corpus, 700, ["<image>"]);
        string path = Path.Combine(TestPaths.NewTempDir(), "tokenizer.json");
        File.WriteAllText(path, json);
        var tokenizer = HfTokenizer.Load(path);
        var reference = new RankBpeReference(json);
        var mismatches = RandomTexts(1500, seed: 8)
            .Where(t => !reference.Encode(t).SequenceEqual(tokenizer.Encode(t, addSpecialTokens: false))).ToList();
        Assert.True(mismatches.Count == 0,
            $"{mismatches.Count} of 1500 texts differ, e.g. {System.Text.Json.JsonSerializer.Serialize(mismatches.FirstOrDefault())}");
    }
}
