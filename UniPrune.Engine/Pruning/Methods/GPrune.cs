using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Pruning.Abstractions;
using UniPrune.Engine.Pruning.Common;
using static TorchSharp.torch;
using UniPrune.Engine.Models.Common;

namespace UniPrune.Engine.Pruning.Methods;

/// <summary>
/// G-Prune (jytmelon/G-Prune, arXiv 2501.02268; methods.md §2.3): information propagation on a similarity graph of the projected
/// visual embeddings (H2), per unit. S = cos, entries below τ (0.5) removed, S/T (T = 0.03) row-softmaxed over the remaining
/// neighbours → P; degree = neighbours incl. self (from P before the power); s = ‖F‖₂ · P^t (t = 5); score = s / degree;
/// keep the top k, sorted ascending; positions re-numbered.
/// Differences from the reference: s is computed by t vector–matrix products instead of torch.matrix_power (same maths, O(tN²)
/// instead of O(N³), float rounding differs at the 1e-7 level); removed entries are masked to −∞ instead of the −5000 trick (both
/// give exactly zero probability); k = keep(r·N) per unit instead of the hard-coded int(0.5·576). LLaVA-NeXT's separate high-res
/// graph and newline tokens do not apply to the models here. Parameters: similarity, temperature, iterations.
/// </summary>
public sealed class GPrune : IPreLlmMethod
{
    private readonly PruningSettings _settings;
    private readonly double _similarity, _temperature;
    private readonly int _iterations;

    public GPrune(PruningSettings settings)
    {
        _settings = settings;
        var p = new MethodParameters(Name, settings.Parameters);
        _similarity = p.Double("similarity", 0.5);
        _temperature = p.Double("temperature", 0.03);
        _iterations = p.Int("iterations", 5);
        p.RejectUnknown();
    }

    public string Name => "gprune";
    public PruningStage Stage => PruningStage.PreLlm;

    public PreLlmDecision Select(PreLlmContext context)
    {
        var x = Selection.Require(context.Vision.Embeddings, Name, "Vision.Embeddings", context.Vision.Layout.Count);
        return new(Selection.PerUnit(context.Vision.Layout, _settings, (offset, count, k) =>
        {
            using var scope = NewDisposeScope();
            return Selection.TopKAscending(Scores(x.narrow(0, offset, count), _similarity, _temperature, _iterations), k);
        }));
    }

    /// <summary>The propagated score of every token (n).</summary>
    public static Tensor Scores(Tensor features, double similarity = 0.5, double temperature = 0.03, int iterations = 5)
    {
        using var scope = NewDisposeScope();
        var f = features.to_type(ScalarType.Float32);
        var s = Selection.CosineMatrix(f);
        var neighbour = s.AtLeast(similarity);
        var logits = s.DividedBy(temperature).masked_fill(neighbour.logical_not(), HeldScalars.NegativeInfinity);
        var transition = logits.softmax(1);
        var degree = transition.gt(HeldScalars.Zero).sum(1).to_type(ScalarType.Float32);
        var information = f.norm(dim: 1).unsqueeze(0); // (1, n)
        for (int i = 0; i < iterations; i++) information = information.matmul(transition);
        return (information.squeeze(0) / degree).MoveToOuterDisposeScope();
    }
}
