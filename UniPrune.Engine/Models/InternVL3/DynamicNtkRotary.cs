using UniPrune.Engine.Models.Common;
using static TorchSharp.torch;

namespace UniPrune.Engine.Models.InternVL3;

/// <summary>
/// Qwen2's 1-D RoPE with <c>rope_scaling {type: dynamic}</c> (InternVL3 ships factor 2 over 32768 positions), as
/// transformers 4.50 computes it: while the sequence (largest position + 1) stays within max_position_embeddings the
/// base is θ itself, so the tables equal plain RoPE bit for bit; beyond it the base becomes
/// θ·(factor·n/max − (factor−1))^(d/(d−2)) for the current length n. Computed per call from the positions it is given
/// (transformers caches the grown base across calls; within one generation, where positions only grow, both agree).
/// </summary>
public sealed class DynamicNtkRotary(int headDim, double theta, double factor, int maxPositionEmbeddings) : Common.IRotaryEmbedding
{
    public int HeadDim { get; } = headDim;
    public int PositionRows => 1;

    /// <summary>The RoPE base used for a sequence of <paramref name="length"/> positions.</summary>
    public double BaseFor(long length) => length <= maxPositionEmbeddings
        ? theta
        : theta * Math.Pow(factor * length / maxPositionEmbeddings - (factor - 1), (double)HeadDim / (HeadDim - 2));

    /// <summary>cos and sin tables (L, head_dim) in <paramref name="dtype"/> for ids (1, L).</summary>
    public (Tensor Cos, Tensor Sin) CosSin(Tensor positionIds, ScalarType dtype)
    {
        if (positionIds.dim() != 2 || positionIds.shape[0] != 1)
            throw new ArgumentException($"1-D rotary expects position ids of shape (1, L); got [{string.Join(", ", positionIds.shape)}]");
        using var scope = NewDisposeScope();
        long length = positionIds.numel() == 0 ? 0 : positionIds.max().item<long>() + 1;
        // Same float32 recipe as the reference: 1 / base^(arange(0, d, 2) / d), angles as float32 products.
        var exponents = HeldScalars.Arange(0, HeadDim, 2, ScalarType.Int64).to_type(ScalarType.Float32).DividedBy((float)HeadDim);
        var inverse = pow(tensor((float)BaseFor(length), dtype: ScalarType.Float32), exponents).reciprocal().to(positionIds.device);
        var angles = positionIds[0].to_type(ScalarType.Float32).unsqueeze(-1) * inverse;
        var table = cat([angles, angles], -1);
        return (table.cos().to_type(dtype).MoveToOuterDisposeScope(), table.sin().to_type(dtype).MoveToOuterDisposeScope());
    }
}
