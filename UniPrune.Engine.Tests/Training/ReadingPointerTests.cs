using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Synthetic;
using UniPrune.Engine.Training;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Training;

/// <summary>Reading pointers name the visual tokens under each answer token's glyphs; the loss is −log of the mass head 0 puts there.</summary>
public class ReadingPointerTests
{
    /// <summary>Two-character pieces (like a BPE vocabulary that merged them): "ab" then "7", ids 100 + offset.</summary>
    private sealed class PairTokenizer : ITextTokenizer
    {
        public IReadOnlyList<long> Encode(string text) => text.Chunk(2).Select((_, i) => 100L + 2 * i).ToArray();
        public string Decode(IReadOnlyList<long> ids) => string.Concat(ids.Where(i => i >= 100).Select(i => Text.Substring((int)(i - 100), Math.Min(2, Text.Length - (int)(i - 100)))));
        public string Text { get; init; } = "";
    }

    // A 112×112 picture on LLaVA's 14-px grid (no scaling): tokens row-major, 8 per row.
    private static readonly IReadOnlyList<Box> Grid = Enumerable.Range(0, 64).Select(t => new Box(t % 8 * 14, t / 8 * 14, t % 8 * 14 + 14, t / 8 * 14 + 14)).ToList();
    private static readonly IReadOnlyList<long> Rows = Enumerable.Range(0, 64).Select(t => 10L + t).ToList();   // the image after 10 prompt rows

    [Fact]
    public void EachAnswerTokenPointsAtTheTokensUnderItsOwnGlyphs()
    {
        // "total ab7" at scale 2 from x = 4: 'a' is character 6, drawn at x 4 + 6·12 = 76..86, 'b' at 88..98, '7' at 100..110; y 30..44.
        var scene = new Scene(112, 112, Palette.White, [], [new SceneText("total ab7", 4, 30, 2, Palette.Black)]);
        var tokenizer = new PairTokenizer { Text = "ab7" };
        var pointers = ReadingPointers.For(scene, "ab7", [100, 102], tokenizer, Grid, Rows);

        Assert.Equal(2, pointers.Count);
        // "ab" spans x 76..98: columns 5 (70..84, 8 px of 'a') and 6 (84..98); '7' x 100..110: column 7 only (column 6 holds none of it).
        // Rows: y 30..44 overlaps row 2 (28..42; 12 px) and row 3 (42..56; 2 px: 2·10 = 20 px², under a quarter of the glyph's 140).
        Assert.Equal(0, pointers[0].TargetIndex);
        Assert.Equal(new long[] { 10 + 2 * 8 + 5, 10 + 2 * 8 + 6 }, pointers[0].Keys);
        Assert.Equal(1, pointers[1].TargetIndex);
        Assert.Equal(new long[] { 10 + 2 * 8 + 7 }, pointers[1].Keys);
    }

    [Fact]
    public void NoPointersUnlessTheAnswerIsWrittenExactlyOnceAndItsTokensSpellIt()
    {
        var tokenizer = new PairTokenizer { Text = "ab" };
        var twice = new Scene(112, 112, Palette.White, [], [new SceneText("ab", 4, 4, 2, Palette.Black), new SceneText("AB", 4, 60, 2, Palette.Black)]);
        Assert.Empty(ReadingPointers.For(twice, "ab", [100], tokenizer, Grid, Rows));
        var absent = new Scene(112, 112, Palette.White, [], [new SceneText("xy", 4, 4, 2, Palette.Black)]);
        Assert.Empty(ReadingPointers.For(absent, "ab", [100], tokenizer, Grid, Rows));
        Assert.Empty(ReadingPointers.For(null, "ab", [100], tokenizer, Grid, Rows));
        var once = new Scene(112, 112, Palette.White, [], [new SceneText("AB", 4, 4, 2, Palette.Black)]);
        Assert.Single(ReadingPointers.For(once, "ab", [100], tokenizer, Grid, Rows));                        // case-insensitive
        Assert.Empty(ReadingPointers.For(once, "ab", [100], new PairTokenizer { Text = "cd" }, Grid, Rows));  // decodes to another text
        Assert.Throws<ArgumentException>(() => ReadingPointers.For(once, "ab", [100], tokenizer, Grid, Rows.Take(3).ToList()));
    }

    /// <summary>A fixed vocabulary of pieces, id = index; encodes greedily by the longest piece.</summary>
    private sealed class PieceTokenizer(params string[] pieces) : ITextTokenizer
    {
        public IReadOnlyList<long> Encode(string text)
        {
            var ids = new List<long>();
            for (int at = 0; at < text.Length;)
            {
                int best = Enumerable.Range(0, pieces.Length).Where(i => string.CompareOrdinal(text, at, pieces[i], 0, pieces[i].Length) == 0)
                    .OrderByDescending(i => pieces[i].Length).First();
                ids.Add(best);
                at += pieces[best].Length;
            }
            return ids;
        }

        public string Decode(IReadOnlyList<long> ids) => string.Concat(ids.Select(i => pieces[i]));
    }

    private static readonly PieceTokenizer Pieces = new("Which", " is", " red", "?", "\n", "A", "B", ".", " the", "the", " circle", " square", " blue", " reddish", "red", "a");

    [Fact]
    public void CopyPointersLeadEachAnswerTokenToThePromptTokensHoldingItsCharacters()
    {
        // "Which is red?\nA. the red circle\nB. the blue square": the answer tokens "the", " red", " circle" are spelled by the
        // prompt's " the", " red", " circle" of option A (prompt tokens 7, 8, 9; the leading spaces overlap nothing of the answer).
        var prompt = Pieces.Encode("Which is red?\nA. the red circle\nB. the blue square");
        var rows = Enumerable.Range(0, prompt.Count).Select(i => 40L + i).ToList();   // after 40 rows of image
        var target = Pieces.Encode("the red circle");
        Assert.Equal(new long[] { 9, 2, 10 }, target.ToArray());
        var pointers = ReadingPointers.InPrompt("the red circle", target, Pieces, prompt, rows);

        Assert.Equal(3, pointers.Count);
        Assert.All(pointers, p => Assert.True(p.InPrompt));
        Assert.Equal(new[] { 0, 1, 2 }, pointers.Select(p => p.TargetIndex));
        Assert.Equal(new long[] { 40 + 7 }, pointers[0].Keys);
        Assert.Equal(new long[] { 40 + 8 }, pointers[1].Keys);
        Assert.Equal(new long[] { 40 + 9 }, pointers[2].Keys);
        // A letter answer points at its letter.
        Assert.Equal(new long[] { 40 + 11 }, Assert.Single(ReadingPointers.InPrompt("B", Pieces.Encode("B"), Pieces, prompt, rows)).Keys);
    }

    [Fact]
    public void NoCopyPointersUnlessTheAnswerIsOneWholeWordOccurrenceOfThePrompt()
    {
        var prompt = Pieces.Encode("Which is red?\nA. the reddish circle\nB. the blue square");
        var rows = Enumerable.Range(0, prompt.Count).Select(i => (long)i).ToList();
        // "red" occurs once as a word (the question) and once inside "reddish", which does not count.
        Assert.Equal(new long[] { 2 }, Assert.Single(ReadingPointers.InPrompt("red", Pieces.Encode("red"), Pieces, prompt, rows)).Keys);
        Assert.Empty(ReadingPointers.InPrompt("the", Pieces.Encode("the"), Pieces, prompt, rows));          // twice
        Assert.Empty(ReadingPointers.InPrompt("the circle", Pieces.Encode("the circle"), Pieces, prompt, rows)); // absent
        Assert.Empty(ReadingPointers.InPrompt("Red", Pieces.Encode("red"), Pieces, prompt, rows));          // case-sensitive
        Assert.Throws<ArgumentException>(() => ReadingPointers.InPrompt("red", Pieces.Encode("red"), Pieces, prompt, rows.Skip(1).ToList()));
    }

    [Fact]
    public void TheLossIsMinusTheLogOfHeadZerosMassOnTheKeysAveragedOverLayersAndPointers()
    {
        // Two layers, one sequence, two heads, two captured rows over four keys.
        var layer0 = tensor(new float[] { 0.5f, 0.25f, 0.25f, 0, /* row 1 */ 0.1f, 0.1f, 0.4f, 0.4f, /* head 1 */ 1, 0, 0, 0, 1, 0, 0, 0 }, [1, 2, 2, 4]);
        var layer1 = tensor(new float[] { 0.25f, 0.25f, 0.25f, 0.25f, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 0 }, [1, 2, 2, 4]);
        var loss = new ReadingPointerLoss(2.0);
        double value = loss.Loss([layer0, layer1], [(0, 0, [1, 2]), (0, 1, [3])]).item<float>();
        // Masses: layer 0 → 0.5 and 0.4; layer 1 → 0.5 and 1.0.
        double expected = -(Math.Log(0.5) + Math.Log(0.4) + Math.Log(0.5) + Math.Log(1.0)) / 4;
        Assert.Equal(expected, loss.LastLoss, 5);
        Assert.Equal(2 * expected, value, 5);
        Assert.Equal((0.5 + 0.4 + 0.5 + 1.0) / 4, loss.LastMass, 5);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ReadingPointerLoss(0));
    }
}
