using TorchSharp;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace UniPrune.Engine.Models.Common;

// Weight-holding layers with no random initialisation: parameters start empty (or on the meta device) and are
// filled by WeightLoader from a checkpoint, so building a 7B skeleton costs nothing and a missing key cannot hide
// behind an initialiser. Field names are the checkpoint's leaf names (weight, bias).

/// <summary>Creation of uninitialised, non-trainable parameters on a chosen device and dtype.</summary>
public readonly record struct ParameterFactory(ScalarType DType, Device Device)
{
    public Parameter Create(params long[] shape) => new(empty(shape, dtype: DType, device: Device), requires_grad: false);
    /// <summary>CPU float32 unless said otherwise (unit tests build tiny layers and fill them by hand).</summary>
    public static ParameterFactory Cpu(ScalarType dtype = ScalarType.Float32) => new(dtype, CPU);
}

/// <summary>y = x·Wᵀ + b, W stored [out, in] as in PyTorch.</summary>
public sealed class Linear : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter? bias;

    public long InFeatures { get; }
    public long OutFeatures { get; }
    public Tensor Weight => weight;
    public Tensor? Bias => bias;

    public Linear(long inFeatures, long outFeatures, bool hasBias, ParameterFactory factory) : base(nameof(Linear))
    {
        InFeatures = inFeatures; OutFeatures = outFeatures;
        weight = factory.Create(outFeatures, inFeatures);
        if (hasBias) bias = factory.Create(outFeatures);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => nn.functional.linear(x, weight, bias);
}

/// <summary>Row lookup in a [rows, width] table.</summary>
public sealed class Embedding : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    public Tensor Weight => weight;

    public Embedding(long rows, long width, ParameterFactory factory) : base(nameof(Embedding))
    {
        weight = factory.Create(rows, width);
        RegisterComponents();
    }

    /// <summary>ids of any shape (int64) → ids.shape + [width].</summary>
    public override Tensor forward(Tensor ids)
    {
        using var scope = NewDisposeScope();
        var flat = weight.index_select(0, ids.reshape(-1).to(weight.device));
        var shape = ids.shape.Append(weight.shape[1]).ToArray();
        return flat.reshape(shape).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// LLaMA/Qwen RMSNorm as Hugging Face computes it: mean of squares in float32, x·rsqrt(ms + eps), cast back to the
/// input dtype, then multiplied by the weight.
/// </summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    // Held for the module's lifetime: an implicit double→Scalar made per call can be finalised by the GC while the native
    // add still reads it (an intermittent "toFloat" check failure seen in long training and generation runs).
    private readonly Scalar _eps;
    public double Eps { get; }

    public RmsNorm(long size, double eps, ParameterFactory factory) : base(nameof(RmsNorm))
    {
        weight = factory.Create(size);
        Eps = eps;
        _eps = eps;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var x32 = x.to_type(ScalarType.Float32);
        var meanSquare = x32.pow(HeldScalars.Two).mean([-1], keepdim: true);
        var normed = (x32 * rsqrt(meanSquare.add(_eps, HeldScalars.One))).to_type(x.dtype);
        return (weight * normed).MoveToOuterDisposeScope();
    }
}

/// <summary>LayerNorm over the last dimension with weight and bias (CLIP, InternViT, InternVL's mlp1).</summary>
public sealed class LayerNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter bias;
    private readonly long[] _shape;
    public double Eps { get; }

    public LayerNorm(long size, double eps, ParameterFactory factory) : base(nameof(LayerNorm))
    {
        weight = factory.Create(size);
        bias = factory.Create(size);
        _shape = [size];
        Eps = eps;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => nn.functional.layer_norm(x, _shape, weight, bias, Eps);
}

/// <summary>The activations used by the three families' MLPs and projectors.</summary>
public enum Activation { Silu, GeluExact, GeluTanh, QuickGelu }

public static class Activations
{
    // A static Scalar stays reachable, unlike an implicit per-call conversion (see RmsNorm).
    private static readonly Scalar QuickGeluAlpha = 1.702;

    public static Tensor Apply(Activation activation, Tensor x) => activation switch
    {
        Activation.Silu => nn.functional.silu(x),
        Activation.GeluExact => nn.functional.gelu(x),
        Activation.GeluTanh => nn.functional.gelu(x, TorchSharp.Modules.GELU.Approximate.tanh),
        // CLIP's quick_gelu: x·σ(1.702·x).
        Activation.QuickGelu => x * sigmoid(x.mul(QuickGeluAlpha)),
        _ => throw new ArgumentOutOfRangeException(nameof(activation)),
    };

    /// <summary>Maps a Hugging Face hidden_act name; <paramref name="file"/> and <paramref name="key"/> name the source in errors.</summary>
    public static Activation Parse(string name, string file, string key) => name switch
    {
        "silu" or "swish" => Activation.Silu,
        "gelu" => Activation.GeluExact,
        "gelu_pytorch_tanh" or "gelu_new" => Activation.GeluTanh,
        "quick_gelu" => Activation.QuickGelu,
        _ => throw new Core.CheckpointFormatException(file, $"key '{key}' = '{name}' is not a supported activation (expected silu, gelu, gelu_pytorch_tanh or quick_gelu)"),
    };
}

/// <summary>SwiGLU-style MLP: down(act(gate(x)) ⊙ up(x)) (LLaMA, Qwen2; Qwen's ViT with biases).</summary>
public sealed class GatedMlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear gate_proj;
    private readonly Linear up_proj;
    private readonly Linear down_proj;
    private readonly Activation _activation;

    public GatedMlp(long hidden, long intermediate, Activation activation, bool hasBias, ParameterFactory factory) : base(nameof(GatedMlp))
    {
        gate_proj = new Linear(hidden, intermediate, hasBias, factory);
        up_proj = new Linear(hidden, intermediate, hasBias, factory);
        down_proj = new Linear(intermediate, hidden, hasBias, factory);
        _activation = activation;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return down_proj.forward(Activations.Apply(_activation, gate_proj.forward(x)) * up_proj.forward(x)).MoveToOuterDisposeScope();
    }
}

/// <summary>Two-layer MLP fc2(act(fc1(x))) (CLIP with quick_gelu, InternViT with exact GELU).</summary>
public sealed class FeedForwardMlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear fc1;
    private readonly Linear fc2;
    private readonly Activation _activation;

    public FeedForwardMlp(long hidden, long intermediate, Activation activation, ParameterFactory factory) : base(nameof(FeedForwardMlp))
    {
        fc1 = new Linear(hidden, intermediate, true, factory);
        fc2 = new Linear(intermediate, hidden, true, factory);
        _activation = activation;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return fc2.forward(Activations.Apply(_activation, fc1.forward(x))).MoveToOuterDisposeScope();
    }
}

/// <summary>Non-overlapping patch projection: a Conv2d with kernel = stride = patch (CLIP without bias, InternViT with).</summary>
public sealed class PatchEmbedding2d : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter? bias;
    private readonly long _patch;

    public PatchEmbedding2d(long channels, long hidden, long patch, bool hasBias, ParameterFactory factory) : base(nameof(PatchEmbedding2d))
    {
        weight = factory.Create(hidden, channels, patch, patch);
        if (hasBias) bias = factory.Create(hidden);
        _patch = patch;
        RegisterComponents();
    }

    /// <summary>(B, C, H, W) → (B, patches, hidden), patches in row-major order.</summary>
    public override Tensor forward(Tensor pixels)
    {
        using var scope = NewDisposeScope();
        var grid = nn.functional.conv2d(pixels.to(weight.dtype, weight.device), weight, bias, strides: [_patch, _patch]);
        return grid.flatten(2).transpose(1, 2).MoveToOuterDisposeScope();
    }
}
