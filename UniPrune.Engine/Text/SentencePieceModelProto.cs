using Google.Protobuf;
using UniPrune.Engine.Core;

namespace UniPrune.Engine.Text;

/// <summary>The parts of a SentencePiece <c>ModelProto</c> (a <c>tokenizer.model</c>) that a LLaMA-2-style BPE needs.</summary>
internal sealed record SentencePieceModel(
    IReadOnlyList<(string Piece, float Score, SentencePieceType Type)> Pieces,
    int ModelType, bool ByteFallback, int UnknownId, int BosId, int EosId,
    bool AddDummyPrefix, bool RemoveExtraWhitespaces, bool EscapeWhitespaces, bool TreatWhitespaceAsSuffix, bool HasCharsMap);

internal enum SentencePieceType { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 }

/// <summary>
/// Reads and writes SentencePiece model protos (field numbers from sentencepiece_model.proto). Writing lets the
/// tests exercise the tokenizer.model route with LLaMA-2's data, which we only have as a tokenizer.json.
/// </summary>
internal static class SentencePieceModelProto
{
    private const int BpeModelType = 2;

    /// <summary>
    /// A model proto for a LLaMA-2-layout tokenizer.json. Each piece's score is −(rank of the first merge that
    /// produces it), so SentencePiece's highest-score-first order follows the merge list.
    /// </summary>
    public static byte[] Write(TokenizerDefinition definition)
    {
        var vocabulary = definition.Vocabulary;
        var pieces = new string[vocabulary.Count];
        foreach (var (token, id) in vocabulary) pieces[id] = token;

        var firstRank = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int rank = 0; rank < definition.Merges.Count; rank++)
            firstRank.TryAdd(definition.Merges[rank].Left + definition.Merges[rank].Right, rank);

        var control = definition.AddedTokens.Where(a => a.Special).Select(a => a.Content).ToHashSet(StringComparer.Ordinal);
        int unknownId = vocabulary[definition.UnknownToken!];
        int bosId = vocabulary.TryGetValue("<s>", out int b) ? b : -1;
        int eosId = vocabulary.TryGetValue("</s>", out int e) ? e : -1;

        using var buffer = new MemoryStream();
        var output = new CodedOutputStream(buffer);
        for (int id = 0; id < pieces.Length; id++)
        {
            string piece = pieces[id];
            SentencePieceType type;
            float score = 0;
            if (id == unknownId) type = SentencePieceType.Unknown;
            else if (control.Contains(piece)) type = SentencePieceType.Control;
            else if (IsByteToken(piece)) type = SentencePieceType.Byte;
            else if (firstRank.TryGetValue(piece, out int rank)) { type = SentencePieceType.Normal; score = -rank; }
            // A multi-character piece that no merge produces is unreachable in HF; Unused keeps SentencePiece from making it.
            else type = piece.EnumerateRunes().Count() == 1 ? SentencePieceType.Normal : SentencePieceType.Unused;

            // SentencePiece { 1: piece, 2: score, 3: type }, written in place with its length prefix.
            int length = 1 + CodedOutputStream.ComputeStringSize(piece) + 1 + 4 + 1 + CodedOutputStream.ComputeEnumSize((int)type);
            output.WriteTag(1, WireFormat.WireType.LengthDelimited);
            output.WriteLength(length);
            output.WriteTag(1, WireFormat.WireType.LengthDelimited); output.WriteString(piece);
            output.WriteTag(2, WireFormat.WireType.Fixed32); output.WriteFloat(score);
            output.WriteTag(3, WireFormat.WireType.Varint); output.WriteEnum((int)type);
        }

        var trainer = new MemoryStream();
        var t = new CodedOutputStream(trainer);
        t.WriteTag(3, WireFormat.WireType.Varint); t.WriteEnum(BpeModelType);      // model_type
        t.WriteTag(4, WireFormat.WireType.Varint); t.WriteInt32(pieces.Length);    // vocab_size
        t.WriteTag(35, WireFormat.WireType.Varint); t.WriteBool(true);             // byte_fallback
        t.WriteTag(40, WireFormat.WireType.Varint); t.WriteInt32(unknownId);       // unk_id
        t.WriteTag(41, WireFormat.WireType.Varint); t.WriteInt32(bosId);           // bos_id
        t.WriteTag(42, WireFormat.WireType.Varint); t.WriteInt32(eosId);           // eos_id
        t.WriteTag(43, WireFormat.WireType.Varint); t.WriteInt32(-1);              // pad_id
        t.WriteTag(45, WireFormat.WireType.LengthDelimited); t.WriteString(definition.UnknownToken!);
        if (bosId >= 0) { t.WriteTag(46, WireFormat.WireType.LengthDelimited); t.WriteString("<s>"); }
        if (eosId >= 0) { t.WriteTag(47, WireFormat.WireType.LengthDelimited); t.WriteString("</s>"); }
        t.Flush();
        output.WriteTag(2, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFrom(trainer.ToArray()));

        var normalizer = new MemoryStream();
        var n = new CodedOutputStream(normalizer);
        n.WriteTag(1, WireFormat.WireType.LengthDelimited); n.WriteString("identity");
        n.WriteTag(3, WireFormat.WireType.Varint); n.WriteBool(true);   // add_dummy_prefix: HF's Prepend "▁"
        n.WriteTag(4, WireFormat.WireType.Varint); n.WriteBool(false);  // remove_extra_whitespaces (proto default is true)
        n.WriteTag(5, WireFormat.WireType.Varint); n.WriteBool(true);   // escape_whitespaces: HF's Replace " " → "▁"
        n.Flush();
        output.WriteTag(3, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFrom(normalizer.ToArray()));

        output.Flush();
        return buffer.ToArray();
    }

    /// <summary>Parses a model proto; anything that is not a well-formed proto fails naming <paramref name="file"/>.</summary>
    public static SentencePieceModel Read(byte[] bytes, string file)
    {
        try
        {
            return ReadModel(new CodedInputStream(bytes));
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new CheckpointFormatException(file, $"not a SentencePiece model proto ({e.Message})");
        }
    }

    private static SentencePieceModel ReadModel(CodedInputStream input)
    {
        var pieces = new List<(string, float, SentencePieceType)>();
        // proto2 defaults, as sentencepiece_model.proto declares them
        int modelType = 1, unk = 0, bos = 1, eos = 2;
        bool byteFallback = false, dummyPrefix = true, removeExtra = true, escape = true, suffix = false, charsMap = false;
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1 when WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited:
                    pieces.Add(ReadPiece(new CodedInputStream(input.ReadBytes().ToByteArray())));
                    break;
                case 2 when WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited:
                    var trainer = new CodedInputStream(input.ReadBytes().ToByteArray());
                    uint tt;
                    while ((tt = trainer.ReadTag()) != 0)
                    {
                        switch (WireFormat.GetTagFieldNumber(tt))
                        {
                            case 3: modelType = trainer.ReadEnum(); break;
                            case 24: suffix = trainer.ReadBool(); break;
                            case 35: byteFallback = trainer.ReadBool(); break;
                            case 40: unk = trainer.ReadInt32(); break;
                            case 41: bos = trainer.ReadInt32(); break;
                            case 42: eos = trainer.ReadInt32(); break;
                            default: trainer.SkipLastField(); break;
                        }
                    }
                    break;
                case 3 when WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited:
                    var normalizer = new CodedInputStream(input.ReadBytes().ToByteArray());
                    uint nt;
                    while ((nt = normalizer.ReadTag()) != 0)
                    {
                        switch (WireFormat.GetTagFieldNumber(nt))
                        {
                            case 2: charsMap = normalizer.ReadBytes().Length > 0; break;
                            case 3: dummyPrefix = normalizer.ReadBool(); break;
                            case 4: removeExtra = normalizer.ReadBool(); break;
                            case 5: escape = normalizer.ReadBool(); break;
                            default: normalizer.SkipLastField(); break;
                        }
                    }
                    break;
                default:
                    input.SkipLastField();
                    break;
            }
        }
        return new SentencePieceModel(pieces, modelType, byteFallback, unk, bos, eos, dummyPrefix, removeExtra, escape, suffix, charsMap);
    }

    private static (string, float, SentencePieceType) ReadPiece(CodedInputStream input)
    {
        string piece = "";
        float score = 0;
        var type = SentencePieceType.Normal;
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1: piece = input.ReadString(); break;
                case 2: score = input.ReadFloat(); break;
                case 3: type = (SentencePieceType)input.ReadEnum(); break;
                default: input.SkipLastField(); break;
            }
        }
        return (piece, score, type);
    }

    internal static bool IsByteToken(string piece) =>
        piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>'
        && Uri.IsHexDigit(piece[3]) && Uri.IsHexDigit(piece[4]);
}
