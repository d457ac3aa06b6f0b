using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.Common;
using UniPrune.Engine.Synthetic;
using static TorchSharp.torch;

namespace UniPrune.Engine.Training;

/// <summary>
/// Training only: while predicting target token <paramref name="TargetIndex"/>, the decoder should look at the sequence
/// rows <paramref name="Keys"/> — the visual tokens that show that token's characters.
/// </summary>
/// <param name="InPrompt">A copy pointer: the keys are prompt text rows (an option the answer copies), not visual rows.</param>
public sealed record ReadingPointer(int TargetIndex, long[] Keys, bool InPrompt = false);

/// <summary>
/// Where a reading answer's characters are in the image. When the answer is written exactly once in the picture (an
/// OCRBench-style word or number, a receipt's total, a glyph strip), each answer token's characters are glyphs with known boxes, and the
/// visual tokens covering them are what the decoder must read. A from-scratch decoder does not find them on its own within
/// our budgets (its answer loss stays at the prior while the tower already tells glyphs apart); these pointers let a
/// training-only loss say where to look (<see cref="ReadingPointerLoss"/>).
/// </summary>
public static class ReadingPointers
{
    /// <summary>A visual token shows a glyph when their overlap is at least this share of the smaller of the two boxes.</summary>
    public const double MinimumOverlap = 0.25;

    /// <param name="target">The answer's token ids (a turn-end token after them decodes to nothing and gets no pointer).</param>
    /// <param name="tokenBoxes">Each visual token's region of the original image, in the order of <paramref name="visualRows"/>.</param>
    /// <param name="visualRows">The sequence row of each visual token.</param>
    /// <returns>No pointers unless the answer is written exactly once in the scene (case-insensitive) and its tokens decode back to it.</returns>
    public static IReadOnlyList<ReadingPointer> For(Scene? scene, string answer, IReadOnlyList<long> target, ITextTokenizer tokenizer,
        IReadOnlyList<Box> tokenBoxes, IReadOnlyList<long> visualRows)
    {
        if (tokenBoxes.Count != visualRows.Count)
            throw new ArgumentException($"{tokenBoxes.Count} token boxes for {visualRows.Count} visual rows");
        if (scene is null || answer.Length == 0) return [];
        var places = Occurrences(scene, answer).Take(2).ToList();
        if (places.Count != 1) return [];
        var (run, offset) = places[0];
        var pointers = new List<ReadingPointer>();
        foreach (var (t, before, after) in CharacterSpans(answer, target, tokenizer) ?? [])
        {
            var keys = new List<long>();
            for (int j = 0; j < tokenBoxes.Count; j++)
                for (int c = before; c < after; c++)
                    if (Shows(tokenBoxes[j], GlyphBox(run, offset + c))) { keys.Add(visualRows[j]); break; }
            if (keys.Count > 0) pointers.Add(new ReadingPointer(t, [.. keys]));
        }
        return pointers;
    }

    /// <summary>
    /// Copy pointers: a multiple-choice answer written as its option's text (or letter) is in the prompt already, and a
    /// decoder that copies it must first look at it. When the answer occurs exactly once in the prompt as a whole word
    /// (case-sensitive), each answer token points at the prompt tokens holding its characters. Looking there means having
    /// chosen the option, so the loss also teaches matching the image against the options.
    /// </summary>
    /// <param name="promptIds">The prompt's text token ids (image placeholders left out).</param>
    /// <param name="promptRows">The sequence row of each of <paramref name="promptIds"/>.</param>
    public static IReadOnlyList<ReadingPointer> InPrompt(string answer, IReadOnlyList<long> target, ITextTokenizer tokenizer,
        IReadOnlyList<long> promptIds, IReadOnlyList<long> promptRows)
    {
        if (promptIds.Count != promptRows.Count) throw new ArgumentException($"{promptIds.Count} prompt tokens for {promptRows.Count} rows");
        if (answer.Length == 0) return [];
        // Each token's text as it reads mid-sequence: decoded after an anchor (a SentencePiece decoder drops the leading
        // space of a sequence's first piece, so decoding tokens one by one would glue the words together).
        var anchor = tokenizer.Encode("a");
        string anchorText = tokenizer.Decode(anchor);
        var starts = new int[promptIds.Count + 1];
        var text = new System.Text.StringBuilder();
        for (int i = 0; i < promptIds.Count; i++)
        {
            starts[i] = text.Length;
            string piece = tokenizer.Decode([.. anchor, promptIds[i]]);
            text.Append(piece.StartsWith(anchorText, StringComparison.Ordinal) ? piece[anchorText.Length..] : tokenizer.Decode([promptIds[i]]));
        }
        starts[^1] = text.Length;
        string prompt = text.ToString();
        var places = new List<int>();
        for (int at = prompt.IndexOf(answer, StringComparison.Ordinal); at >= 0 && places.Count < 2; at = prompt.IndexOf(answer, at + 1, StringComparison.Ordinal))
            if ((at == 0 || !char.IsLetterOrDigit(prompt[at - 1])) && (at + answer.Length == prompt.Length || !char.IsLetterOrDigit(prompt[at + answer.Length])))
                places.Add(at);
        if (places.Count != 1) return [];
        int offset = places[0];
        var pointers = new List<ReadingPointer>();
        foreach (var (t, before, after) in CharacterSpans(answer, target, tokenizer) ?? [])
        {
            var keys = Enumerable.Range(0, promptIds.Count).Where(i => starts[i] < offset + after && starts[i + 1] > offset + before).Select(i => promptRows[i]).ToArray();
            if (keys.Length > 0) pointers.Add(new ReadingPointer(t, keys, InPrompt: true));
        }
        return pointers;
    }

    /// <summary>
    /// For each answer token that adds characters, the answer characters [Before, After) it spells; null when the tokens do
    /// not spell the answer character for character (case-insensitive), so no span is reliable.
    /// </summary>
    private static List<(int Token, int Before, int After)>? CharacterSpans(string answer, IReadOnlyList<long> target, ITextTokenizer tokenizer)
    {
        var spans = new List<(int, int, int)>();
        int before = 0;
        for (int t = 0; t < target.Count; t++)
        {
            string decoded = tokenizer.Decode(target.Take(t + 1).ToList());
            if (!answer.StartsWith(decoded, StringComparison.OrdinalIgnoreCase) && !decoded.StartsWith(answer, StringComparison.OrdinalIgnoreCase))
                return null;
            int after = Math.Min(decoded.Length, answer.Length);
            if (after > before) spans.Add((t, before, after));
            before = Math.Max(before, after);
        }
        return before == answer.Length ? spans : null;
    }

    /// <summary>Every place the answer is written (case-insensitive): the run and the index of its first character there.</summary>
    public static IEnumerable<(SceneText Run, int Offset)> Occurrences(Scene scene, string answer)
    {
        foreach (var run in scene.Texts)
            for (int at = run.Text.IndexOf(answer, StringComparison.OrdinalIgnoreCase); at >= 0;
                 at = run.Text.IndexOf(answer, at + 1, StringComparison.OrdinalIgnoreCase))
                yield return (run, at);
    }

    /// <summary>Character <paramref name="index"/> of a text run, as the bitmap font draws it.</summary>
    public static Box GlyphBox(SceneText run, int index)
    {
        double x = run.X + index * BitmapFont.Advance * run.Scale;
        return new Box(x, run.Y, x + BitmapFont.GlyphWidth * run.Scale, run.Y + BitmapFont.GlyphHeight * run.Scale);
    }

    private static bool Shows(Box token, Box glyph)
    {
        double overlap = token.Overlap(glyph);
        return overlap > 0 && overlap >= MinimumOverlap * Math.Min(token.Area, glyph.Area);
    }
}

/// <summary>
/// Training-only loss on where the decoder looks while it reads: for each <see cref="ReadingPointer"/>, −log of the attention
/// mass that head 0 of every decoder layer puts on the pointer's keys, averaged over pointers and layers. One head per layer
/// is asked to find the glyphs; the others stay free. Has no parameters and is never saved.
/// </summary>
/// <param name="headName">What the training log calls it ("pointer" for reading, "copy" for copy pointers).</param>
public sealed class ReadingPointerLoss(double weight, string headName = "pointer") : nn.Module(nameof(ReadingPointerLoss)), IAuxiliaryHead
{
    public string HeadName => headName;
    public double Weight { get; } = weight > 0 ? weight : throw new ArgumentOutOfRangeException(nameof(weight), $"a pointer weight must be positive; got {weight}");
    public double LastLoss { get; private set; } = double.NaN;

    /// <summary>Mean attention mass the supervised heads put on the pointed-at tokens (a diagnostic; NaN when the batch had none).</summary>
    public double LastMass { get; private set; } = double.NaN;

    public IReadOnlyDictionary<string, double> LastMetrics => new Dictionary<string, double> { ["mass"] = LastMass };

    /// <summary>The smallest mass the logarithm sees (a head that never looks there gives a large but finite loss).</summary>
    private static readonly TorchSharp.Scalar Floor = 1e-6;

    /// <param name="attention">Per layer, (B, heads, rows, L) probabilities of the captured rows.</param>
    /// <param name="pointers">Per pointer: its sequence, its row's index among the captured rows, and its keys.</param>
    /// <returns>The weighted loss.</returns>
    public Tensor Loss(IReadOnlyList<Tensor> attention, IReadOnlyList<(int Sequence, int Row, long[] Keys)> pointers)
    {
        using var scope = NewDisposeScope();
        if (attention.Count == 0) throw new ArgumentException("no attention was captured for the pointers");
        var masses = new List<Tensor>();
        foreach (var layer in attention)
            foreach (var (sequence, row, keys) in pointers)
            {
                if (row < 0 || row >= layer.shape[2]) throw new ArgumentException($"pointer row {row} outside the {layer.shape[2]} captured rows");
                masses.Add(layer[sequence, 0, row].index_select(0, tensor(keys, dtype: ScalarType.Int64, device: layer.device)).sum());
            }
        var mass = stack(masses, 0);
        var loss = mass.clamp_min(Floor).log().mean().neg();
        LastLoss = loss.item<float>();
        LastMass = mass.mean().item<float>();
        return loss.Times(Weight).MoveToOuterDisposeScope();
    }
}
