using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Pruning.Abstractions;
using UniPrune.Engine.Pruning.Common;

namespace UniPrune.Engine.Pruning.Methods;

/// <summary>
/// Random-Pre (UniPruneBench baseline, methods.md §2.1): a uniform random subset of k = keep(r·N) visual tokens per unit, drawn from a
/// seeded generator, sorted ascending, positions re-numbered (Qwen: the model gathers the 3-D ids).
/// Differences from the reference: UniPruneBench's InternVL path leaves the permutation unsorted (pitfall U4) and its Qwen path
/// reads the misspelt KEEP_RADIO (U1); we always sort and use the requested ratio. Draws depend only on the seed, the unit's offset and
/// size, so the same seed gives the same selection; vary <see cref="PruningSettings.Seed"/> for mean ± std over seeds.
/// </summary>
public sealed class RandomPre(PruningSettings settings) : IPreLlmMethod
{
    public string Name => "random-pre";
    public PruningStage Stage => PruningStage.PreLlm;

    public PreLlmDecision Select(PreLlmContext context) =>
        new(Selection.PerUnit(context.Vision.Layout, settings, (offset, count, k) => RandomSubset.Draw(settings.Seed, offset, count, k)));
}

/// <summary>Seeded uniform subsets (partial Fisher–Yates), sorted ascending.</summary>
public static class RandomSubset
{
    public static long[] Draw(int seed, int salt, int count, int k)
    {
        var rng = new Random(unchecked(seed * 1_000_003 + salt * 7919 + count));
        var pool = Enumerable.Range(0, count).Select(i => (long)i).ToArray();
        for (int i = 0; i < k; i++)
        {
            int j = rng.Next(i, count);
            (pool[i], pool[j]) = (pool[j], pool[i]);
        }
        var picked = pool[..k];
        Array.Sort(picked);
        return picked;
    }
}
