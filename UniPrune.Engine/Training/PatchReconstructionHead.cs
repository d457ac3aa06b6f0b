using TorchSharp;
using static TorchSharp.torch;

namespace UniPrune.Engine.Training;

/// <summary>
/// Training-only linear head: from each visual token (row-major patch grid) predict that patch's normalised pixels,
/// average-pooled 2×2 (a 14-px patch → 7×7×3 values). Mean squared error against the processor's own pixel values.
/// </summary>
public sealed class PatchReconstructionHead : nn.Module
{
    private readonly nn.Module<Tensor, Tensor> predict;
    private readonly int patch;

    public PatchReconstructionHead(int hidden, int patchSize) : base(nameof(PatchReconstructionHead))
    {
        patch = patchSize;
        int pooled = patchSize / 2;
        predict = nn.Linear(hidden, 3 * pooled * pooled);
        RegisterComponents();
    }

    /// <param name="tokens">(B, n, hidden) visual tokens, n = (H/patch)·(W/patch) in row-major order.</param>
    /// <param name="pixels">(B, 3, H, W) normalised pixel values the tokens were computed from.</param>
    public Tensor Loss(Tensor tokens, Tensor pixels)
    {
        using var scope = NewDisposeScope();
        var pooled = nn.functional.avg_pool2d(pixels.to(tokens.dtype), 2);
        int p = patch / 2;
        long batch = pooled.shape[0], rows = pooled.shape[2] / p, cols = pooled.shape[3] / p;
        // (B, 3, rows·p, cols·p) → (B, rows, cols, 3, p, p) → (B, n, 3·p·p), the token order of the grid.
        var target = pooled.reshape(batch, 3, rows, p, cols, p).permute(0, 2, 4, 1, 3, 5).reshape(batch, rows * cols, 3 * p * p);
        if (target.shape[1] != tokens.shape[1])
            throw new ArgumentException($"reconstruction: {tokens.shape[1]} tokens for a {rows}x{cols} patch grid");
        return nn.functional.mse_loss(predict.forward(tokens), target.detach()).MoveToOuterDisposeScope();
    }
}
