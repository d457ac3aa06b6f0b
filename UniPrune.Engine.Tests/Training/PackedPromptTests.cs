using UniPrune.Engine.Training;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Training;

public class PackedPromptTests
{
    private static TeacherForcedSequence Plain(Tensor embeds, long[] target) =>
        new(embeds, arange(embeds.shape[0], dtype: ScalarType.Int64).unsqueeze(0), target);

    [Fact]
    public void TheSharedPrefixIsKeptOnceAndEachBlockSeesThePrefixAndItselfOnly()
    {
        var shared = randn(5, 4);
        var a = Plain(cat([shared, randn(3, 4)], 0), [7, 8]);
        var b = Plain(cat([shared, randn(5, 4)], 0), [9, 10]);
        var packed = PackedPrompt.Pack([a, b]);

        Assert.Equal(new long[] { 13, 4 }, packed.Embeds.shape);
        Assert.Equal(new[] { 8, 13 }, packed.Answers.Select(x => x.End));
        Assert.Equal(new long[] { 0, 1, 2, 3, 4, 5, 6, 7, 5, 6, 7, 8, 9 }, packed.PositionIds[0].data<long>().ToArray());
        var keep = packed.Keep!;
        bool Sees(int row, int column) => keep[row, column].item<bool>();
        Assert.True(Sees(4, 0) && !Sees(3, 4));                  // the prefix is causal
        Assert.True(Sees(6, 0) && Sees(6, 4) && Sees(6, 5) && Sees(6, 6) && !Sees(6, 7));
        Assert.True(Sees(9, 4) && Sees(9, 8) && Sees(9, 9) && !Sees(9, 5) && !Sees(9, 7) && !Sees(9, 10));
    }

    [Fact]
    public void EachBlockKeepsItsAnswerAndTheRowBeforeItEvenWhenThePromptsAreIdentical()
    {
        var embeds = randn(6, 4);
        var packed = PackedPrompt.Pack([Plain(embeds, [1, 2]), Plain(embeds.clone(), [1, 2])]);
        // Prefix cut at 6 − 2 − 1 = 3 rows: each block is its last 3 rows (the row predicting the first answer token, then the answer).
        Assert.Equal(9, packed.Embeds.shape[0]);
        Assert.Equal(new[] { 6, 9 }, packed.Answers.Select(x => x.End));
    }

    [Fact]
    public void PointersIntoTheSharedPrefixKeepTheirRowsAndOthersMoveWithTheirBlock()
    {
        var shared = randn(5, 4);
        var a = new TeacherForcedSequence(cat([shared, randn(3, 4)], 0), arange(8, dtype: ScalarType.Int64).unsqueeze(0), [7, 8], [new ReadingPointer(1, [2, 3])]);
        var b = new TeacherForcedSequence(cat([shared, randn(5, 4)], 0), arange(10, dtype: ScalarType.Int64).unsqueeze(0), [9, 10], [new ReadingPointer(0, [4, 6])]);
        var packed = PackedPrompt.Pack([a, b]);
        // Prefix 5 rows; a's block is rows 5..7, b's 8..12: b's row 6 (its second row past the prefix) is packed row 9.
        Assert.Equal(new long[] { 2, 3 }, Assert.Single(packed.Answers[0].Pointers!).Keys);
        Assert.Equal(1, packed.Answers[0].Pointers![0].TargetIndex);
        Assert.Equal(new long[] { 4, 9 }, Assert.Single(packed.Answers[1].Pointers!).Keys);
    }

    [Fact]
    public void PromptsWithDifferentKeysOrNoKeyStaySeparate()
    {
        var shared = randn(4, 4);
        var sequences = new[] { Plain(cat([shared, randn(2, 4)], 0), [1]), Plain(randn(5, 4), [1]), Plain(cat([shared, randn(3, 4)], 0), [2]), Plain(randn(5, 4), [3]) };
        var packed = PackedPrompt.Pack(sequences, ["img-a", null, "img-a", null]);
        Assert.Equal(3, packed.Count);
        Assert.Equal(2, packed[0].Answers.Count);
        Assert.Equal(4 + 2 + 3, packed[0].Embeds.shape[0]);
    }
}
