using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Pruning.Abstractions;
using UniPrune.Engine.Pruning.Common;
using static TorchSharp.torch;

namespace UniPrune.Engine.Pruning.Methods;

/// <summary>
/// VisPruner (Theia-4869/VisPruner, arXiv 2412.01818; methods.md §2.5), per unit: T = keep(r·N) tokens, T_imp = int(T·ρ) (ρ = 0.5)
/// most important by visual attention, then T_div diverse ones from the rest: the residual list (kept in attention-sorted order) is
/// split into even/odd positions A/B, the r members of A most similar (max cosine) to B are removed, r = min(cap, R − T_div), repeated
/// until T_div remain. Output is a mask → raster order; positions re-numbered.
/// Importance and similarity per tower: CLIP (LLaVA) — head-mean CLS attention of the selected layer, similarity on the features before
/// the projector (official LLaVA code). Qwen2.5-VL (no CLS) — attention received in the last full-attention block, mean per merge unit
/// (<see cref="VisionEvidence.AttentionReceived"/>), similarity on the merger output (LightCompress port). InternVL — CLS attention of the
/// last InternViT layer summed per 2×2 pixel-shuffle group, similarity on the post-mlp1 embeddings (methods.md adaptation; no reference
/// port exists).
/// Differences from the reference (the golden README's disagreement 2): the per-round cap is a parameter (default 8, the reference's
/// constant; the golden set uses 2 for tiny N); LightCompress's parity fix (T_imp += 1 when N − T_imp is odd) is always applied, because
/// the official loop is only defined while R stays even; and r is also capped at |A| so a round can never index past A (the reference
/// raises a shape error there instead). Ties in the attention sort are broken by index (stable sort).
/// </summary>
public sealed class VisPruner : IPreLlmMethod
{
    private readonly PruningSettings _settings;
    private readonly double _importantRatio;
    private readonly int _perRoundCap;

    public VisPruner(PruningSettings settings)
    {
        _settings = settings;
        var p = new MethodParameters(Name, settings.Parameters);
        _importantRatio = p.Double("important_ratio", 0.5);
        _perRoundCap = p.Int("per_round_cap", 8);
        p.RejectUnknown();
        if (_perRoundCap < 1) throw new ArgumentException($"{Name}: per_round_cap must be ≥ 1, got {_perRoundCap}");
        if (!(_importantRatio >= 0 && _importantRatio <= 1)) throw new ArgumentException($"{Name}: important_ratio must be in [0, 1], got {_importantRatio}");
    }

    public string Name => "vispruner";
    public PruningStage Stage => PruningStage.PreLlm;

    public PreLlmDecision Select(PreLlmContext context)
    {
        var vision = context.Vision;
        int n = vision.Layout.Count;
        var (importance, similarity) = vision.Tower switch
        {
            VisionTowerKind.ClipWithCls => (Selection.Require(vision.ClsAttention, Name, "Vision.ClsAttention", n),
                                            Selection.Require(vision.FeaturesBeforeProjector, Name, "Vision.FeaturesBeforeProjector", n)),
            VisionTowerKind.InternVitPixelShuffle => (Selection.Require(vision.ClsAttention, Name, "Vision.ClsAttention", n),
                                                      Selection.Require(vision.Embeddings, Name, "Vision.Embeddings", n)),
            VisionTowerKind.QwenWindowedNoCls => (Selection.Require(vision.AttentionReceived, Name, "Vision.AttentionReceived", n),
                                                  Selection.Require(vision.Embeddings, Name, "Vision.Embeddings", n)),
            _ => throw new ArgumentException($"{Name} needs VisionEvidence.Tower to choose its importance and similarity features; the model left it Unspecified"),
        };
        return new(Selection.PerUnit(vision.Layout, _settings, (offset, count, k) =>
        {
            using var scope = NewDisposeScope();
            var kept = Select(importance.narrow(0, offset, count), similarity.narrow(0, offset, count), k, _importantRatio, _perRoundCap);
            Array.Sort(kept);
            return kept;
        }));
    }

    /// <summary>The T selected tokens (important first, then the surviving residual, not sorted).</summary>
    public static long[] Select(Tensor importance, Tensor features, int target, double importantRatio = 0.5, int perRoundCap = 8)
    {
        using var scope = NewDisposeScope();
        int n = (int)importance.shape[0];
        if (target >= n) return Enumerable.Range(0, n).Select(i => (long)i).ToArray();
        int important = (int)(target * importantRatio);
        if ((n - important) % 2 == 1 && important < target) important++; // LightCompress parity fix
        int diverse = target - important;

        var order = Selection.ArgsortDescending(importance);
        var residual = order[important..].ToList();
        // One Gram matrix of the residual tokens replaces a matmul per round: each round only gathers its A×B block
        // (O(R²) instead of O(R²·d) per round; ≈(N−T)/8 rounds).
        var residualIndex = tensor(residual.ToArray());
        var normalized = Selection.Normalized(features.index_select(0, residualIndex));
        var gram = normalized.matmul(normalized.t());
        var position = new Dictionary<long, long>();
        for (int i = 0; i < residual.Count; i++) position[residual[i]] = i;
        while (true)
        {
            int r = Math.Min(perRoundCap, residual.Count - diverse);
            int half = (residual.Count + 1) / 2; // |A| (even positions)
            r = Math.Min(r, half);
            if (r <= 0) break;
            var a = residual.Where((_, i) => i % 2 == 0).ToArray();
            var b = residual.Where((_, i) => i % 2 == 1).ToArray();
            if (b.Length == 0) { residual = [.. a[..^r]]; break; }
            using var inner = NewDisposeScope();
            var rowsA = tensor(a.Select(x => position[x]).ToArray());
            var colsB = tensor(b.Select(x => position[x]).ToArray());
            var scores = gram.index_select(0, rowsA).index_select(1, colsB).max(dim: 1).values;
            var distinct = Selection.ArgsortDescending(scores)[r..];
            residual = [.. distinct.Select(i => a[i]), .. b];
        }
        return [.. order[..important], .. residual];
    }
}
