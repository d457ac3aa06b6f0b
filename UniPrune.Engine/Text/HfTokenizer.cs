using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;
using UniPrune.Engine.Models.Abstractions;

namespace UniPrune.Engine.Text;

/// <summary>
/// A Hugging Face tokenizer (<c>tokenizer.json</c>, optionally gzip, or a SentencePiece <c>tokenizer.model</c>, plus an
/// optional <c>tokenizer_config.json</c>) with Hugging Face's encode/decode semantics:
/// added tokens are cut out of the raw text first (leftmost, longest), each remaining piece is normalized and
/// encoded on its own, and the post-processor's BOS/EOS are put around the whole.
/// Qwen2 (byte-level BPE) runs on Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/> with the file's Split regex;
/// LLaMA-2 (SentencePiece-style BPE with byte fallback) on our <see cref="SentencePieceBpeEncoder"/>, because
/// Microsoft.ML.Tokenizers' BpeTokenizer has no byte fallback and its LlamaTokenizer breaks ties the wrong way.
/// </summary>
/// <remarks>
/// When <c>tokenizer_config.json</c> has <c>added_tokens_decoder</c>, that map is the complete added-token set
/// (transformers writes every added token there). This is how InternVL3 puts its own tokens at 151665+ over the
/// Qwen2.5 vocabulary, and how llava-hf adds &lt;image&gt; 32000 to LLaMA-2's.
/// Added tokens are matched in the raw text whatever their <c>normalized</c> flag (every added token of the three
/// model families has normalized = false); <c>single_word</c> = true is refused at load.
/// </remarks>
public sealed class HfTokenizer : ITextTokenizer
{
    private readonly TokenizerDefinition _definition;
    private readonly SentencePieceBpeEncoder? _sentencePiece;
    private readonly Tokenizer? _byteLevel;
    private readonly string[] _idToModelToken;
    private readonly Dictionary<int, AddedToken> _addedById;
    private readonly Dictionary<string, AddedToken> _addedByContent;
    private readonly Dictionary<char, AddedToken[]> _addedByFirstChar;

    /// <summary>The tokenizer.json (or tokenizer.model) this was loaded from.</summary>
    public string File => _definition.File;
    public TokenizerLayout Layout => _definition.Layout;
    /// <summary>Number of tokens in the BPE model's vocabulary (without added tokens outside it).</summary>
    public int ModelVocabularySize => _idToModelToken.Length;
    /// <summary>One past the largest id the tokenizer can produce, added tokens included.</summary>
    public int VocabularySize { get; }
    public IReadOnlyList<AddedToken> AddedTokens => _definition.AddedTokens;
    /// <summary>Ids put before / after every encoded text when special tokens are added (LLaMA: BOS = 1; Qwen: none).</summary>
    public IReadOnlyList<int> PrefixIds => _definition.PrefixIds;
    public IReadOnlyList<int> SuffixIds => _definition.SuffixIds;
    public int? BosId => _definition.BosId;
    public int? EosId => _definition.EosId;
    /// <summary>Wall time spent parsing the files and building the underlying tokenizer.</summary>
    public TimeSpan BuildTime { get; }

    private HfTokenizer(TokenizerDefinition definition, Stopwatch clock)
    {
        _definition = definition;
        _idToModelToken = new string[definition.Vocabulary.Count];
        foreach (var (token, id) in definition.Vocabulary) _idToModelToken[id] = token;

        _addedById = new Dictionary<int, AddedToken>();
        _addedByContent = new Dictionary<string, AddedToken>(StringComparer.Ordinal);
        foreach (var a in definition.AddedTokens)
        {
            if (!_addedById.TryAdd(a.Id, a))
                throw new Core.CheckpointFormatException(definition.File, $"added token id {a.Id} is listed twice");
            if (!_addedByContent.TryAdd(a.Content, a))
                throw new Core.CheckpointFormatException(definition.File, $"added token \"{a.Content}\" is listed twice");
            if (a.Id < _idToModelToken.Length && _idToModelToken[a.Id] != a.Content)
                throw new Core.CheckpointFormatException(definition.File,
                    $"added token \"{a.Content}\" has id {a.Id}, which the model vocabulary gives to \"{_idToModelToken[a.Id]}\"");
        }
        _addedByFirstChar = definition.AddedTokens
            .GroupBy(a => a.Content[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(a => a.Content.Length).ToArray());
        VocabularySize = Math.Max(_idToModelToken.Length, definition.AddedTokens.Count == 0 ? 0 : definition.AddedTokens.Max(a => a.Id) + 1);

        if (definition.Layout == TokenizerLayout.SentencePieceBpe)
        {
            int unknownId = definition.Vocabulary[definition.UnknownToken!];
            _sentencePiece = definition.SentencePieceScores is { } scores
                ? SentencePieceBpeEncoder.FromScores(definition.Vocabulary, scores, unknownId)
                : SentencePieceBpeEncoder.FromMerges(definition.Vocabulary, definition.Merges, unknownId, definition.File);
        }
        else
        {
            _byteLevel = BuildByteLevel(definition);
        }
        BuildTime = clock.Elapsed;
    }

    /// <summary>Loads <paramref name="tokenizerJsonPath"/> (plain or gzip) and, if given, <paramref name="tokenizerConfigPath"/>.</summary>
    public static HfTokenizer Load(string tokenizerJsonPath, string? tokenizerConfigPath = null)
    {
        var clock = Stopwatch.StartNew();
        return new HfTokenizer(TokenizerDefinition.Load(tokenizerJsonPath, tokenizerConfigPath), clock);
    }

    /// <summary>
    /// Loads a SentencePiece <c>tokenizer.model</c> (LLaMA-2 style), as the original <c>liuhaotian/llava-v1.5-*</c>
    /// checkpoints ship it, with transformers' slow-tokenizer defaults (&lt;unk&gt;, &lt;s&gt;, &lt;/s&gt; special; BOS added)
    /// unless <paramref name="tokenizerConfigPath"/> says otherwise.
    /// </summary>
    public static HfTokenizer LoadSentencePieceModel(string modelPath, string? tokenizerConfigPath = null)
    {
        var clock = Stopwatch.StartNew();
        return new HfTokenizer(TokenizerDefinition.LoadSentencePieceModel(modelPath, tokenizerConfigPath), clock);
    }

    /// <summary>
    /// What the model loaders call (<see cref="ModelLoadOptions.TokenizerLoader"/>): the tokenizer.json they found, with the
    /// <c>tokenizer_config.json</c> beside it when there is one.
    /// </summary>
    public static HfTokenizer LoadForModel(string tokenizerJsonPath)
    {
        string config = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(tokenizerJsonPath))!, "tokenizer_config.json");
        return Load(tokenizerJsonPath, System.IO.File.Exists(config) ? config : null);
    }

    /// <summary>
    /// Loads a model folder: <c>tokenizer.json</c>, else <c>tokenizer.json.gz</c>, else a SentencePiece <c>tokenizer.model</c>;
    /// plus <c>tokenizer_config.json</c> when present.
    /// </summary>
    public static HfTokenizer LoadDirectory(string directory)
    {
        string config = Path.Combine(directory, "tokenizer_config.json");
        string? configOrNull = System.IO.File.Exists(config) ? config : null;
        foreach (var name in new[] { "tokenizer.json", "tokenizer.json.gz" })
            if (System.IO.File.Exists(Path.Combine(directory, name))) return Load(Path.Combine(directory, name), configOrNull);
        string model = Path.Combine(directory, "tokenizer.model");
        if (System.IO.File.Exists(model)) return LoadSentencePieceModel(model, configOrNull);
        throw new FileNotFoundException($"{directory}: no tokenizer.json, tokenizer.json.gz or tokenizer.model found", Path.Combine(directory, "tokenizer.json"));
    }

    private static Tokenizer BuildByteLevel(TokenizerDefinition definition)
    {
        var options = new BpeOptions(definition.Vocabulary)
        {
            Merges = definition.Merges.Select(m => m.Left + " " + m.Right),
            ByteLevel = true,
            PreTokenizer = new RegexPreTokenizer(new Regex(definition.SplitPattern!, RegexOptions.Compiled), specialTokens: null),
        };
        return BpeTokenizer.Create(options);
    }

    /// <summary>Token ids of <paramref name="text"/>, as Hugging Face's <c>tokenizer(text).input_ids</c>.</summary>
    public int[] Encode(string text, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 4);
        if (addSpecialTokens) ids.AddRange(_definition.PrefixIds);
        foreach (var (start, length, added) in Split(text))
        {
            if (added is not null) ids.Add(added.Id);
            else EncodePiece(text.Substring(start, length), ids);
        }
        if (addSpecialTokens) ids.AddRange(_definition.SuffixIds);
        return ids.ToArray();
    }

    /// <summary>
    /// LLaVA's <c>tokenizer_image_token</c>: splits <paramref name="prompt"/> at every <paramref name="placeholder"/>,
    /// encodes each chunk on its own with special tokens, keeps the BOS of the first chunk only, and puts
    /// <paramref name="imageTokenId"/> (the original code's sentinel −200, or llava-hf's 32000) at each split.
    /// </summary>
    public int[] EncodeWithImagePlaceholder(string prompt, int imageTokenId, string placeholder = "<image>")
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentException.ThrowIfNullOrEmpty(placeholder);
        var chunks = prompt.Split(placeholder);
        var first = Encode(chunks[0]);
        // As in LLaVA: the BOS is stripped from later chunks only when the first chunk really starts with it.
        int offset = PrefixIds.Count > 0 && first.AsSpan().StartsWith(PrefixIds.ToArray()) ? PrefixIds.Count : 0;
        var ids = new List<int>(first);
        for (int i = 1; i < chunks.Length; i++)
        {
            ids.Add(imageTokenId);
            ids.AddRange(Encode(chunks[i]).Skip(offset));
        }
        return ids.ToArray();
    }

    /// <summary>The id of an added token or a vocabulary token, e.g. <c>TokenToId("&lt;|image_pad|&gt;")</c>.</summary>
    public int TokenToId(string token) =>
        TryTokenToId(token, out int id) ? id : throw new KeyNotFoundException($"{File}: token \"{token}\" is neither an added token nor in the vocabulary");

    public bool TryTokenToId(string token, out int id)
    {
        if (_addedByContent.TryGetValue(token, out var a)) { id = a.Id; return true; }
        return _definition.Vocabulary.TryGetValue(token, out id);
    }

    /// <summary>The token string of <paramref name="id"/> (added tokens first), or null when no token has that id.</summary>
    public string? IdToToken(int id)
    {
        if (_addedById.TryGetValue(id, out var a)) return a.Content;
        return (uint)id < (uint)_idToModelToken.Length ? _idToModelToken[id] : null;
    }

    /// <summary>True for added tokens marked special (the ones <see cref="Decode"/> can skip).</summary>
    public bool IsSpecial(int id) => _addedById.TryGetValue(id, out var a) && a.Special;

    /// <summary>
    /// Text of <paramref name="ids"/> through the file's decoder, as Hugging Face's <c>decode</c>: ids that name no
    /// token (such as LLaVA's −200 sentinel) are left out, and special added tokens too when <paramref name="skipSpecialTokens"/>.
    /// </summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var tokens = new List<string>();
        foreach (int id in ids)
        {
            if (skipSpecialTokens && IsSpecial(id)) continue;
            if (IdToToken(id) is { } token) tokens.Add(token);
        }
        return _definition.Decoder.Decode(tokens);
    }

    /// <summary>Ids of a text chunk without BOS/EOS (the models' view; the "▁" dummy prefix is still added per piece).</summary>
    IReadOnlyList<long> ITextTokenizer.Encode(string text) => Array.ConvertAll(Encode(text, addSpecialTokens: false), id => (long)id);

    /// <summary>Generated ids to text with special tokens left out; ids outside the vocabulary name no token and are skipped.</summary>
    string ITextTokenizer.Decode(IReadOnlyList<long> ids) =>
        Decode(ids.Where(id => id is >= int.MinValue and <= int.MaxValue).Select(id => (int)id), skipSpecialTokens: true);

    private void EncodePiece(string piece, List<int> ids)
    {
        if (piece.Length == 0) return; // HF's Prepend normalizer leaves an empty piece empty
        if (_sentencePiece is not null) { _sentencePiece.Encode(piece, ids); return; }
        if (_definition.NormalizeNfc) piece = piece.Normalize(NormalizationForm.FormC);
        ids.AddRange(_byteLevel!.EncodeToIds(piece));
    }

    /// <summary>Cuts <paramref name="text"/> into plain pieces and added tokens: leftmost match first, longest on a tie, with lstrip/rstrip eating whitespace.</summary>
    private List<(int Start, int Length, AddedToken? Added)> Split(string text)
    {
        var parts = new List<(int, int, AddedToken?)>();
        int plainStart = 0;
        int i = 0;
        while (i < text.Length)
        {
            AddedToken? match = null;
            if (_addedByFirstChar.TryGetValue(text[i], out var candidates))
                foreach (var c in candidates)
                    if (string.CompareOrdinal(text, i, c.Content, 0, c.Content.Length) == 0) { match = c; break; }
            if (match is null) { i++; continue; }

            int start = i, end = i + match.Content.Length;
            if (match.LStrip) while (start > plainStart && char.IsWhiteSpace(text[start - 1])) start--;
            if (match.RStrip) while (end < text.Length && char.IsWhiteSpace(text[end])) end++;
            if (start > plainStart) parts.Add((plainStart, start - plainStart, null));
            parts.Add((start, end - start, match));
            plainStart = i = end;
        }
        if (plainStart < text.Length) parts.Add((plainStart, text.Length - plainStart, null));
        return parts;
    }
}
