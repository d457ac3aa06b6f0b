using TorchSharp;
using UniPrune.Engine.Models.Common;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace UniPrune.Engine.Models.Qwen25VL;

// The Qwen2.5-VL vision transformer, read top to bottom: patch embedding → 2-D rotary table → window permutation →
// blocks (window attention, full attention in fullatt_block_indexes) → PatchMerger → inverse permutation.
// Field names equal the checkpoint keys under "visual." (models.md §2.2), so the state dict loads by name.

/// <summary>One image's patch grid, in patches: temporal frames × rows × columns (image_grid_thw).</summary>
public readonly record struct GridThw(int T, int H, int W)
{
    public int Patches => T * H * W;
    public int MergedTokens(int merge) => T * (H / merge) * (W / merge);
}

/// <summary>Where window attention puts each merged cell, and the window boundaries in patches.</summary>
/// <param name="WindowIndex">Permutation of merged cells (all images) into window order.</param>
/// <param name="CuWindowSeqlens">Cumulative window lengths in patches, starting at 0, empty windows removed.</param>
/// <param name="CuImageSeqlens">Cumulative frame lengths in patches (full-attention spans), starting at 0.</param>
public sealed record VisionWindowPlan(long[] WindowIndex, int[] CuWindowSeqlens, int[] CuImageSeqlens);

/// <summary>What the vision tower returns. Tensors are owned by the caller (outside any forward scope).</summary>
public sealed class Qwen25VLVisionOutput : IDisposable
{
    /// <summary>Merger outputs in natural (raster, image-major) order (N, out_hidden).</summary>
    public required Tensor ImageEmbeds { get; init; }
    /// <summary>Merger input regrouped per merge unit, natural order (N, 4·C): hook H1.</summary>
    public required Tensor FeaturesBeforeMerger { get; init; }
    /// <summary>Attention received in the last full-attention block, head mean, summed over queries, mean per merge unit, natural order (N); only when asked.</summary>
    public Tensor? AttentionReceived { get; init; }
    public required VisionWindowPlan Plan { get; init; }

    public void Dispose()
    {
        ImageEmbeds.Dispose();
        FeaturesBeforeMerger.Dispose();
        AttentionReceived?.Dispose();
    }
}

/// <summary>Optional recorder of every intermediate stage (golden parity tests); tensors are detached copies the recorder owns.</summary>
public sealed class VisionTrace : IDisposable
{
    public Tensor? PatchEmbed { get; internal set; }
    /// <summary>Rotary angles per patch (patches, head_dim/2), natural order, before the window permutation.</summary>
    public Tensor? RotaryAngles { get; internal set; }
    /// <summary>Output of each block, rows in window order.</summary>
    public List<Tensor> BlockOutputsWindowOrder { get; } = [];
    /// <summary>Attention received per patch in the last full-attention block, window order (only when importance was asked).</summary>
    public Tensor? AttentionReceivedPerPatchWindowOrder { get; internal set; }

    internal static Tensor Keep(Tensor t) => t.detach().clone().DetachFromDisposeScope();

    public void Dispose()
    {
        PatchEmbed?.Dispose();
        RotaryAngles?.Dispose();
        AttentionReceivedPerPatchWindowOrder?.Dispose();
        foreach (var t in BlockOutputsWindowOrder) t.Dispose();
    }
}

/// <summary>Conv3d with kernel = stride = (T, P, P) and no bias, applied as one matmul on pre-flattened patch rows.</summary>
internal sealed class Qwen25VisionPatchEmbed : nn.Module
{
    private readonly Conv3dWeight proj;

    public Qwen25VisionPatchEmbed(Qwen25VLVisionConfig c, ParameterFactory factory) : base(nameof(Qwen25VisionPatchEmbed))
    {
        proj = new Conv3dWeight(factory.Create(c.HiddenSize, c.InChannels, c.TemporalPatchSize, c.PatchSize, c.PatchSize));
        RegisterComponents();
    }

    /// <summary>(patches, C·T·P·P) → (patches, hidden). Each row is laid out [channel][temporal][y][x], the kernel's own order.</summary>
    public Tensor Forward(Tensor patchRows)
    {
        var w = proj.Weight;
        using var flat = w.reshape(w.shape[0], -1);
        return patchRows.to(w.dtype, w.device).matmul(flat.t());
    }

    /// <summary>Holds the checkpoint's <c>proj.weight</c> [hidden, C, T, P, P]; never run as a convolution.</summary>
    private sealed class Conv3dWeight : nn.Module
    {
        private readonly Parameter weight;
        public Tensor Weight => weight;

        public Conv3dWeight(Parameter weight) : base(nameof(Conv3dWeight))
        {
            this.weight = weight;
            RegisterComponents();
        }
    }
}

internal sealed class Qwen25VisionAttention : nn.Module
{
    private readonly Linear qkv;
    private readonly Linear proj;
    private readonly int _heads;
    private readonly int _headDim;

    public Qwen25VisionAttention(Qwen25VLVisionConfig c, ParameterFactory factory) : base(nameof(Qwen25VisionAttention))
    {
        qkv = new Linear(c.HiddenSize, 3L * c.HiddenSize, hasBias: true, factory);
        proj = new Linear(c.HiddenSize, c.HiddenSize, hasBias: true, factory);
        _heads = c.NumHeads;
        _headDim = c.HeadDim;
        RegisterComponents();
    }

    /// <param name="x">(S, C), window order.</param>
    /// <param name="cuSeqlens">Span boundaries in rows; attention never crosses a boundary.</param>
    /// <param name="cos">(S, head_dim) float32.</param>
    /// <param name="received">When non-null, receives the attention each row got: softmax probabilities, head mean, summed over the queries of its span (S).</param>
    public Tensor Forward(Tensor x, int[] cuSeqlens, Tensor cos, Tensor sin, Action<Tensor>? received)
    {
        using var scope = NewDisposeScope();
        long s = x.shape[0];
        // Rows of qkv are [q heads | k heads | v heads], each head head_dim wide.
        var parts = qkv.forward(x).reshape(s, 3, _heads, _headDim).unbind(1);
        var (q, k) = ApplyRotary(parts[0], parts[1], cos, sin);
        var v = parts[2];

        var outputs = new List<Tensor>();
        foreach (var (start, count, length) in EqualLengthRuns(cuSeqlens))
        {
            // A run of equal-length spans is one batched SDPA: (spans, heads, length, head_dim).
            Tensor Batch(Tensor t) => t.narrow(0, start, (long)count * length).reshape(count, length, _heads, _headDim).permute(0, 2, 1, 3);
            var o = nn.functional.scaled_dot_product_attention(Batch(q), Batch(k), Batch(v));
            outputs.Add(o.permute(0, 2, 1, 3).reshape((long)count * length, _heads * _headDim));
        }
        // Detached: the caller (the tower) owns it across the block's own scope.
        if (received is not null) received(AttentionReceived(q, k, cuSeqlens).DetachFromDisposeScope());
        var attended = outputs.Count == 1 ? outputs[0] : cat(outputs, 0);
        return proj.forward(attended).MoveToOuterDisposeScope();
    }

    /// <summary>2-D rotary in float32 (rotate-half), results cast back to the activation dtype.</summary>
    private static (Tensor q, Tensor k) ApplyRotary(Tensor q, Tensor k, Tensor cos, Tensor sin)
    {
        var c = cos.unsqueeze(-2);
        var sn = sin.unsqueeze(-2);
        Tensor Rotate(Tensor t)
        {
            var t32 = t.to_type(ScalarType.Float32);
            return (t32 * c).Plus(Rotary.RotateHalf(t32) * sn).to_type(t.dtype);
        }
        return (Rotate(q), Rotate(k));
    }

    /// <summary>Column sums of the head-mean softmax probabilities within each span, computed in query chunks (never all heads × S² at once).</summary>
    private Tensor AttentionReceived(Tensor q, Tensor k, int[] cuSeqlens)
    {
        const long QueryChunk = 512;
        double scale = 1.0 / Math.Sqrt(_headDim);
        var perSpan = new List<Tensor>();
        for (int i = 0; i + 1 < cuSeqlens.Length; i++)
        {
            long start = cuSeqlens[i], len = cuSeqlens[i + 1] - cuSeqlens[i];
            var keys = k.narrow(0, start, len).permute(1, 2, 0).to_type(ScalarType.Float32);      // (H, hd, len)
            var total = zeros(len, dtype: ScalarType.Float32, device: q.device);
            for (long qs = 0; qs < len; qs += QueryChunk)
            {
                long n = Math.Min(QueryChunk, len - qs);
                var queries = q.narrow(0, start + qs, n).permute(1, 0, 2).to_type(ScalarType.Float32); // (H, n, hd)
                var probs = nn.functional.softmax(queries.matmul(keys).Times(scale), -1);                      // (H, n, len)
                total.PlusInPlace(probs.sum([0, 1]));
            }
            perSpan.Add(total.DividedBy(_heads));
        }
        return cat(perSpan, 0);
    }

    /// <summary>Groups consecutive spans of equal length: (first row, span count, span length).</summary>
    internal static IEnumerable<(long Start, int Count, long Length)> EqualLengthRuns(int[] cu)
    {
        int i = 0;
        while (i + 1 < cu.Length)
        {
            long len = cu[i + 1] - cu[i];
            int j = i + 1;
            while (j + 1 < cu.Length && cu[j + 1] - cu[j] == len) j++;
            if (len > 0) yield return (cu[i], j - i, len);
            i = j;
        }
    }
}

/// <summary>Pre-norm block: x + attn(RMSNorm₁ x), then + SwiGLU(RMSNorm₂ x) with biases (the LLM's MLP has none).</summary>
internal sealed class Qwen25VisionBlock : nn.Module
{
    private readonly RmsNorm norm1;
    private readonly RmsNorm norm2;
    private readonly Qwen25VisionAttention attn;
    private readonly GatedMlp mlp;

    public Qwen25VisionBlock(Qwen25VLVisionConfig c, ParameterFactory factory) : base(nameof(Qwen25VisionBlock))
    {
        norm1 = new RmsNorm(c.HiddenSize, Qwen25VisionTower.NormEps, factory);
        norm2 = new RmsNorm(c.HiddenSize, Qwen25VisionTower.NormEps, factory);
        attn = new Qwen25VisionAttention(c, factory);
        mlp = new GatedMlp(c.HiddenSize, c.IntermediateSize, Activation.Silu, hasBias: true, factory);
        RegisterComponents();
    }

    public Tensor Forward(Tensor x, int[] cuSeqlens, Tensor cos, Tensor sin, Action<Tensor>? received)
    {
        using var scope = NewDisposeScope();
        var h = x.Plus(attn.Forward(norm1.forward(x), cuSeqlens, cos, sin, received));
        return h.Plus(mlp.forward(norm2.forward(h))).MoveToOuterDisposeScope();
    }
}

/// <summary>RMSNorm per patch, concatenate each 2×2 merge unit (TL, TR, BL, BR), then Linear → exact GELU → Linear.</summary>
internal sealed class Qwen25VisionPatchMerger : nn.Module
{
    private readonly RmsNorm ln_q;
    // Checkpoint names mlp.0 (Linear) and mlp.2 (Linear); index 1 is the parameter-free exact GELU.
    private readonly TorchSharp.Modules.Sequential mlp;
    private readonly int _unitWidth;

    public Qwen25VisionPatchMerger(Qwen25VLVisionConfig c, ParameterFactory factory) : base(nameof(Qwen25VisionPatchMerger))
    {
        _unitWidth = c.HiddenSize * c.MergeUnit;
        ln_q = new RmsNorm(c.HiddenSize, Qwen25VisionTower.NormEps, factory);
        mlp = nn.Sequential(
            ("0", new Linear(_unitWidth, _unitWidth, hasBias: true, factory)),
            ("1", nn.GELU()),
            ("2", new Linear(_unitWidth, c.OutHiddenSize, hasBias: true, factory)));
        RegisterComponents();
    }

    /// <summary>Patch rows (P, C), each merge unit's 4 rows consecutive → (P/4, out_hidden).</summary>
    public Tensor Forward(Tensor patches)
    {
        using var scope = NewDisposeScope();
        return mlp.forward(ln_q.forward(patches).reshape(-1, _unitWidth)).MoveToOuterDisposeScope();
    }

    /// <summary>Merge units already concatenated (M, 4·C) → (M, out_hidden): the same map, for methods that merge before it.</summary>
    public Tensor ForwardUnits(Tensor units)
    {
        using var scope = NewDisposeScope();
        return Forward(units.reshape(-1, units.shape[^1] / 4)).MoveToOuterDisposeScope();
    }
}

/// <summary>The whole vision tower ("visual." in the checkpoint).</summary>
public sealed class Qwen25VisionTower : nn.Module
{
    /// <summary>Every RMSNorm in the tower (blocks and ln_q) uses 1e-6, hard-coded in the reference.</summary>
    public const double NormEps = 1e-6;

    private readonly Qwen25VisionPatchEmbed patch_embed;
    private readonly TorchSharp.Modules.ModuleList<Qwen25VisionBlock> blocks;
    private readonly Qwen25VisionPatchMerger merger;
    private readonly Qwen25VLVisionConfig _config;
    private readonly HashSet<int> _fullAttention;

    public Qwen25VLVisionConfig Config => _config;

    /// <summary>Parameters start uninitialised (or on the meta device): fill them from a checkpoint.</summary>
    public Qwen25VisionTower(Qwen25VLVisionConfig config, ParameterFactory factory) : base(nameof(Qwen25VisionTower))
    {
        _config = config;
        _fullAttention = [.. config.FullAttentionBlockIndexes];
        patch_embed = new Qwen25VisionPatchEmbed(config, factory);
        blocks = new TorchSharp.Modules.ModuleList<Qwen25VisionBlock>(Enumerable.Range(0, config.Depth).Select(_ => new Qwen25VisionBlock(config, factory)).ToArray());
        merger = new Qwen25VisionPatchMerger(config, factory);
        RegisterComponents();
    }

    /// <summary>Merge units (M, 4·C) → LLM space (M, out_hidden) (VisionEvidence.Project).</summary>
    public Tensor ProjectUnits(Tensor units) => merger.ForwardUnits(units);

    /// <summary>
    /// The block whose attention feeds the CLS-free importance (methods.md §1.3 (b)): the last full-attention block
    /// (31 in the released models, which is also the last block, as LightCompress reads it).
    /// </summary>
    public int ImportanceBlock => _config.FullAttentionBlockIndexes.Count > 0 ? _config.FullAttentionBlockIndexes.Max() : _config.Depth - 1;

    /// <summary>
    /// Runs the tower on processor-ordered patch rows (patches, C·T·P·P) for the given grids.
    /// <paramref name="withImportance"/> computes the attention-received importance (extra cost: one explicit
    /// softmax over the importance block); <paramref name="trace"/> records every stage.
    /// </summary>
    public Qwen25VLVisionOutput Forward(Tensor pixelValues, IReadOnlyList<GridThw> grids, bool withImportance = false, VisionTrace? trace = null)
    {
        var c = _config;
        long patches = grids.Sum(g => (long)g.Patches);
        if (pixelValues.ndim != 2 || pixelValues.shape[0] != patches || pixelValues.shape[1] != c.PatchVectorLength)
            throw new ArgumentException($"pixel_values has shape [{string.Join(",", pixelValues.shape)}]; expected [{patches}, {c.PatchVectorLength}] for grids {string.Join(" ", grids)}");
        foreach (var g in grids)
            if (g.H % c.SpatialMergeSize != 0 || g.W % c.SpatialMergeSize != 0 || g.T < 1)
                throw new ArgumentException($"grid {g} must have T ≥ 1 and H, W divisible by spatial_merge_size {c.SpatialMergeSize}");

        using var scope = NewDisposeScope();
        var plan = PlanWindows(grids, c);
        int unit = c.MergeUnit;
        long cells = patches / unit;
        var windowIndex = tensor(plan.WindowIndex, device: pixelValues.device);

        var x = patch_embed.Forward(pixelValues);
        if (trace is not null) trace.PatchEmbed = VisionTrace.Keep(x);

        var angles = RotaryAngles(grids, c, pixelValues.device);
        if (trace is not null) trace.RotaryAngles = VisionTrace.Keep(angles);

        // Permute merge units (groups of 4 patch rows) into window order, once, for hidden states and rotary alike.
        x = x.reshape(cells, unit, -1).index_select(0, windowIndex).reshape(patches, -1);
        angles = angles.reshape(cells, unit, -1).index_select(0, windowIndex).reshape(patches, -1);
        var emb = cat([angles, angles], -1);
        var cos = emb.cos();
        var sin = emb.sin();

        Tensor? receivedPerPatch = null;
        int importanceBlock = ImportanceBlock;
        for (int i = 0; i < blocks.Count; i++)
        {
            var spans = _fullAttention.Contains(i) ? plan.CuImageSeqlens : plan.CuWindowSeqlens;
            Action<Tensor>? capture = withImportance && i == importanceBlock ? t => receivedPerPatch = t : null;
            x = blocks[i].Forward(x, spans, cos, sin, capture);
            if (trace is not null) trace.BlockOutputsWindowOrder.Add(VisionTrace.Keep(x));
        }

        var merged = merger.Forward(x);
        // Undo the window order on merged tokens: natural[window_index[j]] = merged[j].
        var inverse = windowIndex.argsort();
        var embeds = merged.index_select(0, inverse);
        var featuresNatural = x.reshape(cells, -1).index_select(0, inverse);

        Tensor? importance = null;
        if (receivedPerPatch is not null)
        {
            if (trace is not null) trace.AttentionReceivedPerPatchWindowOrder = VisionTrace.Keep(receivedPerPatch);
            importance = receivedPerPatch.reshape(cells, unit).mean([1]).index_select(0, inverse).DetachFromDisposeScope();
            receivedPerPatch.Dispose();
        }

        return new Qwen25VLVisionOutput
        {
            ImageEmbeds = embeds.DetachFromDisposeScope(),
            FeaturesBeforeMerger = featuresNatural.DetachFromDisposeScope(),
            AttentionReceived = importance,
            Plan = plan,
        };
    }

    /// <summary>
    /// Rotary angles per patch in processor (merge-block) order: [row·inv_freq | col·inv_freq], inv_freq_j =
    /// 10000^(−2j/d) with d = head_dim/2, rows/cols in the unmerged patch grid, repeated for every frame.
    /// </summary>
    public static Tensor RotaryAngles(IReadOnlyList<GridThw> grids, Qwen25VLVisionConfig c, Device? device = null)
    {
        using var scope = NewDisposeScope();
        int dim = c.HeadDim / 2;
        int m = c.SpatialMergeSize;
        var invFreq = pow(10000.0f, HeldScalars.Arange(0, dim, 2, ScalarType.Float32).DividedBy(dim)).reciprocal();
        int maxGrid = grids.Max(g => Math.Max(g.H, g.W));
        var table = outer(HeldScalars.Arange(maxGrid, ScalarType.Float32), invFreq);

        var rows = new List<long>();
        var cols = new List<long>();
        foreach (var g in grids)
            for (int t = 0; t < g.T; t++)
                for (int br = 0; br < g.H / m; br++)
                    for (int bc = 0; bc < g.W / m; bc++)
                        for (int r = 0; r < m; r++)
                            for (int col = 0; col < m; col++)
                            {
                                rows.Add(br * m + r);
                                cols.Add(bc * m + col);
                            }
        var angles = cat([table.index_select(0, tensor(rows.ToArray())), table.index_select(0, tensor(cols.ToArray()))], -1);
        return angles.to(device ?? CPU).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Window order of merged cells (models.md §2.4): per image and frame, the merged grid is cut into windows of
    /// WindowCells² cells scanned row-major (edge windows partial), cells row-major inside each window.
    /// Window lengths ×4 accumulate into cu_window_seqlens; empty windows (the reference pads a whole extra band
    /// when the grid is a multiple of the window) add no boundary.
    /// </summary>
    public static VisionWindowPlan PlanWindows(IReadOnlyList<GridThw> grids, Qwen25VLVisionConfig c)
    {
        int ws = c.WindowCells, m = c.SpatialMergeSize, unit = c.MergeUnit;
        var index = new List<long>();
        var cuWindows = new List<int> { 0 };
        var cuImages = new List<int> { 0 };
        long offset = 0;
        foreach (var g in grids)
        {
            int gh = g.H / m, gw = g.W / m;
            int windowsDown = (gh + ws - 1) / ws, windowsAcross = (gw + ws - 1) / ws;
            for (int t = 0; t < g.T; t++)
            {
                for (int wy = 0; wy < windowsDown; wy++)
                    for (int wx = 0; wx < windowsAcross; wx++)
                    {
                        int count = 0;
                        for (int y = wy * ws; y < Math.Min(gh, (wy + 1) * ws); y++)
                            for (int x = wx * ws; x < Math.Min(gw, (wx + 1) * ws); x++)
                            {
                                index.Add(offset + (long)t * gh * gw + (long)y * gw + x);
                                count++;
                            }
                        if (count > 0) cuWindows.Add(cuWindows[^1] + count * unit);
                    }
                cuImages.Add(cuImages[^1] + g.H * g.W);
            }
            offset += (long)g.T * gh * gw;
        }
        return new VisionWindowPlan(index.ToArray(), cuWindows.ToArray(), cuImages.ToArray());
    }
}
