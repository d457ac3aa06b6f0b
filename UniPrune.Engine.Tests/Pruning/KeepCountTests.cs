using UniPrune.Engine.Pruning.Abstractions;
using UniPrune.Engine.Pruning.Common;

namespace UniPrune.Engine.Tests.Pruning;

public class KeepCountTests
{
    [Theory]
    [InlineData(576, 192, 128, 64)]
    [InlineData(48, 16, 11, 5)]
    [InlineData(36, 12, 8, 4)]
    public void RoundGivesTheReferenceCounts(int n, int third, int twoNinths, int ninth)
    {
        Assert.Equal(third, KeepCounts.Compute(1.0 / 3, n, KeepCountRule.Round));
        Assert.Equal(twoNinths, KeepCounts.Compute(2.0 / 9, n, KeepCountRule.Round));
        Assert.Equal(ninth, KeepCounts.Compute(1.0 / 9, n, KeepCountRule.Round));
        Assert.Equal(n, KeepCounts.Compute(1.0, n, KeepCountRule.Round));
    }

    [Fact]
    public void PaperFloorReproducesUniPruneBenchsIntOfThreeDecimals()
    {
        Assert.Equal(191, KeepCounts.Compute(1.0 / 3, 576, KeepCountRule.PaperFloor));
        Assert.Equal(127, KeepCounts.Compute(2.0 / 9, 576, KeepCountRule.PaperFloor));
        Assert.Equal(63, KeepCounts.Compute(1.0 / 9, 576, KeepCountRule.PaperFloor));
        Assert.Equal(63, KeepCounts.Compute(0.111, 576, KeepCountRule.PaperFloor));
        Assert.Equal(576, KeepCounts.Compute(1.0, 576, KeepCountRule.PaperFloor));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-0.25)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void RetentionOutsideZeroOneIsAnErrorNamingTheValue(double retention)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new PruningSettings(retention));
        Assert.Contains(retention.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message);
        Assert.Contains("(0, 1]", e.Message);
    }

    [Fact]
    public void UnknownOrMalformedMethodParametersAreErrors()
    {
        var bad = new PruningSettings(0.5) { Parameters = new Dictionary<string, string> { ["per_round_cap"] = "eight" } };
        Assert.Contains("per_round_cap", Assert.Throws<ArgumentException>(() => new UniPrune.Engine.Pruning.Methods.VisPruner(bad)).Message);
        var unknown = new PruningSettings(0.5) { Parameters = new Dictionary<string, string> { ["cap"] = "2" } };
        Assert.Contains("'cap'", Assert.Throws<ArgumentException>(() => new UniPrune.Engine.Pruning.Methods.VisPruner(unknown)).Message);
    }

    [Theory]
    [InlineData(new long[] { 16, 24, 52, 45 }, new long[] { 16, 24, 52, 45 })]
    [InlineData(new long[] { 50, 58, 65, 66 }, new long[] { 65, 50, 58, 66 })]
    [InlineData(new long[] { 40, 33, 12, 35, 610, 605, 590, 601 }, new long[] { 33, 610, 35, 40, 12, 590, 601, 605 })]
    [InlineData(new long[] { 300, 44, 17, 9, 640, 602, 611, 700 }, new long[] { 640, 611, 9, 300, 44, 17, 602, 700 })]
    public void PythonSetOrderMatchesCPython(long[] inserted, long[] cpythonOrder) // expected lists printed by CPython 3.11 list(set(...))
        => Assert.Equal(cpythonOrder, PythonSetOrder.Of(inserted));
}
