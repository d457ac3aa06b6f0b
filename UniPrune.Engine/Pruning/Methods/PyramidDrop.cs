using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Pruning.Abstractions;
using UniPrune.Engine.Pruning.Common;
using static TorchSharp.torch;

namespace UniPrune.Engine.Pruning.Methods;

/// <summary>
/// PyramidDrop (Cooperx521/PyramidDrop, arXiv 2410.17247; methods.md §2.11): at each stage layer K the head-mean attention of layer
/// K−1 from the last prompt token (the last instruction token) ranks the current visual tokens, and the top n_s are kept (ascending);
/// positions re-numbered (the llmc port).
/// Schedule: stages at K = 6, 12, 18 (UniPruneBench's layers; the paper's default 8/16/24 cannot reach 128 or 64 of 576) with a
/// geometric per-stage keep ratio λ = r^(1/3), so the stages keep round(N·λ), round(N·λ²) and finally k = keep(r·N): the documented
/// count is k after the last stage (T_eq, reported by the hooks, is larger). Stage layers at or past the model's depth are skipped.
/// Differences from the reference: the paper fixes λ = 0.5 relative to the original N at 8/16/24; UniPruneBench's per-stage ratios
/// are not in its public code. Parameter: stage_layers.
/// </summary>
public sealed class PyramidDrop : IIntraLlmMethod
{
    private readonly PruningSettings _settings;
    private readonly int[] _stageLayers;
    private int _visualAtStart;

    public PyramidDrop(PruningSettings settings)
    {
        _settings = settings;
        var p = new MethodParameters(Name, settings.Parameters);
        _stageLayers = p.Ints("stage_layers", [6, 12, 18]);
        p.RejectUnknown();
        if (_stageLayers.Length == 0 || _stageLayers.Any(l => l < 1) || !_stageLayers.SequenceEqual(_stageLayers.Order().Distinct()))
            throw new ArgumentException($"{Name}: stage_layers must be ascending layers ≥ 1, got [{string.Join(", ", _stageLayers)}]");
    }

    public string Name => "pdrop";
    public PruningStage Stage => PruningStage.MultiStage;

    public void Observe(PreLlmContext context, SequenceState state) => _visualAtStart = state.Layout.Count;

    public LayerProbe? Probe(int layerK, int numLayers, SequenceState state) =>
        _stageLayers.Contains(layerK) && layerK < numLayers ? new LayerProbe([state.LastRow]) : null;

    /// <summary>Visual tokens kept after stage s (0-based) of <paramref name="stages"/>, out of n0.</summary>
    public int StageKeep(int stage, int stages, int n0)
    {
        if (stage == stages - 1) return _settings.KeepCount(n0);
        double lambda = Math.Pow(_settings.Retention, 1.0 / stages);
        return Math.Max(_settings.KeepCount(n0), (int)Math.Round(n0 * Math.Pow(lambda, stage + 1), MidpointRounding.ToEven));
    }

    public LayerDecision? Decide(LayerContext context, SequenceState state)
    {
        using var scope = NewDisposeScope();
        var active = _stageLayers.Where(l => l < context.NumLayers).ToArray();
        int stage = Array.IndexOf(active, context.Layer);
        int n0 = _visualAtStart > 0 ? _visualAtStart : context.Layout.Count;
        int keep = Math.Min(context.Layout.Count, StageKeep(stage, active.Length, n0));
        var scores = ProbedAttention.ToVisual(context, [context.Layout.SequenceLength - 1], Name).squeeze(0);
        return new LayerDecision(Selection.TopKAscending(scores, keep), PositionPolicy.Renumber);
    }
}
