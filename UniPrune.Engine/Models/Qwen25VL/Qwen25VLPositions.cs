namespace UniPrune.Engine.Models.Qwen25VL;

/// <summary>
/// M-RoPE position ids of one prompt (transformers' get_rope_index, images only): three rows (temporal, height,
/// width) per token, and the next position a decoded token takes.
/// </summary>
/// <param name="Rows">Rows[r][i] = position of token i in stream r (0 = t, 1 = h, 2 = w).</param>
/// <param name="RopeDelta">max(position) + 1 − L (negative when images are present).</param>
public sealed record MropePositions(long[][] Rows, long RopeDelta)
{
    public int Length => Rows[0].Length;

    /// <summary>Position of the first decoded token on all three streams: max(position) + 1 = L + rope_delta.</summary>
    public long NextPosition => Length + RopeDelta;

    /// <summary>The columns of <paramref name="sequenceIndices"/> in that order (3-D ids of kept tokens).</summary>
    public long[][] Gather(IReadOnlyList<long> sequenceIndices) =>
        Rows.Select(row => sequenceIndices.Select(i => row[i]).ToArray()).ToArray();

    /// <summary>
    /// Computes the ids: text tokens get (p, p, p) from a running counter; an image whose placeholder run starts at
    /// counter value s gets (s, s + row, s + col) over its merged grid, raster order; text after it resumes at
    /// max(previous) + 1. Each image is found as its run of <paramref name="imageToken"/> ids, in prompt order.
    /// </summary>
    public static MropePositions Compute(IReadOnlyList<long> inputIds, IReadOnlyList<GridThw> imageGrids, int spatialMergeSize,
        long imageToken, long videoToken)
    {
        int length = inputIds.Count;
        var rows = new[] { new long[length], new long[length], new long[length] };
        if (inputIds.Contains(videoToken))
            throw new NotSupportedException("video placeholders in input_ids: only still images are supported");

        long next = 0;   // max position so far + 1
        int i = 0, image = 0;
        while (i < length)
        {
            if (inputIds[i] != imageToken)
            {
                rows[0][i] = rows[1][i] = rows[2][i] = next++;
                i++;
                continue;
            }
            if (image >= imageGrids.Count)
                throw new ArgumentException($"input_ids hold more image placeholder runs than the {imageGrids.Count} image grids given");
            var g = imageGrids[image++];
            int gh = g.H / spatialMergeSize, gw = g.W / spatialMergeSize, count = g.T * gh * gw;
            if (i + count > length)
                throw new ArgumentException($"image {image - 1} needs {count} placeholder tokens from index {i}, but the prompt ends at {length}");
            long start = next, max = next;
            for (int t = 0; t < g.T; t++)
                for (int r = 0; r < gh; r++)
                    for (int c = 0; c < gw; c++, i++)
                    {
                        if (inputIds[i] != imageToken)
                            throw new ArgumentException($"image {image - 1}: token {i} is {inputIds[i]}, expected placeholder {imageToken} ({count} in a row)");
                        // Still images: temporal index 0 for every frame (second_per_grid_t = 0 in the reference).
                        rows[0][i] = start;
                        rows[1][i] = start + r;
                        rows[2][i] = start + c;
                        max = Math.Max(max, Math.Max(start + r, start + c));
                    }
            next = max + 1;
        }
        if (image != imageGrids.Count)
            throw new ArgumentException($"{imageGrids.Count} image grids given but input_ids hold {image} placeholder runs");
        return new MropePositions(rows, next - length);
    }
}
