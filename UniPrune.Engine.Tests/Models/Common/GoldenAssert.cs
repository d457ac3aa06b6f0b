using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.Common;

/// <summary>Tolerance comparisons that report the worst element, so a failing stage says by how much.</summary>
public static class GoldenAssert
{
    public const double Atol = 1e-4, Rtol = 1e-4;

    /// <summary>|actual − expected| ≤ atol + rtol·|expected| everywhere (numpy.allclose), after squeezing leading 1-dims.</summary>
    public static double Close(Tensor expected, Tensor actual, string what, ITestOutputHelper? log = null, double atol = Atol, double rtol = Rtol)
    {
        using var scope = NewDisposeScope();
        var e = expected.to_type(ScalarType.Float64).cpu();
        var a = actual.detach().to_type(ScalarType.Float64).cpu();
        while (e.dim() > a.dim() && e.shape[0] == 1) e = e.squeeze(0);
        while (a.dim() > e.dim() && a.shape[0] == 1) a = a.squeeze(0);
        Assert.True(e.shape.SequenceEqual(a.shape), $"{what}: shape [{string.Join(", ", a.shape)}], expected [{string.Join(", ", e.shape)}]");
        var diff = (a - e).abs();
        double maxAbs = diff.max().item<double>();
        var excess = diff - (atol + rtol * e.abs());
        double worst = excess.max().item<double>();
        log?.WriteLine($"{what}: max |diff| {maxAbs:E2}");
        Assert.True(worst <= 0, $"{what}: max |diff| {maxAbs:E3} exceeds atol {atol} + rtol {rtol}·|expected| (worst excess {worst:E3})");
        return maxAbs;
    }

    public static void Equal(Tensor expected, IReadOnlyList<long> actual, string what)
    {
        var e = expected.reshape(-1).data<long>().ToArray();
        Assert.True(e.SequenceEqual(actual), $"{what}: got [{string.Join(", ", actual)}], expected [{string.Join(", ", e)}]");
    }
}
