using System.Text;
using UniPrune.Engine.Text;

namespace UniPrune.Engine.Tests.Text;

/// <summary>Every prompt × tokenizer against the ids, tokens and decoded text of the official Hugging Face tokenizers.</summary>
public class TokenizerReferenceTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var (variant, cases) in TokenizerFixtures.Reference.Variants)
            foreach (var c in cases) data.Add(variant, c.Name);
        return data;
    }

    public static TheoryData<string> ImageTokenCases()
    {
        var data = new TheoryData<string>();
        foreach (var c in TokenizerFixtures.Reference.LlavaImageToken) data.Add(c.Name);
        return data;
    }

    private static TokenizerFixtures.ReferenceCase Case(string variant, string name) =>
        TokenizerFixtures.Reference.Variants[variant].Single(c => c.Name == name);

    [Theory, MemberData(nameof(Cases))]
    public void Encode_matches_the_reference_ids(string variant, string prompt)
    {
        var reference = Case(variant, prompt);
        var tokenizer = TokenizerFixtures.Get(variant);
        Assert.Equal(reference.Ids, tokenizer.Encode(reference.Text));
        var plain = tokenizer.Encode(reference.Text, addSpecialTokens: false);
        Assert.Equal(reference.IdsWithoutSpecial, plain);
        Assert.Equal(reference.TokensWithoutSpecial, plain.Select(id => tokenizer.IdToToken(id)).ToArray());
    }

    [Theory, MemberData(nameof(Cases))]
    public void Decode_matches_the_reference_text(string variant, string prompt)
    {
        var reference = Case(variant, prompt);
        var tokenizer = TokenizerFixtures.Get(variant);
        Assert.Equal(reference.Decoded, tokenizer.Decode(reference.IdsWithoutSpecial));
        Assert.Equal(reference.DecodedSkipSpecial, tokenizer.Decode(reference.Ids, skipSpecialTokens: true));
    }

    /// <summary>Prompts without any of the variant's added tokens (those decode with the decoder's spacing and are checked against the reference above).</summary>
    public static TheoryData<string, string> PlainTextCases()
    {
        var data = new TheoryData<string, string>();
        foreach (var (variant, cases) in TokenizerFixtures.Reference.Variants)
        {
            var added = TokenizerFixtures.AddedTokenContents(variant);
            foreach (var c in cases.Where(c => !added.Any(a => c.Text.Contains(a, StringComparison.Ordinal)))) data.Add(variant, c.Name);
        }
        return data;
    }

    [Theory, MemberData(nameof(PlainTextCases))]
    public void Decode_round_trips_text_without_added_tokens(string variant, string prompt)
    {
        var reference = Case(variant, prompt);
        var tokenizer = TokenizerFixtures.Get(variant);
        var ids = tokenizer.Encode(reference.Text, addSpecialTokens: false);
        Assert.DoesNotContain(ids, id => tokenizer.AddedTokens.Any(a => a.Id == id));
        // Qwen normalizes to NFC before encoding, so the round trip gives the composed form.
        string expected = tokenizer.Layout == TokenizerLayout.ByteLevelBpe ? reference.Text.Normalize(NormalizationForm.FormC) : reference.Text;
        Assert.Equal(expected, tokenizer.Decode(ids));
    }

    [Theory, MemberData(nameof(ImageTokenCases))]
    public void Llava_image_placeholder_split_matches_tokenizer_image_token(string prompt)
    {
        var reference = TokenizerFixtures.Reference.LlavaImageToken.Single(c => c.Name == prompt);
        Assert.Equal(reference.Ids, TokenizerFixtures.Llama2.EncodeWithImagePlaceholder(reference.Text, reference.ImageTokenId));
    }

    [Theory]
    [InlineData("llama2")]
    [InlineData("qwen25vl")]
    public void Encode_matches_the_reference_on_400_seeded_random_texts(string variant)
    {
        var set = TokenizerFixtures.Reference.RandomTexts;
        var tokenizer = TokenizerFixtures.Get(variant);
        var rows = set.Variants[variant];
        Assert.Equal(set.Count, rows.Count);
        var mismatches = rows.Where(r => !r.Ids.AsSpan().SequenceEqual(tokenizer.Encode(r.Text, addSpecialTokens: false)))
            .Select(r => System.Text.Json.JsonSerializer.Serialize(r.Text)).ToList();
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} of {rows.Count} differ, e.g. {string.Join(" | ", mismatches.Take(5))}");
    }

    [Fact]
    public void Reference_covers_every_variant_and_prompt()
    {
        var reference = TokenizerFixtures.Reference;
        Assert.Contains("Hugging Face tokenizers", reference.Generator);
        Assert.Equal(["internvl3", "llama2", "llava15_hf", "qwen25vl"], reference.Variants.Keys.Order());
        Assert.All(reference.Variants.Values, cases => Assert.True(cases.Count >= 19));
        Assert.True(reference.LlavaImageToken.Count >= 4);
    }
}
