using Google.Protobuf;

namespace UniPrune.Engine.Text;

/// <summary>
/// Writes a SentencePiece <c>ModelProto</c> (the bytes of a <c>tokenizer.model</c>) for a LLaMA-2-layout BPE
/// vocabulary, so Microsoft.ML.Tokenizers' <c>LlamaTokenizer</c> (which has byte fallback; its BpeTokenizer does not)
/// can run a tokenizer that only exists as a Hugging Face tokenizer.json.
/// </summary>
/// <remarks>
/// SentencePiece BPE merges the adjacent pair whose concatenation has the highest score; HF BPE merges the pair with
/// the lowest merge rank. Scoring each piece as −(rank of the first merge that produces it) makes the two agree on
/// vocabularies whose merge list holds every split of every piece, as converted SentencePiece models (LLaMA-2) do.
/// Field numbers follow sentencepiece_model.proto.
/// </remarks>
internal static class SentencePieceModelWriter
{
    private enum PieceType { Normal = 1, Unknown = 2, Control = 3, Unused = 5, Byte = 6 }

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
            PieceType type;
            float score = 0;
            if (id == unknownId) type = PieceType.Unknown;
            else if (control.Contains(piece)) type = PieceType.Control;
            else if (IsByteToken(piece)) type = PieceType.Byte;
            else if (firstRank.TryGetValue(piece, out int rank)) { type = PieceType.Normal; score = -rank; }
            // A multi-character piece that no merge produces is unreachable in HF; Unused makes SentencePiece split it again.
            else type = piece.EnumerateRunes().Count() == 1 ? PieceType.Normal : PieceType.Unused;

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
        t.WriteTag(3, WireFormat.WireType.Varint); t.WriteEnum(2);                 // model_type = BPE
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

    internal static bool IsByteToken(string piece) =>
        piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>'
        && Uri.IsHexDigit(piece[3]) && Uri.IsHexDigit(piece[4]);
}
