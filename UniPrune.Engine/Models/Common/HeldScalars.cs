using TorchSharp;
using static TorchSharp.torch;

namespace UniPrune.Engine.Models.Common;

/// <summary>
/// Tensor arithmetic whose <see cref="Scalar"/> operands stay reachable until libtorch has returned.
/// </summary>
/// <remarks>
/// TorchSharp 0.107 turns every number handed to a tensor op into a native Scalar, and <c>a + b</c> / <c>add(b)</c> /
/// <c>arange(n)</c> make a hidden one (alpha = 1, start = 0, step = 1), then pass only the native handle on: nothing keeps
/// the managed Scalar alive, so the GC may finalise it (freeing the handle) while libtorch still reads it. That is the
/// intermittent "toFloat ... Expected false to be true" failure (1 in ~10^5 adds under allocation pressure). Constants
/// here are static; per-call numbers are held by a <c>using</c> that outlives the call. Each helper issues exactly the
/// native op TorchSharp's operator would, with a Scalar of the same value, so results are bit-identical.
/// </remarks>
public static class HeldScalars
{
    /// <summary>The alpha of a + b (an Int32 1, as TorchSharp's own <c>add(Tensor)</c> passes).</summary>
    public static readonly Scalar One = 1;
    public static readonly Scalar Zero = 0;
    public static readonly Scalar Two = 2;
    public static readonly Scalar NegativeInfinity = float.NegativeInfinity;
    public static readonly Scalar PositiveInfinity = float.PositiveInfinity;
    /// <summary>The most negative finite float32, the additive mask value Hugging Face uses.</summary>
    public static readonly Scalar LowestFloat = float.MinValue;

    /// <summary>a + b.</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);

    /// <summary>a += b.</summary>
    public static Tensor PlusInPlace(this Tensor a, Tensor b) => a.add_(b, One);

    public static Tensor Plus(this Tensor a, long value)
    {
        using Scalar held = value;
        return a.add(held, One);
    }

    public static Tensor Plus(this Tensor a, double value)
    {
        using Scalar held = value;
        return a.add(held, One);
    }

    /// <summary>value − a, computed as TorchSharp's <c>value - a</c> does: (−a) + value.</summary>
    public static Tensor SubtractedFrom(this Tensor a, double value)
    {
        using Scalar held = value;
        return a.negative().add(held, One);
    }

    public static Tensor Times(this Tensor a, double value)
    {
        using Scalar held = value;
        return a.mul(held);
    }

    public static Tensor DividedBy(this Tensor a, long value)
    {
        using Scalar held = value;
        return a.div(held);
    }

    public static Tensor DividedBy(this Tensor a, double value)
    {
        using Scalar held = value;
        return a.div(held);
    }

    /// <summary>a ≥ value, element-wise.</summary>
    public static Tensor AtLeast(this Tensor a, double value)
    {
        using Scalar held = value;
        return a.ge(held);
    }

    public static Tensor MaskedFill(this Tensor a, Tensor mask, double value)
    {
        using Scalar held = value;
        return a.masked_fill(mask, held);
    }

    /// <summary>Fills a tensor in place (parameter initialisation).</summary>
    public static Tensor FillInPlace(this Tensor a, double value)
    {
        using Scalar held = value;
        return a.fill_(held);
    }

    /// <summary>0, 1, …, stop − 1.</summary>
    public static Tensor Arange(long stop, ScalarType dtype, Device? device = null) => Arange(0, stop, 1, dtype, device);

    public static Tensor Arange(long start, long stop, long step, ScalarType dtype, Device? device = null)
    {
        using Scalar heldStart = start, heldStop = stop, heldStep = step;
        return arange(heldStart, heldStop, heldStep, dtype: dtype, device: device);
    }

    /// <summary>A (rows, columns) tensor of one value; dtype null = the default float type.</summary>
    public static Tensor Full(long rows, long columns, long value, ScalarType? dtype = null, Device? device = null)
    {
        using Scalar held = value;
        return full(rows, columns, held, dtype: dtype, device: device);
    }

    public static Tensor Full(long rows, long columns, double value, ScalarType? dtype = null, Device? device = null)
    {
        using Scalar held = value;
        return full(rows, columns, held, dtype: dtype, device: device);
    }
}
