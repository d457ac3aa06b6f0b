using System.Diagnostics;
using System.Text.RegularExpressions;
using UniPrune.Engine.Running;

namespace UniPrune.Bench.Tests.Cells;

/// <summary>
/// Proof that trait filters select rows, not theories: runs <c>dotnet test</c> on this very assembly with a filter, in list-only
/// mode (each selected cell records itself and returns), and compares the rows that ran and the closing line's count with the
/// manifest's cells.
/// </summary>
public sealed class FilterSelectionTests
{
    [Theory]
    [InlineData("Method=DivPrune")]
    [InlineData("Model=llava-1.5-7b&Ratio=11.1")]
    public async Task A_trait_filter_runs_exactly_the_matching_cells(string filter)
    {
        var manifest = BenchManifest.Load(BenchEnvironment.FromProcess().ManifestPath);
        var expected = manifest.Cells.Where(CellFilter.Parse(filter).Matches).Select(c => c.Id).Order(StringComparer.Ordinal).ToList();
        Assert.NotEmpty(expected);
        Assert.True(expected.Count < manifest.Cells.Count, "the filter must leave some cells out to prove anything");

        var listFile = Path.Combine(Path.GetTempPath(), $"uniprune-cells-{Guid.NewGuid():N}.tsv");
        try
        {
            var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { "test", typeof(FilterSelectionTests).Assembly.Location, "--filter", filter }) info.ArgumentList.Add(a);
            info.Environment[BenchSession.ListOnlyVariable] = listFile;
            info.Environment.Remove("UNIPRUNE_ACCEPT");
            using var process = Process.Start(info)!;
            var stderr = process.StandardError.ReadToEndAsync();
            var output = await process.StandardOutput.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, $"dotnet test --filter \"{filter}\" exited {process.ExitCode}:\n{output}\n{await stderr}");

            var ran = File.ReadAllLines(listFile).Select(l => l.Split('\t')).ToList();
            Assert.Equal(expected, ran.Select(r => r[0]).Order(StringComparer.Ordinal));
            var total = Regex.Match(output, @"Total:\s+(\d+)");
            Assert.True(total.Success, $"no closing line in:\n{output}");
            Assert.Equal(expected.Count, int.Parse(total.Groups[1].Value));
        }
        finally { File.Delete(listFile); }
    }
}
