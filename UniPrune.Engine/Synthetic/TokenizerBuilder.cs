using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace UniPrune.Engine.Synthetic;

/// <summary>
/// Trains small BPE vocabularies for the embedded models and writes them as standard Hugging Face
/// <c>tokenizer.json</c> files in the two layouts the real models use, so the same loader reads them:
/// LLaMA-2 style (SentencePiece BPE with byte fallback, "▁" for spaces) and Qwen2 style (byte-level BPE with
/// the Qwen split regex and NFC). Merges are learned from the corpus by plain most-frequent-pair BPE;
/// ties break on the pair's text so training is deterministic.
/// </summary>
public static class TokenizerBuilder
{
    /// <summary>The pre-tokenizer pattern of Qwen2's tokenizer.json (digits split one by one, contractions, words, punctuation runs, spaces).</summary>
    public const string QwenSplitPattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>LLaMA-2 layout: ids 0..2 are &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt;; 3..258 the byte-fallback tokens; then characters and merges; then <paramref name="addedTokens"/>.</summary>
    public static string SentencePieceBpe(IEnumerable<string> corpus, int vocabSize, IReadOnlyList<string> addedTokens)
    {
        var vocab = new Dictionary<string, int> { ["<unk>"] = 0, ["<s>"] = 1, ["</s>"] = 2 };
        for (int b = 0; b < 256; b++) vocab[$"<0x{b:X2}>"] = vocab.Count;
        // SentencePiece never merges across a "▁"-prefixed word start, so words are the training units.
        var words = CountWords(corpus.Select(t => "▁" + t.Replace(' ', '▁')), w => Regex.Split(w, "(?=▁)").Where(s => s.Length > 0));
        var merges = LearnMerges(words, vocab, vocabSize - addedTokens.Count, w => w.EnumerateRunes().Select(r => r.ToString()).ToList()); // whole code points: never half a surrogate pair
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = AddedTokens(vocab, ["<unk>", "<s>", "</s>"], addedTokens),
            ["normalizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["normalizers"] = new JsonArray(
                    new JsonObject { ["type"] = "Prepend", ["prepend"] = "▁" },
                    new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = " " }, ["content"] = "▁" }),
            },
            ["pre_tokenizer"] = null,
            ["post_processor"] = null,
            ["decoder"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["decoders"] = new JsonArray(
                    new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = "▁" }, ["content"] = " " },
                    new JsonObject { ["type"] = "ByteFallback" },
                    new JsonObject { ["type"] = "Fuse" },
                    new JsonObject { ["type"] = "Strip", ["content"] = " ", ["start"] = 1, ["stop"] = 0 }),
            },
            ["model"] = Model(vocab, merges, byteFallback: true, unk: "<unk>"),
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    /// <summary>Qwen2 layout: the 256 byte symbols first, then merges, then <paramref name="addedTokens"/> (e.g. &lt;|im_start|&gt;).</summary>
    public static string ByteLevelBpe(IEnumerable<string> corpus, int vocabSize, IReadOnlyList<string> addedTokens)
    {
        var byteToChar = UniPrune.Engine.Text.ByteLevelAlphabet.ByteToChar;
        var vocab = new Dictionary<string, int>();
        foreach (var c in byteToChar.Values.Order()) vocab[c.ToString()] = vocab.Count; // GPT-2 order: "!" is 0, "Ġ" (space) 220
        var split = new Regex(QwenSplitPattern, RegexOptions.Compiled);
        var words = CountWords(corpus.Select(t => t.Normalize(NormalizationForm.FormC)),
            t => split.Matches(t).Select(m => string.Concat(Encoding.UTF8.GetBytes(m.Value).Select(b => byteToChar[b]))));
        var merges = LearnMerges(words, vocab, vocabSize - addedTokens.Count, w => w.Select(c => c.ToString()).ToList()); // byte-level symbols are single BMP characters
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = AddedTokens(vocab, [], addedTokens),
            ["normalizer"] = new JsonObject { ["type"] = "NFC" },
            ["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new JsonArray(
                    new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = QwenSplitPattern }, ["behavior"] = "Isolated", ["invert"] = false },
                    new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = false }),
            },
            ["post_processor"] = null,
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = false },
            ["model"] = Model(vocab, merges, byteFallback: false, unk: null),
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    private static Dictionary<string, long> CountWords(IEnumerable<string> texts, Func<string, IEnumerable<string>> split)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var t in texts)
            foreach (var w in split(t))
                counts[w] = counts.GetValueOrDefault(w) + 1;
        return counts;
    }

    private static List<(string, string)> LearnMerges(Dictionary<string, long> wordCounts, Dictionary<string, int> vocab, int targetSize,
        Func<string, List<string>> symbols)
    {
        var words = wordCounts.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (Symbols: symbols(kv.Key), Count: kv.Value)).ToList();
        foreach (var (syms, _) in words)
            foreach (var s in syms)
                if (!vocab.ContainsKey(s)) vocab[s] = vocab.Count;
        var merges = new List<(string, string)>();
        while (vocab.Count < targetSize)
        {
            var pairs = new Dictionary<(string, string), long>();
            foreach (var (syms, count) in words)
                for (int i = 0; i + 1 < syms.Count; i++)
                    pairs[(syms[i], syms[i + 1])] = pairs.GetValueOrDefault((syms[i], syms[i + 1])) + count;
            if (pairs.Count == 0) break;
            var best = pairs.OrderByDescending(p => p.Value).ThenBy(p => p.Key.Item1 + "\u0001" + p.Key.Item2, StringComparer.Ordinal).First();
            if (best.Value < 2) break; // a pair seen once teaches nothing
            var (a, b) = best.Key;
            string merged = a + b;
            merges.Add((a, b));
            if (!vocab.ContainsKey(merged)) vocab[merged] = vocab.Count;
            foreach (var (syms, _) in words)
                for (int i = 0; i + 1 < syms.Count; i++)
                    if (syms[i] == a && syms[i + 1] == b) { syms[i] = merged; syms.RemoveAt(i + 1); }
        }
        return merges;
    }

    private static JsonArray AddedTokens(Dictionary<string, int> vocab, IReadOnlyList<string> existingSpecial, IReadOnlyList<string> added)
    {
        var array = new JsonArray();
        foreach (var t in existingSpecial) array.Add(Added(vocab[t], t));
        // Added tokens follow the model vocabulary and stay out of it, as in the real Qwen2 and llava-hf files.
        int next = vocab.Count;
        foreach (var t in added)
        {
            if (vocab.ContainsKey(t)) throw new ArgumentException($"added token '{t}' collides with a learned piece");
            array.Add(Added(next++, t));
        }
        return array;

        static JsonObject Added(int id, string content) => new()
        {
            ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
            ["normalized"] = false, ["special"] = true,
        };
    }

    private static JsonObject Model(Dictionary<string, int> vocab, List<(string, string)> merges, bool byteFallback, string? unk)
    {
        var vocabJson = new JsonObject();
        foreach (var (piece, id) in vocab.OrderBy(kv => kv.Value)) vocabJson[piece] = id;
        return new JsonObject
        {
            ["type"] = "BPE",
            ["dropout"] = null,
            ["unk_token"] = unk,
            ["continuing_subword_prefix"] = null,
            ["end_of_word_suffix"] = null,
            ["fuse_unk"] = byteFallback,
            ["byte_fallback"] = byteFallback,
            ["ignore_merges"] = false,
            ["vocab"] = vocabJson,
            ["merges"] = new JsonArray(merges.Select(m => (JsonNode)new JsonArray(m.Item1, m.Item2)).ToArray()),
        };
    }
}
