using System.Text;
using System.Text.Json;

namespace UniPrune.Engine.Tests.Text;

/// <summary>
/// A deliberately plain re-statement of Hugging Face's BPE for the LLaMA-2 layout (merge the lowest-rank pair first,
/// unknown characters fall back to &lt;0xNN&gt; bytes), used only to cross-check the SentencePiece-score route that
/// the engine takes through Microsoft.ML.Tokenizers on many more texts than the reference fixture holds.
/// </summary>
internal sealed class RankBpeReference
{
    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<(string, string), int> _ranks = new();

    public RankBpeReference(string tokenizerJson)
    {
        using var doc = JsonDocument.Parse(tokenizerJson);
        var model = doc.RootElement.GetProperty("model");
        _vocab = model.GetProperty("vocab").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32(), StringComparer.Ordinal);
        int rank = 0;
        foreach (var m in model.GetProperty("merges").EnumerateArray())
        {
            var (a, b) = m.ValueKind == JsonValueKind.String
                ? (m.GetString()!.Split(' ')[0], m.GetString()!.Split(' ')[1])
                : (m[0].GetString()!, m[1].GetString()!);
            _ranks.TryAdd((a, b), rank++);
        }
    }

    /// <summary>Ids of one piece of text that contains no added token (no BOS).</summary>
    public List<int> Encode(string text)
    {
        var ids = new List<int>();
        if (text.Length == 0) return ids;
        string normalized = "▁" + text.Replace(' ', '▁');
        var symbols = new List<string>();
        foreach (var rune in normalized.EnumerateRunes()) symbols.Add(rune.ToString());
        while (true)
        {
            int best = -1, bestRank = int.MaxValue;
            for (int i = 0; i + 1 < symbols.Count; i++)
                if (_ranks.TryGetValue((symbols[i], symbols[i + 1]), out int r) && r < bestRank) { bestRank = r; best = i; }
            if (best < 0) break;
            symbols[best] += symbols[best + 1];
            symbols.RemoveAt(best + 1);
        }
        foreach (var s in symbols)
        {
            if (_vocab.TryGetValue(s, out int id)) ids.Add(id);
            else foreach (byte b in Encoding.UTF8.GetBytes(s)) ids.Add(_vocab[$"<0x{b:X2}>"]);
        }
        return ids;
    }
}
