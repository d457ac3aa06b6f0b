using UniPrune.Engine.Running;
using Xunit.Abstractions;

namespace UniPrune.Bench.Tests.Cells;

/// <summary>
/// Every cell of baselines/manifest.json as its own test row. Display name = cell id; traits Cell, Model, Method, Ratio, Dataset,
/// Stage, Tier, so <c>dotnet test --filter "Model=llava-1.5-7b&amp;Ratio=11.1"</c> selects exactly those rows.
/// A cell whose weights, data or GPU are absent is skipped saying what is missing; a missing or changed baseline fails and
/// leaves a .received.json beside the verified file.
/// </summary>
[Collection(BenchCollection.Name)]
public sealed class BenchmarkCells(BenchSession session, ITestOutputHelper output)
{
    public static TheoryData<string, string, string, string, string, string, string> Cells()
    {
        var manifest = BenchManifest.Load(BenchEnvironment.FromProcess().ManifestPath);
        var rows = new TheoryData<string, string, string, string, string, string, string>();
        foreach (var c in manifest.Cells) rows.Add(c.Id, c.Model, c.Method, c.Ratio, c.Dataset, c.Stage, c.Tier);
        return rows;
    }

    [RowTraitTheory, MemberData(nameof(Cells))]
    public void Cell(string cell, string model, string method, string ratio, string dataset, string stage, string tier)
    {
        var spec = session.Run.Manifest.Cell(cell);
        Assert.Equal((model, method, ratio, dataset, stage, tier), (spec.Model, spec.Method, spec.Ratio, spec.Dataset, spec.Stage, spec.Tier));

        if (Environment.GetEnvironmentVariable(BenchSession.ListOnlyVariable) is { Length: > 0 } listFile)
        {
            lock (typeof(BenchSession)) File.AppendAllText(listFile, string.Join('\t', cell, model, method, ratio, dataset, stage, tier) + "\n");
            return;
        }

        var verdict = session.Run.Verify(spec, BenchSession.AcceptRequested, new RunOptions(session.Run.Manifest.Tiers[tier].WarmupSamples));
        Skip.If(verdict.Skipped, verdict.SkipReason);
        output.WriteLine(verdict.Report());
        Assert.True(verdict.Passed, verdict.Report());
    }
}
