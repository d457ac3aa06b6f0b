using System.IO.Compression;
using System.Text.Json;
using UniPrune.Engine.Core;

namespace UniPrune.Engine.Text;

/// <summary>A token that the tokenizer matches in raw text before the model sees it (HF "added token").</summary>
public sealed record AddedToken(int Id, string Content, bool Special, bool LStrip = false, bool RStrip = false);

/// <summary>Which of the two supported Hugging Face BPE layouts a tokenizer.json uses.</summary>
public enum TokenizerLayout
{
    /// <summary>LLaMA-2 / Vicuna: SentencePiece-style BPE over "▁"-escaped text with byte fallback.</summary>
    SentencePieceBpe,

    /// <summary>Qwen2 / GPT-2 family: byte-level BPE behind a regex pre-tokenizer.</summary>
    ByteLevelBpe,
}

/// <summary>
/// What we take from a Hugging Face <c>tokenizer.json</c> (plain or gzip) and an optional <c>tokenizer_config.json</c>,
/// validated: any missing or unsupported piece fails naming the file and the field.
/// </summary>
internal sealed class TokenizerDefinition
{
    public required string File { get; init; }
    public required TokenizerLayout Layout { get; init; }
    /// <summary>Model vocabulary, token → id (added tokens outside the model vocabulary are not in here).</summary>
    public required Dictionary<string, int> Vocabulary { get; init; }
    /// <summary>Merges in priority order (rank 0 first).</summary>
    public required List<(string Left, string Right)> Merges { get; init; }
    public required bool ByteFallback { get; init; }
    public required string? UnknownToken { get; init; }
    public required List<AddedToken> AddedTokens { get; init; }
    /// <summary>NFC normalization before the model (Qwen2); the SentencePiece layout's "▁" escaping is implied by its layout.</summary>
    public required bool NormalizeNfc { get; init; }
    /// <summary>The Split pre-tokenizer regex of the byte-level layout.</summary>
    public required string? SplitPattern { get; init; }
    /// <summary>Ids the post-processor puts before and after a single sequence (e.g. LLaMA's BOS).</summary>
    public required int[] PrefixIds { get; init; }
    public required int[] SuffixIds { get; init; }
    public required TokenDecoder Decoder { get; init; }
    public int? BosId { get; init; }
    public int? EosId { get; init; }

    public static TokenizerDefinition Load(string tokenizerJsonPath, string? tokenizerConfigPath)
    {
        using var doc = ReadJson(tokenizerJsonPath);
        var root = doc.RootElement;
        string file = tokenizerJsonPath;
        if (root.ValueKind != JsonValueKind.Object) throw Bad(file, "expected a JSON object at the top level");

        var model = Required(root, "model", JsonValueKind.Object, file, "the model section");
        string type = model.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String
            ? t.GetString()!
            : throw Bad(file, "missing model.type (expected \"BPE\")");
        if (type != "BPE")
            throw Bad(file, $"model.type \"{type}\" is not supported (expected \"BPE\": LLaMA-2 SentencePiece BPE or Qwen2 byte-level BPE)");

        var vocabulary = ReadVocabulary(Required(model, "vocab", JsonValueKind.Object, file, "an object mapping token to id", "model.vocab"), file);
        var merges = ReadMerges(Required(model, "merges", JsonValueKind.Array, file, "an array of \"a b\" strings or [\"a\", \"b\"] pairs", "model.merges"), file);
        bool byteFallback = OptionalBool(model, "byte_fallback", file, "model.byte_fallback") ?? false;
        string? unknown = model.TryGetProperty("unk_token", out var unk) && unk.ValueKind == JsonValueKind.String ? unk.GetString() : null;
        RejectUnsupportedModelOptions(model, file);

        var added = ReadAddedTokens(root, file);
        var (nfc, sentencePieceNormalizer) = ReadNormalizer(root, file);
        var (splitPattern, byteLevel) = ReadPreTokenizer(root, file);

        TokenizerLayout layout;
        if (byteLevel)
        {
            if (sentencePieceNormalizer) throw Bad(file, "normalizer: \"▁\" escaping together with a ByteLevel pre_tokenizer is not a supported layout");
            if (byteFallback) throw Bad(file, "model.byte_fallback is true in a byte-level layout (every byte already has a token)");
            layout = TokenizerLayout.ByteLevelBpe;
        }
        else if (sentencePieceNormalizer)
        {
            if (!byteFallback) throw Bad(file, "model.byte_fallback must be true for the SentencePiece (LLaMA-2) layout");
            if (unknown is null || !vocabulary.ContainsKey(unknown)) throw Bad(file, "model.unk_token must name a vocabulary token in the SentencePiece layout");
            layout = TokenizerLayout.SentencePieceBpe;
        }
        else
        {
            throw Bad(file, "unsupported layout: expected either a ByteLevel pre_tokenizer (Qwen2) or a normalizer that prepends " +
                            "\"▁\" and replaces \" \" with \"▁\" (LLaMA-2)");
        }

        var (prefix, suffix) = ReadPostProcessor(root, file);
        var decoder = TokenDecoder.FromJson(root.TryGetProperty("decoder", out var dec) ? dec : default, file);

        int? bos = null, eos = null;
        if (layout == TokenizerLayout.SentencePieceBpe)
        {
            bos = vocabulary.TryGetValue("<s>", out int b) ? b : null;
            eos = vocabulary.TryGetValue("</s>", out int e) ? e : null;
        }
        if (tokenizerConfigPath is not null)
            ApplyConfig(tokenizerConfigPath, vocabulary, ref added, ref bos, ref eos, ref prefix, ref suffix);

        return new TokenizerDefinition
        {
            File = file, Layout = layout, Vocabulary = vocabulary, Merges = merges, ByteFallback = byteFallback,
            UnknownToken = unknown, AddedTokens = added, NormalizeNfc = nfc, SplitPattern = splitPattern,
            PrefixIds = prefix, SuffixIds = suffix, Decoder = decoder, BosId = bos, EosId = eos,
        };
    }

    /// <summary>
    /// A SentencePiece <c>tokenizer.model</c> (what the original LLaVA-1.5 checkpoints ship instead of a tokenizer.json),
    /// checked to be LLaMA-2-like: BPE with byte fallback, dummy prefix and whitespace escaping.
    /// </summary>
    public static TokenizerDefinition LoadSentencePieceModel(string modelPath, string? tokenizerConfigPath)
    {
        if (!System.IO.File.Exists(modelPath)) throw new FileNotFoundException($"{modelPath}: tokenizer file not found", modelPath);
        var model = SentencePieceModelProto.Read(System.IO.File.ReadAllBytes(modelPath), modelPath);
        if (model.Pieces.Count == 0) throw Bad(modelPath, "not a SentencePiece model proto (no pieces)");
        if (model.ModelType != 2) throw Bad(modelPath, $"trainer_spec.model_type is {model.ModelType}, expected 2 (BPE; LLaMA-2's)");
        if (!model.ByteFallback || !model.AddDummyPrefix || !model.EscapeWhitespaces || model.RemoveExtraWhitespaces
            || model.TreatWhitespaceAsSuffix || model.HasCharsMap)
            throw Bad(modelPath, "expected LLaMA-2's SentencePiece settings: byte_fallback, add_dummy_prefix and escape_whitespaces true; " +
                                 "remove_extra_whitespaces and treat_whitespace_as_suffix false; no precompiled normalization map");
        var vocabulary = new Dictionary<string, int>(model.Pieces.Count, StringComparer.Ordinal);
        var mergeable = new Dictionary<string, float>(StringComparer.Ordinal);
        for (int id = 0; id < model.Pieces.Count; id++)
        {
            var (piece, score, type) = model.Pieces[id];
            if (type == SentencePieceType.UserDefined)
                throw Bad(modelPath, $"piece {id} \"{piece}\" is USER_DEFINED, which is not supported (LLaMA-2 has none)");
            if (!vocabulary.TryAdd(piece, id)) throw Bad(modelPath, $"piece \"{piece}\" appears twice (ids {vocabulary[piece]} and {id})");
            if (type == SentencePieceType.Normal && piece.EnumerateRunes().Count() > 1) mergeable[piece] = score;
        }
        string Piece(int id, string role) => (uint)id < (uint)model.Pieces.Count ? model.Pieces[id].Piece
            : throw Bad(modelPath, $"trainer_spec {role} id {id} is outside the {model.Pieces.Count} pieces");
        string unknown = Piece(model.UnknownId, "unk");
        // What transformers' slow LlamaTokenizer does without a config: <unk>, <s>, </s> are special, BOS is added.
        var added = new List<AddedToken> { new(model.UnknownId, unknown, Special: true) };
        int? bos = model.BosId >= 0 ? model.BosId : null, eos = model.EosId >= 0 ? model.EosId : null;
        if (bos is int b) added.Add(new AddedToken(b, Piece(b, "bos"), Special: true));
        if (eos is int e) added.Add(new AddedToken(e, Piece(e, "eos"), Special: true));
        int[] prefix = bos is int bb ? [bb] : [], suffix = [];
        if (tokenizerConfigPath is not null)
            ApplyConfig(tokenizerConfigPath, vocabulary, ref added, ref bos, ref eos, ref prefix, ref suffix);
        return new TokenizerDefinition
        {
            File = modelPath, Layout = TokenizerLayout.SentencePieceBpe, Vocabulary = vocabulary, Merges = [], ByteFallback = true,
            UnknownToken = unknown, AddedTokens = added, NormalizeNfc = false, SplitPattern = null,
            PrefixIds = prefix, SuffixIds = suffix, Decoder = TokenDecoder.SentencePieceDefault, BosId = bos, EosId = eos,
            SentencePieceScores = mergeable,
        };
    }

    /// <summary>Scores of the mergeable pieces when loaded from a tokenizer.model (SentencePiece order); null for tokenizer.json (merge-rank order).</summary>
    public IReadOnlyDictionary<string, float>? SentencePieceScores { get; init; }

    /// <summary>
    /// tokenizer_config.json: <c>added_tokens_decoder</c> replaces the added-token set; bos/eos tokens and the
    /// <c>add_bos_token</c>/<c>add_eos_token</c> flags (which transformers uses to rebuild LLaMA's post-processor) override.
    /// </summary>
    private static void ApplyConfig(string configPath, Dictionary<string, int> vocabulary, ref List<AddedToken> added,
        ref int? bos, ref int? eos, ref int[] prefix, ref int[] suffix)
    {
        using var config = ReadJson(configPath);
        var root = config.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw Bad(configPath, "expected a JSON object at the top level");
        if (root.TryGetProperty("added_tokens_decoder", out var decoderMap))
            added = ReadAddedTokensDecoder(decoderMap, configPath);
        if (root.TryGetProperty("bos_token", out _)) bos = ResolveConfigToken(root, "bos_token", vocabulary, added, configPath);
        if (root.TryGetProperty("eos_token", out _)) eos = ResolveConfigToken(root, "eos_token", vocabulary, added, configPath);
        if (OptionalBool(root, "add_bos_token", configPath, "add_bos_token") is bool addBos)
            prefix = addBos ? [bos ?? throw Bad(configPath, "add_bos_token is true but bos_token is null")] : [];
        if (OptionalBool(root, "add_eos_token", configPath, "add_eos_token") is bool addEos)
            suffix = addEos ? [eos ?? throw Bad(configPath, "add_eos_token is true but eos_token is null")] : [];
    }

    /// <summary>Reads a JSON file, gunzipping it when it is gzip (by magic bytes, so a misnamed file still works).</summary>
    internal static JsonDocument ReadJson(string path)
    {
        if (!System.IO.File.Exists(path)) throw new FileNotFoundException($"{path}: tokenizer file not found", path);
        byte[] bytes = System.IO.File.ReadAllBytes(path);
        if (bytes.Length >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b)
        {
            try
            {
                using var gz = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
                using var plain = new MemoryStream();
                gz.CopyTo(plain);
                bytes = plain.ToArray();
            }
            catch (InvalidDataException e) { throw Bad(path, $"corrupt gzip data ({e.Message})"); }
        }
        else if (path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase))
        {
            throw Bad(path, "named .gz but does not start with the gzip magic bytes 1f 8b");
        }
        try
        {
            return JsonDocument.Parse(bytes);
        }
        catch (JsonException e) { throw Bad(path, $"not valid JSON ({e.Message})"); }
    }

    private static CheckpointFormatException Bad(string file, string problem) => new(file, problem);

    private static JsonElement Required(JsonElement parent, string name, JsonValueKind kind, string file, string expected, string? fullName = null)
    {
        fullName ??= name;
        if (!parent.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            throw Bad(file, $"missing {fullName} (expected {expected})");
        if (value.ValueKind != kind)
            throw Bad(file, $"{fullName} is a JSON {value.ValueKind}, expected {expected}");
        return value;
    }

    private static bool? OptionalBool(JsonElement parent, string name, string file, string fullName)
    {
        if (!parent.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Bad(file, $"{fullName} is a JSON {v.ValueKind}, expected true or false"),
        };
    }

    private static Dictionary<string, int> ReadVocabulary(JsonElement vocab, string file)
    {
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in vocab.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id) || id < 0)
                throw Bad(file, $"model.vocab[\"{p.Name}\"] is {p.Value.GetRawText()}, expected a non-negative integer id");
            result[p.Name] = id;
        }
        if (result.Count == 0) throw Bad(file, "model.vocab is empty");
        // Both loaders index tokens by id, so ids must be exactly 0..N-1.
        var seen = new bool[result.Count];
        foreach (var (token, id) in result)
        {
            if (id >= seen.Length) throw Bad(file, $"model.vocab id {id} (\"{token}\") is outside 0..{seen.Length - 1}: ids must be dense");
            if (seen[id]) throw Bad(file, $"model.vocab id {id} is used twice");
            seen[id] = true;
        }
        return result;
    }

    private static List<(string, string)> ReadMerges(JsonElement merges, string file)
    {
        var result = new List<(string, string)>(merges.GetArrayLength());
        int index = 0;
        foreach (var m in merges.EnumerateArray())
        {
            if (m.ValueKind == JsonValueKind.String)
            {
                string s = m.GetString()!;
                int space = s.IndexOf(' ');
                if (space <= 0 || space == s.Length - 1 || s.IndexOf(' ', space + 1) >= 0)
                    throw Bad(file, $"model.merges[{index}] is \"{s}\", expected two tokens separated by one space");
                result.Add((s[..space], s[(space + 1)..]));
            }
            else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2
                     && m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String)
            {
                result.Add((m[0].GetString()!, m[1].GetString()!));
            }
            else
            {
                throw Bad(file, $"model.merges[{index}] is {m.GetRawText()}, expected \"a b\" or [\"a\", \"b\"]");
            }
            index++;
        }
        return result;
    }

    private static void RejectUnsupportedModelOptions(JsonElement model, string file)
    {
        foreach (var name in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (model.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString()!.Length > 0)
                throw Bad(file, $"model.{name} \"{v.GetString()}\" is not supported (expected null or \"\")");
        if (model.TryGetProperty("dropout", out var d) && d.ValueKind == JsonValueKind.Number && d.GetDouble() != 0)
            throw Bad(file, "model.dropout is set; BPE dropout makes encoding random and is not supported");
        if (OptionalBool(model, "ignore_merges", file, "model.ignore_merges") == true)
            throw Bad(file, "model.ignore_merges = true is not supported (expected false)");
    }

    private static List<AddedToken> ReadAddedTokens(JsonElement root, string file)
    {
        var list = new List<AddedToken>();
        if (!root.TryGetProperty("added_tokens", out var array) || array.ValueKind == JsonValueKind.Null) return list;
        if (array.ValueKind != JsonValueKind.Array) throw Bad(file, "added_tokens must be an array");
        int i = 0;
        foreach (var a in array.EnumerateArray())
        {
            string where = $"added_tokens[{i++}]";
            if (a.ValueKind != JsonValueKind.Object) throw Bad(file, $"{where} must be an object with id and content");
            if (!a.TryGetProperty("id", out var idElement) || !idElement.TryGetInt32(out int id))
                throw Bad(file, $"{where}.id is missing or not an integer");
            list.Add(ReadAddedToken(a, id, file, where));
        }
        return list;
    }

    private static List<AddedToken> ReadAddedTokensDecoder(JsonElement map, string file)
    {
        if (map.ValueKind != JsonValueKind.Object) throw Bad(file, "added_tokens_decoder must be an object mapping id to token");
        var list = new List<AddedToken>();
        foreach (var p in map.EnumerateObject())
        {
            if (!int.TryParse(p.Name, out int id) || id < 0) throw Bad(file, $"added_tokens_decoder key \"{p.Name}\" is not a token id");
            if (p.Value.ValueKind != JsonValueKind.Object) throw Bad(file, $"added_tokens_decoder[\"{p.Name}\"] must be an object");
            list.Add(ReadAddedToken(p.Value, id, file, $"added_tokens_decoder[\"{p.Name}\"]"));
        }
        return list.OrderBy(a => a.Id).ToList();
    }

    private static AddedToken ReadAddedToken(JsonElement a, int id, string file, string where)
    {
        if (!a.TryGetProperty("content", out var c) || c.ValueKind != JsonValueKind.String || c.GetString()!.Length == 0)
            throw Bad(file, $"{where}.content is missing or empty");
        if (OptionalBool(a, "single_word", file, $"{where}.single_word") == true)
            throw Bad(file, $"{where}.single_word = true is not supported (expected false)");
        return new AddedToken(id, c.GetString()!,
            Special: OptionalBool(a, "special", file, $"{where}.special") ?? false,
            LStrip: OptionalBool(a, "lstrip", file, $"{where}.lstrip") ?? false,
            RStrip: OptionalBool(a, "rstrip", file, $"{where}.rstrip") ?? false);
    }

    /// <summary>Returns (NFC?, SentencePiece "▁" escaping?).</summary>
    private static (bool, bool) ReadNormalizer(JsonElement root, string file)
    {
        if (!root.TryGetProperty("normalizer", out var n) || n.ValueKind == JsonValueKind.Null) return (false, false);
        string type = TypeOf(n, file, "normalizer");
        if (type == "NFC") return (true, false);
        if (type == "Sequence")
        {
            var parts = Required(n, "normalizers", JsonValueKind.Array, file, "an array", "normalizer.normalizers").EnumerateArray().ToList();
            // LLaMA-2's tokenizer.json: Prepend "▁" then Replace " " → "▁" (what SentencePiece's dummy prefix and escaping do).
            if (parts.Count == 2 && TypeOf(parts[0], file, "normalizer.normalizers[0]") == "Prepend"
                && parts[0].TryGetProperty("prepend", out var pre) && pre.GetString() == "▁"
                && IsReplace(parts[1], " ", "▁"))
                return (false, true);
        }
        throw Bad(file, $"normalizer {n.GetRawText()} is not supported (expected null, {{\"type\":\"NFC\"}} or LLaMA-2's " +
                        "Sequence[Prepend \"▁\", Replace \" \" → \"▁\"])");
    }

    internal static bool IsReplace(JsonElement e, string from, string to) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty("type", out var t) && t.GetString() == "Replace"
        && e.TryGetProperty("pattern", out var p) && p.ValueKind == JsonValueKind.Object
        && p.TryGetProperty("String", out var s) && s.GetString() == from
        && e.TryGetProperty("content", out var c) && c.GetString() == to;

    internal static string TypeOf(JsonElement e, string file, string where) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String
            ? t.GetString()!
            : throw Bad(file, $"{where} has no \"type\" string");

    /// <summary>Returns (Split regex or null, ByteLevel present?).</summary>
    private static (string?, bool) ReadPreTokenizer(JsonElement root, string file)
    {
        if (!root.TryGetProperty("pre_tokenizer", out var p) || p.ValueKind == JsonValueKind.Null) return (null, false);
        string type = TypeOf(p, file, "pre_tokenizer");
        var steps = type == "Sequence"
            ? Required(p, "pretokenizers", JsonValueKind.Array, file, "an array", "pre_tokenizer.pretokenizers").EnumerateArray().ToList()
            : [p];
        string? pattern = null;
        bool byteLevel = false;
        for (int i = 0; i < steps.Count; i++)
        {
            string where = type == "Sequence" ? $"pre_tokenizer.pretokenizers[{i}]" : "pre_tokenizer";
            var s = steps[i];
            switch (TypeOf(s, file, where))
            {
                case "Split" when pattern is null && !byteLevel:
                    if (!s.TryGetProperty("pattern", out var pat) || !pat.TryGetProperty("Regex", out var rx) || rx.ValueKind != JsonValueKind.String)
                        throw Bad(file, $"{where}.pattern must be {{\"Regex\": \"...\"}}");
                    if (!s.TryGetProperty("behavior", out var b) || b.GetString() != "Isolated")
                        throw Bad(file, $"{where}.behavior must be \"Isolated\" (the only Split behaviour supported)");
                    if (OptionalBool(s, "invert", file, $"{where}.invert") == true)
                        throw Bad(file, $"{where}.invert = true is not supported");
                    pattern = rx.GetString();
                    break;
                case "ByteLevel" when !byteLevel:
                    if (OptionalBool(s, "add_prefix_space", file, $"{where}.add_prefix_space") == true)
                        throw Bad(file, $"{where}.add_prefix_space = true is not supported (expected false)");
                    if (OptionalBool(s, "use_regex", file, $"{where}.use_regex") != false)
                        throw Bad(file, $"{where}.use_regex must be false (put the regex in a Split step, as Qwen2 does)");
                    byteLevel = true;
                    break;
                default:
                    throw Bad(file, $"{where} {s.GetRawText()} is not supported (expected Qwen2's Split(Regex, Isolated) then ByteLevel, or null)");
            }
        }
        if (byteLevel && pattern is null) throw Bad(file, "pre_tokenizer: ByteLevel without a Split regex is not supported");
        if (!byteLevel && pattern is not null) throw Bad(file, "pre_tokenizer: a Split regex without ByteLevel is not supported");
        return (pattern, byteLevel);
    }

    private static (int[], int[]) ReadPostProcessor(JsonElement root, string file)
    {
        if (!root.TryGetProperty("post_processor", out var p) || p.ValueKind == JsonValueKind.Null) return ([], []);
        string type = TypeOf(p, file, "post_processor");
        if (type == "ByteLevel") return ([], []); // offsets only
        if (type != "TemplateProcessing")
            throw Bad(file, $"post_processor type \"{type}\" is not supported (expected TemplateProcessing, ByteLevel or null)");
        var single = Required(p, "single", JsonValueKind.Array, file, "an array", "post_processor.single");
        var specials = Required(p, "special_tokens", JsonValueKind.Object, file, "an object", "post_processor.special_tokens");
        var prefix = new List<int>();
        var suffix = new List<int>();
        bool seenSequence = false;
        foreach (var piece in single.EnumerateArray())
        {
            if (piece.TryGetProperty("Sequence", out _)) { seenSequence = true; continue; }
            if (!piece.TryGetProperty("SpecialToken", out var st) || !st.TryGetProperty("id", out var name))
                throw Bad(file, $"post_processor.single item {piece.GetRawText()} is neither Sequence nor SpecialToken");
            if (!specials.TryGetProperty(name.GetString()!, out var entry) || !entry.TryGetProperty("ids", out var ids))
                throw Bad(file, $"post_processor.special_tokens has no entry \"{name.GetString()}\"");
            (seenSequence ? suffix : prefix).AddRange(ids.EnumerateArray().Select(i => i.GetInt32()));
        }
        return (prefix.ToArray(), suffix.ToArray());
    }

    private static int? ResolveConfigToken(JsonElement config, string name, Dictionary<string, int> vocabulary, List<AddedToken> added, string file)
    {
        if (!config.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        string? content = v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Object when v.TryGetProperty("content", out var c) => c.GetString(),
            _ => throw Bad(file, $"{name} is {v.GetRawText()}, expected a string or {{\"content\": ...}}"),
        };
        var a = added.FirstOrDefault(t => t.Content == content);
        if (a is not null) return a.Id;
        if (content is not null && vocabulary.TryGetValue(content, out int id)) return id;
        throw Bad(file, $"{name} \"{content}\" is neither an added token nor in the vocabulary");
    }
}
