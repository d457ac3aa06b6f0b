using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Pruning.Abstractions;
using UniPrune.Engine.Pruning.Common;
using static TorchSharp.torch;
using UniPrune.Engine.Models.Common;

namespace UniPrune.Engine.Pruning.Methods;

/// <summary>How PruMerge decides how many tokens it keeps by attention.</summary>
public enum PruMergeBudget
{
    /// <summary>The reference's IQR outlier rule (count independent of the retention).</summary>
    AdaptiveIqr,
    /// <summary>k − 1 tokens chosen (by attention; PruMerge+: ¼ by attention, ¾ on a uniform grid) + 1 extra token = k (methods.md §2.4 item 4).</summary>
    FixedK,
}

/// <summary>
/// LLaVA-PruMerge and PruMerge+ (42Shawn/LLaVA-PruMerge, arXiv 2403.15388; methods.md §2.4). Importance a = CLS→patch attention of the
/// last ViT layer computed from its raw q/k projections with the heads not split (softmax(q_cls·Kᵀ·C^-½)); kept = top tokens by a in
/// descending-attention order (PruMerge+ appends spatially uniform samples); each kept token absorbs its 32 nearest tokens by key cosine
/// (among all other patches), weighted by their raw attention (x_i + Σ a_j x_j); one extra token Σ_{j not kept} a_j x_j is appended.
/// Merging happens on the features before the projector, then the model's projector maps the kept+1 rows into the LLM (the decision
/// carries the replacement embeddings). Output order: descending attention (then the uniform samples), extra token last; positions
/// re-numbered. All visual tokens of the prompt form one unit.
/// Budgets: AdaptiveIqr — the reference's rule: ratio = |{a &gt; Q3 + 1.5·IQR}| / N (numpy linear percentiles), keep int(N·ratio) (which
/// float truncation can make one less than the outlier count, golden README disagreement 4); PruMerge+ adds arange(0, N−1, int(int(1/ratio)/3))
/// minus the kept ones (the reference's literal 575 is N−1). FixedK — k−1 by attention (PruMerge) or ⌈(k−1)/4⌉ by attention plus
/// uniform-grid tokens filled from the attention ranking (PruMerge+), + 1 extra = k tokens.
/// Differences from the reference: the per-token Python loop is one k×N cosine matmul + top-32 and one
/// (k×N)·(N×C) weighted sum; the adaptive rule keeps at least one token
/// (the reference keeps none and PruMerge+ divides by zero when there is no outlier). methods.md calls token_prune_merge_advanced the
/// inference path; the repo's forward() calls it, token_prune_merge_advanced_plus is the commented-out alternative — both are provided
/// (golden README disagreement 1). Towers without CLIP q/k (InternVL, Qwen) use the model's importance substitute (ClsAttention or
/// AttentionReceived) and embedding cosine instead of key cosine, and merge after the projector.
/// </summary>
public sealed class PruMerge : IPreLlmMethod
{
    private readonly PruningSettings _settings;
    private readonly PruMergeBudget _budget;
    private readonly int _neighbours;

    public PruMerge(PruningSettings settings, bool plus, PruMergeBudget budget)
    {
        _settings = settings; Plus = plus; _budget = budget;
        var p = new MethodParameters(Name, settings.Parameters);
        _neighbours = p.Int("neighbours", 32);
        p.RejectUnknown();
    }

    public bool Plus { get; }
    public string Name => (Plus ? "prumerge-plus" : "prumerge") + (_budget == PruMergeBudget.AdaptiveIqr ? "-adaptive" : "");
    public PruningStage Stage => PruningStage.PreLlm;

    public PreLlmDecision Select(PreLlmContext context)
    {
        var vision = context.Vision;
        int n = vision.Layout.Count;
        using var scope = NewDisposeScope();
        Tensor attention, keys, features;
        bool project = vision.Tower == VisionTowerKind.ClipWithCls;
        if (project)
        {
            var q = Selection.Require(vision.LastLayerQueries, Name, "Vision.LastLayerQueries", n + 1);
            var k = Selection.Require(vision.LastLayerKeys, Name, "Vision.LastLayerKeys", n + 1);
            attention = ClsAttention(q, k);
            keys = k.narrow(0, 1, n);
            features = Selection.Require(vision.FeaturesBeforeProjector, Name, "Vision.FeaturesBeforeProjector", n);
            if (vision.Project is null) throw new ArgumentException($"{Name} merges CLIP features before the projector and needs VisionEvidence.Project");
        }
        else
        {
            attention = Selection.Require(vision.ClsAttention ?? vision.AttentionReceived, Name, "Vision.ClsAttention or Vision.AttentionReceived", n);
            keys = features = Selection.Require(vision.Embeddings, Name, "Vision.Embeddings", n);
        }
        var result = Run(attention, keys, features, Plus, _budget, _settings.KeepCount(n), _neighbours);
        var embeddings = project ? vision.Project!(result.Merged) : result.Merged;
        return new PreLlmDecision(result.Kept, embeddings.MoveToOuterDisposeScope(), ExtraTokens: 1, PositionPolicy.Renumber);
    }

    /// <summary>softmax(q_cls · Kᵀ · C^-½) over all 1+P keys, patches only (P).</summary>
    public static Tensor ClsAttention(Tensor queries, Tensor keys)
    {
        using var scope = NewDisposeScope();
        long c = queries.shape[1];
        var logits = queries[0].to_type(ScalarType.Float32).matmul(keys.to_type(ScalarType.Float32).t()).Times(Math.Pow(c, -0.5));
        return logits.softmax(dim: 0).narrow(0, 1, keys.shape[0] - 1).MoveToOuterDisposeScope();
    }

    /// <summary>Kept indices in output order, the merged rows (kept + 1 extra, C), and the IQR statistics when adaptive.</summary>
    public sealed record Result(long[] Kept, Tensor Merged, double OutlierRatio, double Q1, double Q3);

    public static Result Run(Tensor attention, Tensor keys, Tensor features, bool plus, PruMergeBudget budget, int k, int neighbours = 32)
    {
        using var scope = NewDisposeScope();
        var a = attention.to_type(ScalarType.Float32);
        int n = (int)a.shape[0];
        var byAttention = Selection.TopKOrder(a, n);
        long[] kept;
        double ratio = double.NaN, q1 = double.NaN, q3 = double.NaN;
        if (budget == PruMergeBudget.AdaptiveIqr)
        {
            (ratio, q1, q3) = OutlierRatio(Selection.ToFloats(a));
            int count = Math.Max(1, (int)(n * ratio));
            kept = byAttention[..count];
            if (plus)
            {
                int stride = Math.Max(1, (int)((int)(1 / Math.Max(ratio, 1.0 / n)) / 3.0));
                var set = new HashSet<long>(kept);
                kept = [.. kept, .. Enumerable.Range(0, (n - 1 + stride - 1) / stride).Select(i => (long)i * stride).Where(x => x < n - 1 && !set.Contains(x))];
            }
        }
        else
        {
            int budgetTokens = Math.Max(1, k - 1);
            if (!plus) kept = byAttention[..budgetTokens];
            else
            {
                int byAttn = Math.Max(1, (budgetTokens + 3) / 4);
                var list = byAttention[..byAttn].ToList();
                var set = new HashSet<long>(list);
                int grid = budgetTokens - byAttn;
                for (int i = 0; i < grid; i++)
                {
                    long x = (long)Math.Floor((i + 0.5) * n / grid);
                    if (set.Add(x)) list.Add(x);
                }
                foreach (long x in byAttention) { if (list.Count >= budgetTokens) break; if (set.Add(x)) list.Add(x); }
                kept = [.. list];
            }
        }

        var f = features.to_type(ScalarType.Float32);
        var keptIndex = tensor(kept);
        var keyUnit = nn.functional.normalize(keys.to_type(ScalarType.Float32), p: 2, dim: 1);
        var similarity = keyUnit.index_select(0, keptIndex).matmul(keyUnit.t());              // (kept, N)
        similarity.scatter_(1, keptIndex.unsqueeze(1), full(kept.Length, 1, HeldScalars.NegativeInfinity)); // never itself
        int m = Math.Min(neighbours, n - 1);
        var (_, nearest) = similarity.topk(m, dim: 1, largest: true, sorted: true);           // (kept, m)
        // Σ_j a_j·x_j over each kept token's neighbours as one (kept × N) weight matrix times the features.
        var weights = zeros(kept.Length, n).scatter_(1, nearest, a.index_select(0, nearest.flatten()).view(kept.Length, m));
        var absorbed = weights.matmul(f);
        var merged = f.index_select(0, keptIndex).Plus(absorbed);
        var keptSet = new HashSet<long>(kept);
        var rest = tensor(Enumerable.Range(0, n).Select(i => (long)i).Where(i => !keptSet.Contains(i)).ToArray());
        var extra = (f.index_select(0, rest) * a.index_select(0, rest).unsqueeze(1)).sum(dim: 0, keepdim: true);
        return new Result(kept, cat([merged, extra], 0).MoveToOuterDisposeScope(), ratio, q1, q3);
    }

    /// <summary>The reference's IQR rule with numpy's default (linear) percentiles: share of scores above Q3 + 1.5·(Q3 − Q1).</summary>
    public static (double Ratio, double Q1, double Q3) OutlierRatio(float[] scores)
    {
        var sorted = (float[])scores.Clone();
        Array.Sort(sorted);
        double q1 = Percentile(sorted, 25), q3 = Percentile(sorted, 75);
        double upper = q3 + 1.5 * (q3 - q1);
        return ((double)scores.Count(s => s > upper) / scores.Length, q1, q3);
    }

    // numpy's _lerp: the difference is taken in the array dtype (float32), the interpolation in float64, from the nearer end.
    private static double Percentile(float[] sorted, double q)
    {
        double quantile = q / 100.0, n = sorted.Length;
        double position = n * quantile + (1 + quantile * (1 - 1 - 1)) - 1; // numpy's virtual index, alpha = beta = 1
        int lo = (int)Math.Floor(position);
        int hi = Math.Min(lo + 1, sorted.Length - 1);
        double t = position - lo;
        float diff = sorted[hi] - sorted[lo];
        return t >= 0.5 ? sorted[hi] - diff * (1 - t) : sorted[lo] + diff * t;
    }
}
