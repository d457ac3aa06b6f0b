using static TorchSharp.torch;

namespace UniPrune.Engine.Models.Common;

/// <summary>
/// Turns position ids into the cos/sin tables that rotate q and k. Position ids are always (rows, L) int64:
/// one row for plain 1-D RoPE, three (t, h, w) rows for Qwen's M-RoPE; a family supplies its own implementation.
/// </summary>
public interface IRotaryEmbedding
{
    /// <summary>How many rows of position ids this encoding expects.</summary>
    int PositionRows { get; }

    /// <summary>cos and sin tables (L, head_dim) in <paramref name="dtype"/> for ids (rows, L).</summary>
    (Tensor Cos, Tensor Sin) CosSin(Tensor positionIds, ScalarType dtype);
}

/// <summary>
/// 1-D rotary embedding (LLaMA, Qwen2 text, InternVL3's LLM). As in Hugging Face: inv_freq and the angles in float32,
/// the half-angle table duplicated (rotate-half convention), cos/sin cast to the activation dtype before rotating.
/// </summary>
public sealed class RotaryEmbedding : IRotaryEmbedding
{
    private readonly Tensor _inverseFrequencies;   // (head_dim/2) float32, CPU
    public int HeadDim { get; }
    public double Theta { get; }
    public int PositionRows => 1;

    public RotaryEmbedding(int headDim, double theta)
    {
        HeadDim = headDim; Theta = theta;
        _inverseFrequencies = InverseFrequencies(headDim, theta);
    }

    /// <summary>1 / θ^(2j/d) for j = 0..d/2−1, computed in float32 like the reference (arange(0, d, 2).float() / d).</summary>
    public static Tensor InverseFrequencies(int headDim, double theta)
    {
        using var scope = NewDisposeScope();
        var exponents = HeldScalars.Arange(0, headDim, 2, ScalarType.Int64).to_type(ScalarType.Float32).DividedBy((float)headDim);
        var powers = pow(tensor((float)theta, dtype: ScalarType.Float32), exponents);
        return powers.reciprocal().DetachFromDisposeScope();
    }

    /// <summary>Angles (L, head_dim/2) in float32 for one row of positions (L).</summary>
    public Tensor Angles(Tensor positions)
    {
        using var scope = NewDisposeScope();
        var inv = _inverseFrequencies.to(positions.device);
        // Each angle is a single float32 product, so this outer product equals the reference's matmul bit for bit.
        return (positions.to_type(ScalarType.Float32).unsqueeze(-1) * inv).MoveToOuterDisposeScope();
    }

    public (Tensor Cos, Tensor Sin) CosSin(Tensor positionIds, ScalarType dtype)
    {
        if (positionIds.dim() != 2 || positionIds.shape[0] != 1)
            throw new ArgumentException($"1-D rotary expects position ids of shape (1, L); got [{string.Join(", ", positionIds.shape)}]");
        using var scope = NewDisposeScope();
        var angles = Angles(positionIds[0]);
        var table = cat([angles, angles], -1);
        var cos = table.cos().to_type(dtype).MoveToOuterDisposeScope();
        var sin = table.sin().to_type(dtype).MoveToOuterDisposeScope();
        return (cos, sin);
    }
}

public static class Rotary
{
    /// <summary>(x₁, x₂) → (−x₂, x₁) on the two halves of the last dimension.</summary>
    public static Tensor RotateHalf(Tensor x)
    {
        long half = x.shape[^1] / 2;
        return cat([-x.narrow(-1, half, half), x.narrow(-1, 0, half)], -1);
    }

    /// <summary>x·cos + rotate_half(x)·sin for x (B, heads, L, head_dim) and tables (L, head_dim), in x's dtype.</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = NewDisposeScope();
        return (x * cos).Plus(RotateHalf(x) * sin).MoveToOuterDisposeScope();
    }
}
