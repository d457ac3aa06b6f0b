namespace UniPrune.Engine.Text;

/// <summary>
/// GPT-2's reversible byte → printable character table: byte-level BPE vocabularies (Qwen2) spell every byte with
/// one of these characters, e.g. space as "Ġ" and newline as "Ċ".
/// </summary>
public static class ByteLevelAlphabet
{
    public static IReadOnlyDictionary<byte, char> ByteToChar { get; } = Build();

    private static Dictionary<byte, char> Build()
    {
        // Printable Latin-1 bytes stand for themselves; the rest are shifted to U+0100 and up in byte order.
        static bool Printable(int b) => b is >= '!' and <= '~' or >= '¡' and <= '¬' or >= '®' and <= 'ÿ';
        var map = new Dictionary<byte, char>(256);
        int next = 0;
        for (int b = 0; b < 256; b++) map[(byte)b] = Printable(b) ? (char)b : (char)(256 + next++);
        return map;
    }
}
