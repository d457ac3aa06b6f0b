using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Pruning.Abstractions;

namespace UniPrune.Engine.Pruning.Methods;

/// <summary>
/// VTW — Visual Tokens Withdrawal (lzhxmu/VTW, arXiv 2405.05803; methods.md §2.7): before decoder layer K_w every visual token is
/// withdrawn; text tokens keep their original position ids (the reference's default pe_type "keep"). Layers below K_w keep the image in
/// their cache. VTW has no per-token budget, so retention maps to the withdrawal layer by equal average tokens: T_eq = N·K_w/L ⇒
/// K_w = round(r·L) (LLaVA 32 layers: 11/7/4 for 1/3, 2/9, 1/9), at least 1. Its documented count is therefore 0 kept tokens from
/// layer K_w and T_eq ≈ r·N.
/// Differences from the reference: the reference picks K_w by a KL search on calibration samples (η = 0.003 for LLaVA-1.5-7B; README
/// setting K_w = 15, CLI default 16); here K_w follows from the retention so VTW sits on the same budget axis as the other methods.
/// Parameter withdraw_layer overrides K_w.
/// </summary>
public sealed class Vtw : IIntraLlmMethod
{
    private readonly PruningSettings _settings;
    private readonly int? _withdrawLayer;

    public Vtw(PruningSettings settings)
    {
        _settings = settings;
        var p = new MethodParameters(Name, settings.Parameters);
        int layer = p.Int("withdraw_layer", -1);
        p.RejectUnknown();
        _withdrawLayer = layer >= 1 ? layer : null;
    }

    public string Name => "vtw";
    public PruningStage Stage => PruningStage.IntraLlm;

    /// <summary>K_w for a model with <paramref name="numLayers"/> layers (numLayers means: never withdraw).</summary>
    public int WithdrawLayer(int numLayers) =>
        _withdrawLayer ?? Math.Max(1, (int)Math.Round(_settings.Retention * numLayers, MidpointRounding.ToEven));

    public LayerProbe? Probe(int layerK, int numLayers, SequenceState state) =>
        layerK == WithdrawLayer(numLayers) && layerK < numLayers ? new LayerProbe([]) : null;

    public LayerDecision? Decide(LayerContext context, SequenceState state) => new([], PositionPolicy.KeepOriginal);
}
