using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Text;

namespace UniPrune.Engine.Training;

/// <summary>The models' view of an <see cref="HfTokenizer"/>: chunks encoded without BOS/EOS, special tokens left out of decoded text.</summary>
public sealed class HfTextTokenizer(HfTokenizer tokenizer) : ITextTokenizer
{
    public HfTokenizer Inner { get; } = tokenizer;
    public IReadOnlyList<long> Encode(string text) => Inner.Encode(text, addSpecialTokens: false).Select(i => (long)i).ToArray();
    public string Decode(IReadOnlyList<long> ids) => Inner.Decode(ids.Select(i => (int)i), skipSpecialTokens: true);
    public static ITextTokenizer Load(string tokenizerJsonPath) => new HfTextTokenizer(HfTokenizer.Load(tokenizerJsonPath));
}
