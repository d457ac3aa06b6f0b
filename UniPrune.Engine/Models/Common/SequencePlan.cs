using UniPrune.Engine.Models.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Models.Common;

/// <summary>
/// Which rows of a sequence survive a pruning decision and where the visual tokens end up. Text rows are always
/// kept in their order; each visual unit's surviving tokens take the unit's place, in the order the decision gave;
/// merged extra tokens (PruMerge) follow the last unit's tokens.
/// </summary>
/// <param name="SourceRows">For each row of the new sequence, its row in the old one; −1 for a merged extra token.</param>
/// <param name="Layout">The visual layout in the new sequence.</param>
/// <param name="TextAfterImage">New-sequence rows of the text after the last visual token.</param>
/// <param name="ExtraPositionSources">For each extra token, the old row whose position id it borrows (the unit's last visual row).</param>
public sealed record SequencePlan(long[] SourceRows, VisualLayout Layout, long[] TextAfterImage, long[] ExtraPositionSources)
{
    public int Length => SourceRows.Length;

    /// <param name="keptVisual">Indices into the current visual tokens (0..N−1), unique, in the order they should appear.</param>
    public static SequencePlan Build(VisualLayout layout, int sequenceLength, IReadOnlyList<long> keptVisual, int extraTokens = 0)
    {
        if (layout.SequenceLength != sequenceLength)
            throw new ArgumentException($"layout describes a sequence of {layout.SequenceLength} rows, the sequence has {sequenceLength}");
        int n = layout.Count;
        var seen = new HashSet<long>();
        foreach (var v in keptVisual)
        {
            if (v < 0 || v >= n) throw new ArgumentException($"kept visual index {v} is outside 0..{n - 1}");
            if (!seen.Add(v)) throw new ArgumentException($"kept visual index {v} appears twice");
        }
        if (extraTokens < 0 || (extraTokens > 0 && layout.Units.Count == 0)) throw new ArgumentException($"{extraTokens} extra tokens need at least one visual unit");

        // Kept tokens per unit, in decision order.
        var perUnit = layout.Units.Select(_ => new List<long>()).ToArray();
        foreach (var v in keptVisual) perUnit[UnitOf(layout, v)].Add(v);

        var visualRows = new HashSet<long>(layout.SequenceIndices);
        var unitStartRow = layout.Units.Select(u => layout.SequenceIndexOf(u.Offset)).ToArray();
        var rows = new List<long>(sequenceLength);
        var newVisualRows = new List<long>();
        var units = new List<VisualUnit>();
        var extraSources = new List<long>();
        int offset = 0;
        for (long row = 0; row < sequenceLength; row++)
        {
            int unit = Array.IndexOf(unitStartRow, row);
            if (unit >= 0)
            {
                var u = layout.Units[unit];
                foreach (var v in perUnit[unit]) { newVisualRows.Add(rows.Count); rows.Add(layout.SequenceIndexOf((int)v)); }
                int count = perUnit[unit].Count;
                if (unit == layout.Units.Count - 1)
                    for (int e = 0; e < extraTokens; e++)
                    {
                        newVisualRows.Add(rows.Count); rows.Add(-1);
                        extraSources.Add(layout.SequenceIndexOf(u.Offset + u.Count - 1));
                        count++;
                    }
                units.Add(u with { Offset = offset, Count = count });
                offset += count;
            }
            if (!visualRows.Contains(row)) rows.Add(row);
        }
        // Visual rows of a unit were emitted at its first row; any visual row there was skipped by the Contains test.
        var sortedVisual = newVisualRows.ToArray();
        var newLayout = new VisualLayout(units, sortedVisual, rows.Count);
        return new SequencePlan(rows.ToArray(), newLayout, TextAfterLastVisual(newLayout, rows.Count), extraSources.ToArray());
    }

    /// <summary>The plan that keeps everything (identity).</summary>
    public static SequencePlan KeepAll(VisualLayout layout, int sequenceLength) =>
        Build(layout, sequenceLength, Enumerable.Range(0, layout.Count).Select(i => (long)i).ToArray());

    /// <summary>Rows after the last visual token of a layout (the question and the template's closing tokens).</summary>
    public static long[] TextAfterLastVisual(VisualLayout layout, int sequenceLength) =>
        layout.Count == 0 ? [] : Enumerable.Range(layout.LastSequenceIndex + 1, sequenceLength - layout.LastSequenceIndex - 1).Select(i => (long)i).ToArray();

    private static int UnitOf(VisualLayout layout, long visual)
    {
        for (int i = 0; i < layout.Units.Count; i++)
            if (visual >= layout.Units[i].Offset && visual < layout.Units[i].Offset + layout.Units[i].Count) return i;
        throw new ArgumentException($"visual index {visual} belongs to no unit");
    }

    /// <summary>Old-row indices of the kept rows (extra tokens excluded), as an int64 tensor.</summary>
    public Tensor GatherIndex(Device device) => tensor(SourceRows.Where(r => r >= 0).ToArray(), dtype: ScalarType.Int64, device: device);

    /// <summary>
    /// Position ids (rows, L') for the new sequence: renumbered 0..L'−1 for 1-D ids under <see cref="PositionPolicy.Renumber"/>,
    /// otherwise gathered from the old ids (multi-row ids such as M-RoPE are always gathered).
    /// </summary>
    public Tensor Positions(Tensor oldPositions, PositionPolicy policy)
    {
        using var scope = NewDisposeScope();
        if (policy == PositionPolicy.Renumber && oldPositions.shape[0] == 1)
            return HeldScalars.Arange(Length, ScalarType.Int64, oldPositions.device).unsqueeze(0).MoveToOuterDisposeScope();
        int extra = 0;
        var source = SourceRows.Select(r => r >= 0 ? r : ExtraPositionSources[extra++]).ToArray();
        return oldPositions.index_select(1, tensor(source, dtype: ScalarType.Int64, device: oldPositions.device)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Rows (L', H) of the new sequence from the old rows (L, H). With <paramref name="replacement"/> (kept + extra rows, in
    /// the decision's order <paramref name="keptVisual"/> then the extras) the visual rows come from it instead.
    /// </summary>
    public Tensor GatherRows(Tensor oldRows, VisualLayout oldLayout, IReadOnlyList<long> keptVisual, Tensor? replacement)
    {
        using var scope = NewDisposeScope();
        if (replacement is null)
        {
            if (SourceRows.Any(r => r < 0)) throw new ArgumentException("merged extra tokens need replacement embeddings");
            return oldRows.index_select(0, GatherIndex(oldRows.device)).MoveToOuterDisposeScope();
        }
        int extras = SourceRows.Count(r => r < 0);
        if (replacement.shape[0] != keptVisual.Count + extras)
            throw new ArgumentException($"replacement embeddings have {replacement.shape[0]} rows; expected {keptVisual.Count} kept + {extras} extra");
        // Each new row reads either an old row or a replacement row: concatenate both and gather once.
        var replacementRowOfOldRow = new Dictionary<long, long>();
        for (int i = 0; i < keptVisual.Count; i++) replacementRowOfOldRow[oldLayout.SequenceIndexOf((int)keptVisual[i])] = i;
        long oldLength = oldRows.shape[0];
        int extra = 0;
        var index = SourceRows.Select(r => r < 0 ? oldLength + keptVisual.Count + extra++
            : replacementRowOfOldRow.TryGetValue(r, out var k) ? oldLength + k : r).ToArray();
        var both = cat([oldRows, replacement.to(oldRows.dtype, oldRows.device)], 0);
        return both.index_select(0, tensor(index, dtype: ScalarType.Int64, device: oldRows.device)).MoveToOuterDisposeScope();
    }
}
