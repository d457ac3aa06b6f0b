using static TorchSharp.torch;

namespace UniPrune.Engine.Training;

/// <summary>
/// Packs teacher-forced prompts that begin alike (the same chat prefix and the same encoded image, e.g. several questions
/// about one picture) into one sequence: the shared prefix once, then each prompt's remainder as a block that attends to
/// the prefix and causally to itself, with the position ids it has on its own. Under that mask every block's rows are
/// what the prompt alone would compute (the prefix rows are identical by construction), so the loss is the unpacked
/// one's — a test pins it — at the cost of the prefix once instead of once per question.
/// </summary>
public static class PackedPrompt
{
    /// <summary>
    /// Groups the sequences by <paramref name="keys"/> (null = never packed; order of first appearance kept) and packs each
    /// group of two or more into one sequence. The shared prefix is the longest run of leading rows whose embeddings and
    /// position ids are equal in every member, cut so that each block keeps its answer and the row before it.
    /// </summary>
    public static IReadOnlyList<TeacherForcedSequence> Pack(IReadOnlyList<TeacherForcedSequence> sequences, IReadOnlyList<string?> keys)
    {
        if (keys.Count != sequences.Count) throw new ArgumentException($"expected one key per sequence; got {keys.Count} for {sequences.Count}");
        var result = new List<TeacherForcedSequence>();
        foreach (var group in Enumerable.Range(0, sequences.Count).GroupBy(i => keys[i] ?? $"\0single {i}"))
        {
            var members = group.Select(i => sequences[i]).ToList();
            result.Add(members.Count == 1 ? members[0] : Pack(members));
        }
        return result;
    }

    /// <summary>One packed sequence from plain prompts (each with one answer at its end and the causal mask).</summary>
    public static TeacherForcedSequence Pack(IReadOnlyList<TeacherForcedSequence> members)
    {
        foreach (var m in members)
            if (m.Keep is not null || m.Answers.Count != 1 || m.Answers[0].End != m.Embeds.shape[0])
                throw new ArgumentException("only plain prompts (one answer at the end, causal mask) can be packed");
        using var scope = NewDisposeScope();
        long prefix = members.Min(m => m.Embeds.shape[0] - m.Answers[0].Target.Length - 1);
        var first = members[0];
        for (int k = 1; k < members.Count && prefix > 0; k++)
        {
            var same = first.Embeds[..(int)prefix].eq(members[k].Embeds[..(int)prefix]).all(1)
                .logical_and(first.PositionIds[.., ..(int)prefix].eq(members[k].PositionIds[.., ..(int)prefix]).all(0));
            var differ = same.logical_not().nonzero();
            if (differ.shape[0] > 0) prefix = differ[0, 0].item<long>();
        }
        var embeds = new List<Tensor> { first.Embeds[..(int)prefix] };
        var positions = new List<Tensor> { first.PositionIds[.., ..(int)prefix] };
        var answers = new List<TeacherForcedAnswer>();
        var blocks = new List<(long Start, long Length)>();
        long row = prefix;
        foreach (var m in members)
        {
            long length = m.Embeds.shape[0] - prefix;
            embeds.Add(m.Embeds[(int)prefix..]);
            positions.Add(m.PositionIds[.., (int)prefix..]);
            blocks.Add((row, length));
            row += length;
            // A pointer's keys keep their rows in the shared prefix; any past it move with the block.
            long start = row - length;
            var pointers = m.Answers[0].Pointers?.Select(p => p with { Keys = p.Keys.Select(k => k < prefix ? k : start + k - prefix).ToArray() }).ToList();
            answers.Add(new TeacherForcedAnswer((int)row, m.Answers[0].Target, pointers));
        }
        var keep = Mask(prefix, blocks, row);
        return new TeacherForcedSequence(cat(embeds, 0).MoveToOuterDisposeScope(), cat(positions, 1).MoveToOuterDisposeScope(), answers,
            keep.MoveToOuterDisposeScope());
    }

    /// <summary>(L, L) boolean: prefix rows causal; a block's rows see the whole prefix and their own block up to themselves.</summary>
    public static Tensor Mask(long prefix, IReadOnlyList<(long Start, long Length)> blocks, long length)
    {
        var keep = new bool[length * length];
        for (long i = 0; i < length; i++)
        {
            long start = blocks.Where(b => i >= b.Start && i < b.Start + b.Length).Select(b => b.Start).DefaultIfEmpty(0).First();
            for (long j = 0; j <= i; j++)
                keep[i * length + j] = j < prefix || j >= start;
        }
        return tensor(keep, [length, length]);
    }
}
