using UniPrune.Engine.Text;

namespace UniPrune.Engine.Tests.Text;

/// <summary>
/// The tokenizer.model route (the original liuhaotian LLaVA-1.5 checkpoints ship a SentencePiece model, not a
/// tokenizer.json). No authentic tokenizer.model is available here, so the file is the proto we synthesize from
/// LLaMA-2's tokenizer.json; what this checks is the file route: loading, slow-tokenizer defaults, config overrides.
/// </summary>
public class SentencePieceModelFileTests
{
    private static string WriteModelFolder(string? configVariant)
    {
        string dir = TestPaths.NewTempDir();
        var definition = TokenizerDefinition.Load(TokenizerFixtures.Files["llama2"].Json, null);
        File.WriteAllBytes(Path.Combine(dir, "tokenizer.model"), SentencePieceModelProto.Write(definition));
        if (configVariant is not null)
            File.Copy(TokenizerFixtures.Files[configVariant].Config!, Path.Combine(dir, "tokenizer_config.json"));
        return dir;
    }

    [Theory]
    [InlineData("llama2", null)]
    [InlineData("llava15_hf", "llava15_hf")]
    public void Tokenizer_model_folder_matches_the_reference(string variant, string? config)
    {
        var tokenizer = HfTokenizer.LoadDirectory(WriteModelFolder(config));
        Assert.EndsWith("tokenizer.model", tokenizer.File);
        Assert.Equal(1, tokenizer.BosId);
        Assert.Equal(2, tokenizer.EosId);
        foreach (var c in TokenizerFixtures.Reference.Variants[variant])
        {
            Assert.Equal(c.Ids, tokenizer.Encode(c.Text));
            Assert.Equal(c.Decoded, tokenizer.Decode(c.IdsWithoutSpecial));
            Assert.Equal(c.DecodedSkipSpecial, tokenizer.Decode(c.Ids, skipSpecialTokens: true));
        }
    }

    [Fact]
    public void Garbage_or_empty_tokenizer_model_names_the_file()
    {
        string dir = TestPaths.NewTempDir();
        string path = Path.Combine(dir, "tokenizer.model");
        File.WriteAllBytes(path, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x01, 0x02]);
        var e = Assert.ThrowsAny<Exception>(() => HfTokenizer.LoadSentencePieceModel(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("SentencePiece", e.Message);
        File.WriteAllBytes(path, []);
        e = Assert.ThrowsAny<Exception>(() => HfTokenizer.LoadDirectory(dir));
        Assert.Contains(path, e.Message);
        Assert.Contains("SentencePiece", e.Message);
    }
}
