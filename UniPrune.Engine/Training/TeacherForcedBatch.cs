using UniPrune.Engine.Models.Common;
using static TorchSharp.torch;

namespace UniPrune.Engine.Training;

/// <summary>One answer inside a teacher-forced sequence: its tokens are the rows [End − Target.Length, End).</summary>
/// <param name="Target">The answer's tokens then the turn end.</param>
/// <param name="Pointers">Training only: where the decoder should look while predicting some of the target's tokens (see <see cref="ReadingPointers"/>).</param>
public sealed record TeacherForcedAnswer(int End, long[] Target, IReadOnlyList<ReadingPointer>? Pointers = null);

/// <summary>One teacher-forced prompt ready for the decoder: its spliced embeddings, position ids and answers.</summary>
/// <param name="Embeds">(L, H): the evaluation prompt then the target, spliced with its images (or a packed prompt: the shared
/// prefix, then each question and its answer as a block).</param>
/// <param name="PositionIds">(rows, L) as the family's prefill would give each block.</param>
/// <param name="Answers">Each answer is one example of the batch (a plain prompt has one, at its end).</param>
/// <param name="Keep">Null for the causal mask; a packed prompt's boolean (L, L) mask (see <see cref="PackedPrompt"/>).</param>
public sealed record TeacherForcedSequence(Tensor Embeds, Tensor PositionIds, IReadOnlyList<TeacherForcedAnswer> Answers, Tensor? Keep = null)
{
    /// <summary>A plain prompt: <paramref name="target"/> is the last Target.Length ids of the sequence.</summary>
    public TeacherForcedSequence(Tensor embeds, Tensor positionIds, long[] target, IReadOnlyList<ReadingPointer>? pointers = null)
        : this(embeds, positionIds, [new TeacherForcedAnswer((int)embeds.shape[0], target, pointers)]) { }
}

/// <summary>
/// The batched teacher-forced loss shared by the three families: one decoder pass over right-padded prompts, the final
/// norm and head on the answer rows only, cross-entropy averaged per answer and then over all answers of the batch (so a
/// long caption weighs as much as a one-letter answer, as when examples were run one by one, packed or not).
/// </summary>
public static class TeacherForcedBatch
{
    /// <param name="pointer">When given, the answers' reading <see cref="TeacherForcedAnswer.Pointers"/> add its weighted attention loss.</param>
    /// <param name="copy">When given, the answers' copy pointers (<see cref="ReadingPointer.InPrompt"/>) add its weighted attention loss.</param>
    public static Tensor Loss(CausalLanguageModel language, IRotaryEmbedding? rotary, IReadOnlyList<TeacherForcedSequence> sequences,
        ReadingPointerLoss? pointer = null, ReadingPointerLoss? copy = null)
    {
        using var scope = NewDisposeScope();
        // The rows whose attention a pointer supervises: the row before each pointed-at target token (it predicts that token).
        var pointed = sequences.SelectMany((s, i) => s.Answers.SelectMany(a => (a.Pointers ?? [])
            .Where(p => (p.InPrompt ? copy : pointer) is not null)
            .Select(p => (Sequence: i, Row: (long)(a.End - a.Target.Length - 1 + p.TargetIndex), p.Keys, p.InPrompt)))).ToList();
        var attentionRows = pointed.Select(p => p.Row).Distinct().Order().ToArray();
        var (hidden, attention) = language.TrainingPass(sequences.Select(s => s.Embeds).ToList(), sequences.Select(s => s.PositionIds).ToList(), rotary,
            sequences.Any(s => s.Keep is not null) ? sequences.Select(s => s.Keep).ToList() : null, attentionRows);
        long longest = hidden.shape[1];
        int answers = sequences.Sum(s => s.Answers.Count);
        var rows = new List<long>();
        var targets = new List<long>();
        var weights = new List<float>();
        for (int i = 0; i < sequences.Count; i++)
        {
            var s = sequences[i];
            long length = s.Embeds.shape[0];
            foreach (var answer in s.Answers)
            {
                if (answer.Target.Length == 0 || answer.Target.Length >= answer.End || answer.End > length)
                    throw new ArgumentException($"example {i}: a target of {answer.Target.Length} tokens ending at row {answer.End} in a sequence of {length}");
                // Row t predicts token t+1: the answer's tokens are predicted by the Target.Length rows before its last.
                for (int t = 0; t < answer.Target.Length; t++)
                {
                    rows.Add(i * longest + answer.End - answer.Target.Length - 1 + t);
                    targets.Add(answer.Target[t]);
                    weights.Add(1f / (answer.Target.Length * answers));
                }
            }
        }
        var device = hidden.device;
        var answerRows = hidden.reshape(-1, hidden.shape[2]).index_select(0, tensor(rows.ToArray(), dtype: ScalarType.Int64, device: device));
        var logits = language.Head(language.FinalNorm(answerRows));
        var perToken = nn.functional.cross_entropy(logits, tensor(targets.ToArray(), dtype: ScalarType.Int64, device: device), reduction: nn.Reduction.None);
        var loss = perToken.mul(tensor(weights.ToArray(), device: device)).sum();
        foreach (var (head, inPrompt) in new[] { (pointer, false), (copy, true) })
            if (head is not null && pointed.Where(p => p.InPrompt == inPrompt).ToList() is { Count: > 0 } mine)
                loss = loss.Plus(head.Loss(attention, mine.Select(p => (p.Sequence, Array.BinarySearch(attentionRows, p.Row), p.Keys)).ToList()));
        return loss.MoveToOuterDisposeScope();
    }
}
