using UniPrune.Engine.Models.Common;
using static TorchSharp.torch;

namespace UniPrune.Engine.Training;

/// <summary>One teacher-forced prompt ready for the decoder: its spliced embeddings, position ids and answer tokens.</summary>
/// <param name="Embeds">(L, H): the evaluation prompt then the target, spliced with its images.</param>
/// <param name="PositionIds">(rows, L) as the family's prefill would give them.</param>
/// <param name="Target">The last Target.Length ids of the sequence: the answer's tokens then the turn end.</param>
public sealed record TeacherForcedSequence(Tensor Embeds, Tensor PositionIds, long[] Target);

/// <summary>
/// The batched teacher-forced loss shared by the three families: one decoder pass over right-padded prompts, the final
/// norm and head on the answer rows only, cross-entropy averaged per example and then over the batch (so a long
/// caption weighs as much as a one-letter answer, as when examples were run one by one).
/// </summary>
public static class TeacherForcedBatch
{
    public static Tensor Loss(CausalLanguageModel language, IRotaryEmbedding? rotary, IReadOnlyList<TeacherForcedSequence> sequences)
    {
        using var scope = NewDisposeScope();
        var hidden = language.TrainingHidden(sequences.Select(s => s.Embeds).ToList(), sequences.Select(s => s.PositionIds).ToList(), rotary);
        long longest = hidden.shape[1];
        var rows = new List<long>();
        var targets = new List<long>();
        var weights = new List<float>();
        for (int i = 0; i < sequences.Count; i++)
        {
            var s = sequences[i];
            long length = s.Embeds.shape[0];
            if (s.Target.Length == 0 || s.Target.Length >= length)
                throw new ArgumentException($"example {i}: a target of {s.Target.Length} tokens in a sequence of {length}");
            // Row t predicts token t+1: the answer's tokens are predicted by the Target.Length rows before the last.
            for (int t = 0; t < s.Target.Length; t++)
            {
                rows.Add(i * longest + length - s.Target.Length - 1 + t);
                targets.Add(s.Target[t]);
                weights.Add(1f / (s.Target.Length * sequences.Count));
            }
        }
        var device = hidden.device;
        var answerRows = hidden.reshape(-1, hidden.shape[2]).index_select(0, tensor(rows.ToArray(), dtype: ScalarType.Int64, device: device));
        var logits = language.Head(language.FinalNorm(answerRows));
        var perToken = nn.functional.cross_entropy(logits, tensor(targets.ToArray(), dtype: ScalarType.Int64, device: device), reduction: nn.Reduction.None);
        return perToken.mul(tensor(weights.ToArray(), device: device)).sum().MoveToOuterDisposeScope();
    }
}
