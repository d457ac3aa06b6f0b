using UniPrune.Engine.Core;
using UniPrune.Engine.Imaging;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.InternVL3;
using UniPrune.Engine.Tests.Text;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.InternVL3;

/// <summary>The harness entry point (PromptMessage → template → tokenizer → splice → greedy answer) and the real tokenizer's view of the template.</summary>
public class InternVL3GenerateTests
{
    [Fact]
    public void TemplateTextAndIdsEqualTheHuggingFaceTokenizerReference()
    {
        var reference = TokenizerFixtures.Reference.Variants["internvl3"].Single(p => p.Name == "internvl_chat");
        // The reference prompt holds three <IMG_CONTEXT>: one tile of three tokens.
        string text = InternVL3Prompt.Expand(InternVL3Prompt.UserContent(PromptMessage.ImageThenText("What is shown?")), [1], tokensPerTile: 3);
        Assert.Equal(reference.Text, text);
        Assert.Equal(reference.Ids.Select(i => (long)i), ((ITextTokenizer)TokenizerFixtures.InternVL3).Encode(text));
    }

    [Fact]
    public void GenerateFromAMessageReproducesTheReferenceTokensAndStopsAtTheTurnEnd()
    {
        string dir = TestPaths.Golden("internvl3");
        using var model = InternVL3Model.Load(dir, ScalarType.Float32, CPU);
        using var inputs = SafetensorsFile.Open(Path.Combine(dir, "inputs.safetensors"));
        using var outputs = SafetensorsFile.Open(Path.Combine(dir, "outputs.safetensors"));
        var goldenIds = inputs.Read("input_ids").reshape(-1).data<long>().ToArray();
        var expected = outputs.Read("generated_token_ids").data<long>().ToArray();
        var tokenizer = new GoldenTokenizer(goldenIds);
        model.UseTokenizer(tokenizer);
        using var image = model.EncodeImage(ImageDecoder.DecodeFile(Path.Combine(dir, "image.png")));

        var result = model.Generate(PromptMessage.ImageThenText(GoldenTokenizer.Question), [image], null, new GenerationOptions(8));
        Assert.Equal(goldenIds, tokenizer.LastEncoded);          // template + 48 <IMG_CONTEXT> rebuilt the reference prompt
        Assert.Equal(expected, result.TokenIds);
        Assert.Equal(string.Join(" ", expected.Select(t => $"t{t}")), result.Text);
        Assert.Equal((75, 48, 48), (result.PromptTokens, result.VisualTokens, result.VisualTokensKept));
        Assert.True(result.Timings.VisionMs > 0 && result.Timings.PrefillMs > 0 && result.Timings.DecodeMs > 0);

        // A stop id ends the answer there and is not part of the text.
        var stopped = model.Generate(PromptMessage.ImageThenText(GoldenTokenizer.Question), [image], null, new GenerationOptions(8, [(int)expected[2]]));
        Assert.Equal(expected[..3], stopped.TokenIds);
        Assert.Equal($"t{expected[0]} t{expected[1]}", stopped.Text);
    }

    /// <summary>
    /// Stands in for the tokenizer of the tiny golden vocabulary: the special tokens map to the golden set's ids and each
    /// text chunk between them to the ids the golden prompt has there (no tokenizer was run for it; golden README).
    /// </summary>
    private sealed class GoldenTokenizer : ITextTokenizer
    {
        public const string Question = "golden question";
        private static readonly Dictionary<string, long> Special = new()
        {
            ["<|im_start|>"] = 1001, ["<|im_end|>"] = 1002, ["<img>"] = 1022, ["</img>"] = 1023, ["<IMG_CONTEXT>"] = 1024,
        };
        private readonly Dictionary<string, long[]> _chunks;
        public long[] LastEncoded { get; private set; } = [];

        public GoldenTokenizer(long[] golden)
        {
            // Layout of the golden ids: <|im_start|> system… <|im_end|> \n <|im_start|> user\n <img> … </img> \nquestion <|im_end|> \n <|im_start|> assistant\n
            _chunks = new()
            {
                ["system\n" + InternVL3Prompt.SystemMessage] = golden[1..10],
                ["\n"] = [golden[11]],
                ["user\n"] = golden[13..15],
                ["\n" + Question] = golden[65..70],
                ["assistant\n"] = golden[73..75],
            };
        }

        public IReadOnlyList<long> Encode(string text)
        {
            var ids = new List<long>();
            int at = 0;
            while (at < text.Length)
            {
                var special = Special.Keys.FirstOrDefault(s => string.CompareOrdinal(text, at, s, 0, s.Length) == 0);
                if (special is not null) { ids.Add(Special[special]); at += special.Length; continue; }
                int next = Special.Keys.Select(s => text.IndexOf(s, at, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(text.Length).Min();
                string chunk = text[at..next];
                ids.AddRange(_chunks.TryGetValue(chunk, out var mapped) ? mapped : throw new ArgumentException($"unexpected text chunk {chunk}"));
                at = next;
            }
            if (ids.Count == 1) return ids;   // single special-token lookups
            LastEncoded = ids.ToArray();
            return ids;
        }

        public string Decode(IReadOnlyList<long> ids) => string.Join(" ", ids.Select(t => $"t{t}"));
    }
}
