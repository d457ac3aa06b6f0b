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

    private static readonly Dictionary<string, Lazy<HfTokenizer>> Variants = new()
    {
        ["llama2"] = new(() => HfTokenizer.Load(Path.Combine(Root, "llama2", "tokenizer.json.gz"))),
        ["llava15_hf"] = new(() => HfTokenizer.Load(Path.Combine(Root, "llama2", "tokenizer.json.gz"), Path.Combine(Root, "llava15_hf", "tokenizer_config.json"))),
        ["qwen25vl"] = new(() => HfTokenizer.Load(Path.Combine(Root, "qwen", "tokenizer.json.gz"), Path.Combine(Root, "qwen25vl", "tokenizer_config.json"))),
        ["internvl3"] = new(() => HfTokenizer.Load(Path.Combine(Root, "qwen", "tokenizer.json.gz"), Path.Combine(Root, "internvl3", "tokenizer_config.json"))),
        ["qwen3"] = new(() => HfTokenizer.LoadDirectory(Path.Combine(Root, "qwen"))),
    };

    public static HfTokenizer Get(string variant) => Variants[variant].Value;

    public static HfTokenizer Llama2 => Get("llama2");
    public static HfTokenizer LlavaHf => Get("llava15_hf");
    public static HfTokenizer Qwen25VL => Get("qwen25vl");
    public static HfTokenizer InternVL3 => Get("internvl3");

    private static readonly Lazy<ReferenceFile> LazyReference = new(() =>
        JsonSerializer.Deserialize<ReferenceFile>(File.ReadAllText(Path.Combine(Root, "reference_ids.json")),
            new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower })!);

    public static ReferenceFile Reference => LazyReference.Value;

    public sealed record ReferenceFile(string Generator, Dictionary<string, List<ReferenceCase>> Variants, List<ImageTokenCase> LlavaImageToken);

    public sealed record ReferenceCase(string Name, string Text, int[] Ids, int[] IdsWithoutSpecial, string[] TokensWithoutSpecial,
        string Decoded, string DecodedSkipSpecial);

    public sealed record ImageTokenCase(string Name, string Text, int ImageTokenId, int[] Ids);
}
