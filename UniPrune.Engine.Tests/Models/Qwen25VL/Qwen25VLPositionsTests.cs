using UniPrune.Engine.Models.Qwen25VL;

namespace UniPrune.Engine.Tests.Models.Qwen25VL;

public class Qwen25VLPositionsTests
{
    [Fact]
    public void GoldenPromptPositionsAndRopeDeltaEqualTheReference()
    {
        using var golden = new Qwen25VLGolden();
        using var ids = golden.Inputs.Read("input_ids");
        using var expected = golden.Inputs.Read("position_ids");
        using var delta = golden.Inputs.Read("rope_deltas");
        using var decode = golden.Inputs.Read("decode_position_ids");
        var t = golden.Config.Tokens;

        var positions = MropePositions.Compute(ids.data<long>().ToArray(), golden.Grids(), golden.Config.Vision.SpatialMergeSize, t.ImageToken, t.VideoToken);

        var e = expected.data<long>().ToArray();
        int length = positions.Length;
        Assert.Equal(73, length);
        for (int r = 0; r < 3; r++) Assert.Equal(e.Skip(r * length).Take(length), positions.Rows[r]);
        Assert.Equal(delta.item<long>(), positions.RopeDelta);
        // Decode step k uses L + k + rope_delta on all three rows.
        var d = decode.data<long>().ToArray();
        for (int r = 0; r < 3; r++)
            Assert.Equal(d.Skip(r * 8).Take(8), Enumerable.Range(0, 8).Select(k => positions.NextPosition + k));
    }

    [Fact]
    public void TextOnlyPromptHasPlainPositions()
    {
        var p = MropePositions.Compute([5, 6, 7], [], 2, 99, 98);
        Assert.All(p.Rows, row => Assert.Equal([0L, 1, 2], row));
        Assert.Equal(0, p.RopeDelta);
    }

    [Fact]
    public void TwoImagesContinueFromTheMaximum()
    {
        // text, image 2×3 merged (grid 4×6), text, image 1×1 (grid 2×2), text
        long I = 9;
        long[] ids = [1, I, I, I, I, I, I, 2, I, 3];
        var p = MropePositions.Compute(ids, [new GridThw(1, 4, 6), new GridThw(1, 2, 2)], 2, I, 8);
        Assert.Equal([0L, 1, 1, 1, 1, 1, 1, 4, 5, 6], p.Rows[0]);
        Assert.Equal([0L, 1, 1, 1, 2, 2, 2, 4, 5, 6], p.Rows[1]);
        Assert.Equal([0L, 1, 2, 3, 1, 2, 3, 4, 5, 6], p.Rows[2]);
        Assert.Equal(7 - 10, p.RopeDelta);
    }

    [Fact]
    public void PlaceholderCountMismatchIsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => MropePositions.Compute([1, 9, 9, 2, 3, 4], [new GridThw(1, 4, 4)], 2, 9, 8));
        Assert.Contains("expected placeholder 9", e.Message);
    }
}
