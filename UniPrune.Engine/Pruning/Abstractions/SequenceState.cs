using UniPrune.Engine.Models.Abstractions;

namespace UniPrune.Engine.Pruning.Abstractions;

/// <summary>
/// The prompt sequence as the LLM currently sees it, tracked by the hooks across decisions so a method can name probe rows before
/// a layer runs. <see cref="OriginalRows"/>[i] is the prompt row (before any pruning) of current row i, or −1 for a merged token.
/// </summary>
public sealed class SequenceState
{
    public VisualLayout Layout { get; }
    public IReadOnlyList<long> TextAfterImage { get; }
    public IReadOnlyList<long> OriginalRows { get; }
    public int Length => OriginalRows.Count;

    public SequenceState(VisualLayout layout, IReadOnlyList<long> textAfterImage, IReadOnlyList<long> originalRows)
    {
        if (layout.SequenceLength != originalRows.Count)
            throw new ArgumentException($"layout covers a sequence of {layout.SequenceLength} rows but {originalRows.Count} rows are tracked");
        Layout = layout; TextAfterImage = textAfterImage; OriginalRows = originalRows;
    }

    public static SequenceState FromPrompt(PreLlmContext context) =>
        new(context.Vision.Layout, context.TextAfterImage, Enumerable.Range(0, context.Vision.Layout.SequenceLength).Select(i => (long)i).ToArray());

    /// <summary>The last row of the sequence (the last prompt token: FastV's and PDrop's query row).</summary>
    public long LastRow => Length - 1;

    /// <summary>The sequence after a pre-LLM decision: each unit's slots hold its kept tokens in decision order, extra tokens go
    /// after the last unit's kept tokens.</summary>
    public SequenceState After(PreLlmDecision decision)
    {
        var units = Layout.Units;
        var keptPerUnit = new List<long>[units.Count];
        for (int u = 0; u < units.Count; u++) keptPerUnit[u] = [];
        foreach (long v in decision.Kept) keptPerUnit[UnitOf(v)].Add(v);
        return Rebuild(keptPerUnit, extraAfterUnit: units.Count - 1, extraCount: decision.ExtraTokens);
    }

    /// <summary>The sequence after an intra-LLM decision: non-visual rows stay, kept visual rows stay in order, appended merged
    /// tokens follow the last kept visual token.</summary>
    public SequenceState After(LayerDecision decision)
    {
        var units = Layout.Units;
        var keptPerUnit = new List<long>[units.Count];
        for (int u = 0; u < units.Count; u++) keptPerUnit[u] = [];
        int lastUnit = units.Count - 1;
        foreach (long v in decision.KeptVisual) { int u = UnitOf(v); keptPerUnit[u].Add(v); lastUnit = u; }
        int appended = decision.AppendedVisual is null ? 0 : (int)decision.AppendedVisual.shape[0];
        return Rebuild(keptPerUnit, decision.KeptVisual.Length == 0 ? units.Count - 1 : lastUnit, appended);
    }

    /// <summary>Rows of the current sequence that survive <paramref name="decision"/> (ascending).</summary>
    public long[] KeptRows(LayerDecision decision)
    {
        var dropped = new HashSet<long>(Layout.SequenceIndices);
        foreach (long v in decision.KeptVisual) dropped.Remove(Layout.SequenceIndices[(int)v]);
        return Enumerable.Range(0, Length).Select(i => (long)i).Where(r => !dropped.Contains(r)).ToArray();
    }

    private int UnitOf(long visualIndex)
    {
        var units = Layout.Units;
        for (int u = 0; u < units.Count; u++)
            if (visualIndex >= units[u].Offset && visualIndex < units[u].Offset + units[u].Count) return u;
        throw new ArgumentOutOfRangeException(nameof(visualIndex), visualIndex, $"visual index outside 0..{Layout.Count - 1}");
    }

    private SequenceState Rebuild(List<long>[] keptPerUnit, int extraAfterUnit, int extraCount)
    {
        var units = Layout.Units;
        var firstRowOfUnit = units.Select(u => Layout.SequenceIndices[u.Offset]).ToArray();
        var visualRows = new HashSet<long>(Layout.SequenceIndices);
        var rows = new List<long>(Length);
        var newVisual = new List<long>();
        var newUnits = new List<VisualUnit>();
        var rowMap = new Dictionary<long, long>();
        int offset = 0;
        for (long r = 0; r < Length; r++)
        {
            int unit = Array.IndexOf(firstRowOfUnit, r);
            if (unit >= 0)
            {
                foreach (long v in keptPerUnit[unit])
                {
                    newVisual.Add(rows.Count);
                    rows.Add(OriginalRows[(int)Layout.SequenceIndices[(int)v]]);
                }
                int count = keptPerUnit[unit].Count;
                if (unit == extraAfterUnit)
                    for (int e = 0; e < extraCount; e++) { newVisual.Add(rows.Count); rows.Add(-1); count++; }
                newUnits.Add(units[unit] with { Offset = offset, Count = count });
                offset += count;
            }
            if (visualRows.Contains(r)) continue;
            rowMap[r] = rows.Count;
            rows.Add(OriginalRows[(int)r]);
        }
        var text = TextAfterImage.Select(t => rowMap.TryGetValue(t, out var n) ? n : throw new InvalidOperationException($"text row {t} is a visual row")).ToArray();
        return new SequenceState(new VisualLayout(newUnits, newVisual, rows.Count), text, rows);
    }
}
