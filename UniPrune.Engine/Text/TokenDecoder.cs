using System.Text;
using System.Text.Json;
using UniPrune.Engine.Core;

namespace UniPrune.Engine.Text;

/// <summary>
/// The <c>decoder</c> section of a tokenizer.json, applied the way Hugging Face tokenizers applies it: every step
/// maps the whole token list to a new token list, and the result is concatenated. Supported steps are the ones
/// LLaMA-2 (Replace "▁"→" ", ByteFallback, Fuse, Strip) and Qwen2 (ByteLevel) use.
/// </summary>
internal sealed class TokenDecoder
{
    private readonly List<Func<List<string>, List<string>>> _steps;

    private TokenDecoder(List<Func<List<string>, List<string>>> steps) => _steps = steps;

    /// <summary>LLaMA-2's decoder (Replace "▁"→" ", ByteFallback, Fuse, Strip one leading space), for tokenizer.model files that carry none.</summary>
    public static TokenDecoder SentencePieceDefault { get; } = FromJson(JsonDocument.Parse("""
        {"type": "Sequence", "decoders": [
          {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"},
          {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
        """).RootElement.Clone(), "(built-in LLaMA-2 decoder)");

    public string Decode(IEnumerable<string> tokens)
    {
        var list = tokens.ToList();
        foreach (var step in _steps) list = step(list);
        return string.Concat(list);
    }

    public static TokenDecoder FromJson(JsonElement decoder, string file)
    {
        var steps = new List<Func<List<string>, List<string>>>();
        if (decoder.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
            throw new CheckpointFormatException(file, "missing decoder (expected ByteLevel or LLaMA-2's Sequence[Replace, ByteFallback, Fuse, Strip])");
        string type = TokenizerDefinition.TypeOf(decoder, file, "decoder");
        if (type == "Sequence")
        {
            if (!decoder.TryGetProperty("decoders", out var parts) || parts.ValueKind != JsonValueKind.Array)
                throw new CheckpointFormatException(file, "decoder.decoders must be an array");
            int i = 0;
            foreach (var part in parts.EnumerateArray()) steps.Add(Step(part, file, $"decoder.decoders[{i++}]"));
        }
        else
        {
            steps.Add(Step(decoder, file, "decoder"));
        }
        return new TokenDecoder(steps);
    }

    private static Func<List<string>, List<string>> Step(JsonElement e, string file, string where)
    {
        switch (TokenizerDefinition.TypeOf(e, file, where))
        {
            case "ByteLevel":
                return ByteLevel;
            case "ByteFallback":
                return ByteFallback;
            case "Fuse":
                return tokens => [string.Concat(tokens)];
            case "Replace":
                if (!e.TryGetProperty("pattern", out var p) || !p.TryGetProperty("String", out var from) || from.ValueKind != JsonValueKind.String
                    || !e.TryGetProperty("content", out var to) || to.ValueKind != JsonValueKind.String)
                    throw new CheckpointFormatException(file, $"{where}: Replace needs pattern {{\"String\": ...}} and content (regex patterns are not supported)");
                string f = from.GetString()!, t = to.GetString()!;
                return tokens => tokens.Select(s => s.Replace(f, t, StringComparison.Ordinal)).ToList();
            case "Strip":
                if (!e.TryGetProperty("content", out var c) || c.GetString() is not { Length: 1 } content
                    || !e.TryGetProperty("start", out var st) || !st.TryGetInt32(out int start)
                    || !e.TryGetProperty("stop", out var sp) || !sp.TryGetInt32(out int stop))
                    throw new CheckpointFormatException(file, $"{where}: Strip needs a one-character content and integer start and stop");
                return tokens => tokens.Select(s => Strip(s, content[0], start, stop)).ToList();
            default:
                throw new CheckpointFormatException(file, $"{where} {e.GetRawText()} is not a supported decoder step " +
                                                          "(expected ByteLevel, ByteFallback, Fuse, Replace or Strip)");
        }
    }

    private static readonly Dictionary<char, byte> CharToByte = ByteLevelAlphabet.ByteToChar.ToDictionary(kv => kv.Value, kv => kv.Key);

    /// <summary>Maps GPT-2's printable byte characters back to bytes; a token with any other character keeps its UTF-8 bytes (as HF does).</summary>
    private static List<string> ByteLevel(List<string> tokens)
    {
        var bytes = new List<byte>();
        foreach (var token in tokens)
        {
            bool allMapped = true;
            foreach (char ch in token)
                if (!CharToByte.ContainsKey(ch)) { allMapped = false; break; }
            if (allMapped) foreach (char ch in token) bytes.Add(CharToByte[ch]);
            else bytes.AddRange(Encoding.UTF8.GetBytes(token));
        }
        return [Encoding.UTF8.GetString(bytes.ToArray())];
    }

    /// <summary>Runs of &lt;0xNN&gt; tokens become their UTF-8 text, or one U+FFFD per byte when the run is not valid UTF-8.</summary>
    private static List<string> ByteFallback(List<string> tokens)
    {
        var result = new List<string>(tokens.Count);
        var pending = new List<byte>();
        var strict = new UTF8Encoding(false, throwOnInvalidBytes: true);
        void Flush()
        {
            if (pending.Count == 0) return;
            try { result.Add(strict.GetString(pending.ToArray())); }
            catch (DecoderFallbackException) { result.AddRange(Enumerable.Repeat("\uFFFD", pending.Count)); }
            pending.Clear();
        }
        foreach (var token in tokens)
        {
            if (token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token[5] == '>'
                && byte.TryParse(token.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out byte b))
            {
                pending.Add(b);
                continue;
            }
            Flush();
            result.Add(token);
        }
        Flush();
        return result;
    }

    private static string Strip(string s, char content, int start, int stop)
    {
        int from = 0;
        while (from < start && from < s.Length && s[from] == content) from++;
        int to = s.Length;
        while (s.Length - to < stop && to > from && s[to - 1] == content) to--;
        return s[from..to];
    }
}
