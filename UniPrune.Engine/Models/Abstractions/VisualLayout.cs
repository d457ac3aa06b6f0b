namespace UniPrune.Engine.Models.Abstractions;

/// <summary>How a group of visual tokens relates to the image: a whole image, the local tiles of a tiled image, or its thumbnail.</summary>
public enum VisualUnitKind { Image, LocalTiles, Thumbnail }

/// <summary>
/// A contiguous run of visual tokens that methods prune as one unit (methods.md §1.5).
/// <paramref name="Offset"/> is the index of its first token among all visual tokens of the prompt (0-based);
/// <paramref name="GridRows"/> × <paramref name="GridCols"/> is its token grid per image/tile (tiles: per tile).
/// </summary>
public sealed record VisualUnit(VisualUnitKind Kind, int ImageIndex, int Offset, int Count, int GridRows, int GridCols, int Tiles = 1);

/// <summary>
/// Where the visual tokens sit in the LLM sequence. Visual token i (0-based, in sequence order) is at sequence
/// position <see cref="SequenceIndexOf"/>(i). Single-image prompts have one contiguous span.
/// </summary>
public sealed class VisualLayout
{
    public IReadOnlyList<VisualUnit> Units { get; }
    /// <summary>Sequence index of every visual token, ascending.</summary>
    public IReadOnlyList<long> SequenceIndices { get; }
    public int Count => SequenceIndices.Count;
    public int SequenceLength { get; }

    public VisualLayout(IReadOnlyList<VisualUnit> units, IReadOnlyList<long> sequenceIndices, int sequenceLength)
    {
        if (units.Sum(u => u.Count) != sequenceIndices.Count)
            throw new ArgumentException($"units cover {units.Sum(u => u.Count)} tokens but {sequenceIndices.Count} sequence indices were given");
        for (int i = 1; i < sequenceIndices.Count; i++)
            if (sequenceIndices[i] <= sequenceIndices[i - 1]) throw new ArgumentException("visual sequence indices must be strictly ascending");
        Units = units; SequenceIndices = sequenceIndices; SequenceLength = sequenceLength;
    }

    public long SequenceIndexOf(int visualIndex) => SequenceIndices[visualIndex];
    public int FirstSequenceIndex => Count == 0 ? -1 : (int)SequenceIndices[0];
    public int LastSequenceIndex => Count == 0 ? -1 : (int)SequenceIndices[^1];

    /// <summary>True when the visual tokens form one unbroken block (single image).</summary>
    public bool IsContiguous => Count == 0 || SequenceIndices[^1] - SequenceIndices[0] + 1 == Count;
}
