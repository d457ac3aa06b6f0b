using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Text;

namespace UniPrune.Engine.Models.Common;

/// <summary>
/// The models' tokenizer seam over Text's <see cref="HfTokenizer"/>. A chunk is encoded as Hugging Face does with special
/// tokens and its prefix (LLaMA's BOS) is then stripped — exactly what LLaVA's tokenizer_image_token does to every chunk.
/// </summary>
public sealed class HfTextTokenizer(HfTokenizer tokenizer) : ITextTokenizer
{
    public HfTokenizer Inner { get; } = tokenizer;

    public IReadOnlyList<long> Encode(string text)
    {
        var ids = Inner.Encode(text, addSpecialTokens: true);
        int prefix = Inner.PrefixIds.Count > 0 && ids.AsSpan().StartsWith(Inner.PrefixIds.ToArray()) ? Inner.PrefixIds.Count : 0;
        int suffix = Inner.SuffixIds.Count > 0 && ids.AsSpan().EndsWith(Inner.SuffixIds.ToArray()) ? Inner.SuffixIds.Count : 0;
        return ids[prefix..^suffix].Select(i => (long)i).ToArray();
    }

    public string Decode(IReadOnlyList<long> ids) => Inner.Decode(ids.Select(i => checked((int)i)), skipSpecialTokens: true);

    /// <summary>A <see cref="ModelLoadOptions.TokenizerLoader"/>: tokenizer.json (+ tokenizer_config.json beside it when present).</summary>
    public static ITextTokenizer FromTokenizerJson(string tokenizerJsonPath)
    {
        string config = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(tokenizerJsonPath))!, "tokenizer_config.json");
        return new HfTextTokenizer(HfTokenizer.Load(tokenizerJsonPath, File.Exists(config) ? config : null));
    }
}
