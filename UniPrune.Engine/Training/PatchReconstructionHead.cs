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

    /// <param name="tokens">(n, hidden) visual tokens, n = (H/patch)·(W/patch) in row-major order.</param>
    /// <param name="pixels">(3, H, W) normalised pixel values the tokens were computed from.</param>
    public Tensor Loss(Tensor tokens, Tensor pixels)
    {
        using var pooled = nn.functional.avg_pool2d(pixels.unsqueeze(0).to(tokens.dtype), 2)[0];
        int p = patch / 2;
        long rows = pooled.shape[1] / p, cols = pooled.shape[2] / p;
        // (3, rows·p, cols·p) → (rows, cols, 3, p, p) → (n, 3·p·p), the token order of the grid.
        var target = pooled.reshape(3, rows, p, cols, p).permute(1, 3, 0, 2, 4).reshape(rows * cols, 3 * p * p);
        if (target.shape[0] != tokens.shape[0])
            throw new ArgumentException($"reconstruction: {tokens.shape[0]} tokens for a {rows}x{cols} patch grid");
        return nn.functional.mse_loss(predict.forward(tokens), target.detach());
    }
}
