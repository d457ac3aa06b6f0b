using UniPrune.Engine.Pruning.Abstractions;
using UniPrune.Engine.Pruning.Methods;

namespace UniPrune.Engine.Pruning;

/// <summary>
/// Every method by name, in one explicit table (no reflection). Adding a method = one file in Methods/ plus one line here.
/// A spec is one name ("fastv") or a pre-LLM name and an intra-LLM name joined by '+' ("divprune+fastv", the paper's two-stage Table 5).
/// </summary>
public static class PruningRegistry
{
    private static readonly Dictionary<string, Func<PruningSettings, IPruningMethod>> Table = new(StringComparer.OrdinalIgnoreCase)
    {
        ["random-pre"] = s => new RandomPre(s),
        ["random-intra"] = s => new RandomIntra(s),
        ["divprune"] = s => new DivPrune(s),
        ["gprune"] = s => new GPrune(s),
        ["prumerge"] = s => new PruMerge(s, plus: false, PruMergeBudget.FixedK),
        ["prumerge-adaptive"] = s => new PruMerge(s, plus: false, PruMergeBudget.AdaptiveIqr),
        ["prumerge-plus"] = s => new PruMerge(s, plus: true, PruMergeBudget.FixedK),
        ["prumerge-plus-adaptive"] = s => new PruMerge(s, plus: true, PruMergeBudget.AdaptiveIqr),
        ["vispruner"] = s => new VisPruner(s),
        ["fastv"] = s => new FastV(s),
        ["vtw"] = s => new Vtw(s),
        ["dart"] = s => new Dart(s),
        ["sparsevlm"] = s => new SparseVlm(s, singleStage: false),
        ["sparsevlm-k2"] = s => new SparseVlm(s, singleStage: true),
        ["mustdrop"] = s => new MustDrop(s, exactBudget: false),
        ["mustdrop-k2"] = s => new MustDrop(s, exactBudget: true),
        ["pdrop"] = s => new PyramidDrop(s),
        ["fitprune"] = s => new FitPrune(s),
    };

    public static IReadOnlyCollection<string> Names => Table.Keys;

    public static IPruningMethod CreateMethod(string name, PruningSettings settings) =>
        Table.TryGetValue(name.Trim(), out var factory) ? factory(settings)
            : throw new ArgumentException($"unknown pruning method '{name}'; known: {string.Join(", ", Table.Keys.Order())}");

    /// <summary>Hooks for a spec. <paramref name="secondStage"/> sets the intra-LLM stage's settings in a two-stage spec (default: the same).</summary>
    public static PruningHooks CreateHooks(string spec, PruningSettings settings, PruningSettings? secondStage = null)
    {
        var parts = spec.Split('+', StringSplitOptions.TrimEntries);
        if (parts.Length == 1)
        {
            var method = CreateMethod(parts[0], settings);
            return new PruningHooks(settings, method as IPreLlmMethod, method as IIntraLlmMethod);
        }
        if (parts.Length != 2) throw new ArgumentException($"pruning spec '{spec}' must be 'method' or 'pre-llm-method+intra-llm-method'");
        var first = CreateMethod(parts[0], settings);
        var second = CreateMethod(parts[1], secondStage ?? settings);
        if (first is not IPreLlmMethod pre || first is IIntraLlmMethod)
            throw new ArgumentException($"pruning spec '{spec}': '{parts[0]}' must be a pre-LLM method");
        if (second is not IIntraLlmMethod intra || second is IPreLlmMethod)
            throw new ArgumentException($"pruning spec '{spec}': '{parts[1]}' must be an intra-LLM method");
        return new PruningHooks(settings, pre, intra, secondStage);
    }
}
