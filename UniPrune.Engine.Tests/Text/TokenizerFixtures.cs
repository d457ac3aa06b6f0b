using System.Text.Json;
using UniPrune.Engine.Text;

namespace UniPrune.Engine.Tests.Text;

/// <summary>
/// The committed tokenizers, each built once per test run (the 151k-entry Qwen vocabulary takes about a second),
/// and the Hugging Face reference ids from tools/tokenizer-reference.
/// </summary>
public static class TokenizerFixtures
{
    public static string Root => Path.Combine(TestPaths.Fixtures, "tokenizers");

    /// <summary>Each variant's tokenizer.json and tokenizer_config.json (null: none).</summary>
    public static readonly IReadOnlyDictionary<string, (string Json, string? Config)> Files = new Dictionary<string, (string, string?)>
    {
        ["llama2"] = (Path.Combine(Root, "llama2", "tokenizer.json.gz"), null),
        ["llava15_hf"] = (Path.Combine(Root, "llama2", "tokenizer.json.gz"), Path.Combine(Root, "llava15_hf", "tokenizer_config.json")),
        ["qwen25vl"] = (Path.Combine(Root, "qwen", "tokenizer.json.gz"), Path.Combine(Root, "qwen25vl", "tokenizer_config.json")),
        ["internvl3"] = (Path.Combine(Root, "qwen", "tokenizer.json.gz"), Path.Combine(Root, "internvl3", "tokenizer_config.json")),
        ["qwen3"] = (Path.Combine(Root, "qwen", "tokenizer.json.gz"), Path.Combine(Root, "qwen", "tokenizer_config.json")),
    };

    private static readonly Dictionary<string, Lazy<HfTokenizer>> Variants =
        Files.ToDictionary(kv => kv.Key, kv => new Lazy<HfTokenizer>(() => HfTokenizer.Load(kv.Value.Json, kv.Value.Config)));

    public static HfTokenizer Get(string variant) => Variants[variant].Value;

    /// <summary>The variant's added-token strings, read from its files without building the tokenizer (cheap enough for test discovery).</summary>
    public static IReadOnlyList<string> AddedTokenContents(string variant)
    {
        var (json, config) = Files[variant];
        if (config is not null)
        {
            using var c = JsonDocument.Parse(File.ReadAllBytes(config));
            return c.RootElement.GetProperty("added_tokens_decoder").EnumerateObject().Select(p => p.Value.GetProperty("content").GetString()!).ToList();
        }
        using var gz = new System.IO.Compression.GZipStream(File.OpenRead(json), System.IO.Compression.CompressionMode.Decompress);
        using var doc = JsonDocument.Parse(gz);
        return doc.RootElement.GetProperty("added_tokens").EnumerateArray().Select(a => a.GetProperty("content").GetString()!).ToList();
    }

    public static HfTokenizer Llama2 => Get("llama2");
    public static HfTokenizer LlavaHf => Get("llava15_hf");
    public static HfTokenizer Qwen25VL => Get("qwen25vl");
    public static HfTokenizer InternVL3 => Get("internvl3");

    private static readonly Lazy<ReferenceFile> LazyReference = new(() =>
        JsonSerializer.Deserialize<ReferenceFile>(File.ReadAllText(Path.Combine(Root, "reference_ids.json")),
            new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower })!);

    public static ReferenceFile Reference => LazyReference.Value;

    public sealed record ReferenceFile(string Generator, Dictionary<string, List<ReferenceCase>> Variants, List<ImageTokenCase> LlavaImageToken,
        RandomTextSet RandomTexts);

    public sealed record RandomTextSet(int Seed, int Count, Dictionary<string, List<RandomText>> Variants);

    public sealed record RandomText(string Text, int[] Ids);

    public sealed record ReferenceCase(string Name, string Text, int[] Ids, int[] IdsWithoutSpecial, string[] TokensWithoutSpecial,
        string Decoded, string DecodedSkipSpecial);

    public sealed record ImageTokenCase(string Name, string Text, int ImageTokenId, int[] Ids);
}
