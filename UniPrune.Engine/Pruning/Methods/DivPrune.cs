using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Pruning.Abstractions;
using UniPrune.Engine.Pruning.Common;
using static TorchSharp.torch;
using UniPrune.Engine.Models.Common;

namespace UniPrune.Engine.Pruning.Methods;

/// <summary>
/// DivPrune (vbdi/divprune, arXiv 2503.02175; methods.md §2.2): max–min diversity on the projected visual embeddings (H2), per unit.
/// D = 1 − cos; the first pick is the token whose nearest neighbour (second-smallest entry of its column) is farthest; every next
/// pick maximises its distance to the nearest already-picked token. Kept indices are sorted ascending; positions re-numbered.
/// Differences from the reference (same picks, cheaper): a running-min vector replaces the reference's i×N re-minimisation each step
/// (O(kN) instead of O(k²N)), and picked tokens are masked to −∞ so exact duplicates can never be picked twice (the reference can
/// return a duplicate index then). k = keep(r·N) per unit (the reference's int(round(ratio·N)) is the default Round rule).
/// </summary>
public sealed class DivPrune(PruningSettings settings) : IPreLlmMethod
{
    public string Name => "divprune";
    public PruningStage Stage => PruningStage.PreLlm;

    public PreLlmDecision Select(PreLlmContext context)
    {
        var x = Selection.Require(context.Vision.Embeddings, Name, "Vision.Embeddings", context.Vision.Layout.Count);
        return new(Selection.PerUnit(context.Vision.Layout, settings, (offset, count, k) =>
        {
            using var scope = NewDisposeScope();
            var order = GreedyOrder(x.narrow(0, offset, count), k);
            Array.Sort(order);
            return order;
        }));
    }

    /// <summary>The greedy max–min picks in the order they are made.</summary>
    public static long[] GreedyOrder(Tensor features, int k)
    {
        using var scope = NewDisposeScope();
        int n = (int)features.shape[0];
        if (k >= n) return Enumerable.Range(0, n).Select(i => (long)i).ToArray();
        var distance = Selection.CosineMatrix(features).SubtractedFrom(1.0f);
        var picks = new long[k];
        // Step 0: the second-smallest distance of each column is its nearest neighbour (the smallest is the self-distance).
        var (nearest, _) = distance.topk(Math.Min(2, n), dim: 0, largest: false, sorted: true);
        var minToPicked = n > 1 ? nearest[1] : nearest[0];
        for (int i = 0; i < k; i++)
        {
            long pick = minToPicked.argmax().item<long>();
            picks[i] = pick;
            minToPicked = i == 0 ? distance[pick].clone() : minimum(minToPicked, distance[pick]);
            minToPicked.index_fill_(0, tensor(new[] { pick }), HeldScalars.NegativeInfinity); // picked tokens stay at −∞
        }
        return picks;
    }
}
