using TorchSharp;
using static TorchSharp.torch;

namespace UniPrune.Engine.Training;

/// <summary>
/// Training-only linear head: from each visual token predict the pixels of the image region it stands for, average-pooled
/// to 7×7×3 (LLaVA: one 14-px patch; Qwen: one 28-px merge unit; InternVL: one 28-px pixel-shuffle group of a tile). Mean
/// squared error against the processor's own normalised pixel values. A from-scratch tower otherwise learns to see only
/// through the few answer tokens; this dense target makes every token carry its region's content early. Never saved.
/// </summary>
public sealed class PatchReconstructionHead : nn.Module, IAuxiliaryHead
{
    public string HeadName => "pixels";
    public double LastLoss { get; private set; } = double.NaN;

    /// <summary>Values per target region: 3 channels × 7 × 7.</summary>
    public const int TargetSize = 3 * Side * Side;
    private const int Side = 7;

    private readonly nn.Module<Tensor, Tensor> predict;

    public PatchReconstructionHead(int hidden) : base(nameof(PatchReconstructionHead))
    {
        predict = nn.Linear(hidden, TargetSize);
        RegisterComponents();
    }

    /// <param name="tokens">(…, hidden) visual tokens.</param>
    /// <param name="targets">(…, <see cref="TargetSize"/>) their regions (see the target builders below), same leading shape.</param>
    public Tensor Loss(Tensor tokens, Tensor targets)
    {
        using var scope = NewDisposeScope();
        var flat = tokens.reshape(-1, tokens.shape[^1]);
        var expected = targets.reshape(-1, TargetSize).to(tokens.dtype).detach();
        if (expected.shape[0] != flat.shape[0])
            throw new ArgumentException($"reconstruction: {flat.shape[0]} tokens for {expected.shape[0]} target regions");
        var loss = nn.functional.mse_loss(predict.forward(flat), expected);
        LastLoss = loss.item<float>();
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Targets of square grids: (B, 3, H, W) pixels cut into <paramref name="region"/>-px cells in row-major order
    /// → (B, (H/region)·(W/region), 147). LLaVA's patch grid (region 14) and InternVL's shuffled tile grid (region 28).
    /// </summary>
    public static Tensor GridTargets(Tensor pixels, int region)
    {
        using var scope = NewDisposeScope();
        if (region % Side != 0) throw new ArgumentException($"reconstruction: a {region}-px region does not pool to {Side}x{Side}");
        var pooled = nn.functional.avg_pool2d(pixels, region / Side);
        long batch = pooled.shape[0], rows = pooled.shape[2] / Side, cols = pooled.shape[3] / Side;
        // (B, 3, rows·7, cols·7) → (B, rows, cols, 3, 7, 7) → (B, n, 147).
        return pooled.reshape(batch, 3, rows, Side, cols, Side).permute(0, 2, 4, 1, 3, 5).reshape(batch, rows * cols, TargetSize)
            .MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Targets of Qwen's merged tokens from the processor's patch rows (P, 3·T·p·p), whose rows come merge unit by merge
    /// unit (m×m patches each, row-major) with values ordered (channel, temporal, y, x): the unit's (m·p)-px square, the
    /// temporal copies averaged → (P/m², 147).
    /// </summary>
    public static Tensor QwenMergeUnitTargets(Tensor pixelRows, int mergeSize, int patchSize, int temporalPatch)
    {
        using var scope = NewDisposeScope();
        int m = mergeSize, p = patchSize, side = m * p;
        if (side % Side != 0) throw new ArgumentException($"reconstruction: a {side}-px merge unit does not pool to {Side}x{Side}");
        long units = pixelRows.shape[0] / (m * m);
        var square = pixelRows.reshape(units, m, m, 3, temporalPatch, p, p).mean([4])   // (U, dy, dx, 3, y, x)
            .permute(0, 3, 1, 4, 2, 5).reshape(units, 3, side, side);
        return GridTargets(square, side).reshape(units, TargetSize).MoveToOuterDisposeScope();
    }
}
