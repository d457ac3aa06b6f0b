using UniPrune.Engine.Synthetic;
using UniPrune.Engine.Text;

namespace UniPrune.Bench.Tests.Tiny;

/// <summary>
/// The tokenizers of the tiny tier. The golden tiny checkpoints (random weights) ship none, so the project trains its own small
/// BPE vocabularies on the synthetic suite's text, in the real families' tokenizer.json layouts, sized so every id fits the tiny
/// models' embedding tables and the golden special ids land where the checkpoints expect them. Committed under
/// UniPrune.Bench.Tests/Tiny/; <see cref="TinyTokenizerTests"/> rebuilds them and requires the same bytes.
/// </summary>
public static class TinyTokenizers
{
    /// <summary>LLaMA-2 layout for the tiny LLaVA (vocab 1024): &lt;unk&gt; 0, &lt;s&gt; 1, &lt;/s&gt; 2, bytes 3..258, merges to 999,
    /// &lt;image&gt; 1000 (the checkpoint's image_token_index), &lt;pad&gt; 1001 (pad_token_id), and reserved ids to 1023 so any
    /// generated id decodes.</summary>
    public static string Llava()
    {
        var added = new List<string> { "<image>", "<pad>" };
        for (int i = 0; added.Count < 1024 - 1000; i++) added.Add($"<reserved_{i}>");
        return TokenizerBuilder.SentencePieceBpe(Corpus(), 1024, added);
    }

    public static string RepositoryPath(string root, string family) => Path.Combine(root, "UniPrune.Bench.Tests", "Tiny", family, "tokenizer.json");

    private static IEnumerable<string> Corpus() => SyntheticCorpus.Texts(SyntheticSplit.Train, 40,
    [
        "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the human's questions. USER: ASSISTANT:",
        "Answer with the option's letter from the given choices directly.",
        "Please answer yes or no.",
    ]);
}

public sealed class TinyTokenizerTests
{
    private static readonly string Root = UniPrune.Engine.Running.BenchEnvironment.FromProcess().RepositoryRoot;

    [Fact]
    public void The_committed_tiny_LLaVA_tokenizer_is_the_one_the_project_builds_and_fits_the_checkpoint()
    {
        var path = TinyTokenizers.RepositoryPath(Root, "llava");
        var built = TinyTokenizers.Llava();
        if (Environment.GetEnvironmentVariable("UNIPRUNE_REBUILD_TINY_TOKENIZERS") == "1") File.WriteAllText(path, built);
        Assert.True(File.Exists(path), $"{path} is missing: run this test with UNIPRUNE_REBUILD_TINY_TOKENIZERS=1 to write it");
        Assert.Equal(built, File.ReadAllText(path));

        UniPrune.Engine.Models.Abstractions.ITextTokenizer tokenizer = HfTokenizer.Load(path);
        var ids = tokenizer.Encode("Is there a red circle in the image? Please answer yes or no.");
        Assert.All(ids, id => Assert.InRange(id, 3, 999));
        Assert.Equal("Is there a red circle in the image? Please answer yes or no.", tokenizer.Decode(ids));
        Assert.Equal(new long[] { 1000 }, tokenizer.Encode("<image>").ToArray());
        Assert.Equal(new long[] { 1001 }, tokenizer.Encode("<pad>").ToArray());
        Assert.NotNull(tokenizer.Decode(new long[] { 1023 }));
    }
}
