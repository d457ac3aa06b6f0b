using UniPrune.Engine.Reporting;

namespace UniPrune.Bench.Tests.Harness;

public sealed class ReportTests
{
    [Fact]
    public void The_markdown_table_has_a_row_per_method_a_column_per_dataset_and_relative_drops_against_vanilla()
    {
        using var bench = new TempBench();
        using (var run = bench.NewRun(new ToyFactory(bench.Manifest)))
            foreach (var cell in bench.Manifest.Cells) run.RunCell(cell);
        var rows = MarkdownReport.ReadResults([bench.Environment.ResultsRoot]);
        Assert.Equal(bench.Manifest.Cells.Count, rows.Count);
        var markdown = MarkdownReport.Render(rows);
        Assert.DoesNotContain("## toy, retention 100 %", markdown);
        Assert.Contains("## toy, retention 33.3 %", markdown);
        Assert.Contains("## toy, retention 11.1 %", markdown);
        Assert.Contains("| method | OCR | YN | avg drop % | prefill ms | prefill × van. | method ms |", markdown);
        // Every retention's table starts with the vanilla row, the reference of its drops.
        var table = markdown[markdown.IndexOf("## toy, retention 11.1 %", StringComparison.Ordinal)..];
        Assert.StartsWith("| Vanilla |", table.Split('\n')[4]);
        var vanillaYn = rows.Single(r => r.Cell.Id == "toy/YN/Vanilla@100").PrimaryValue;
        var keepYn = rows.Single(r => r.Cell.Id == "toy/YN/Keep@11.1").PrimaryValue;
        double drop = (vanillaYn - keepYn) / vanillaYn * 100;
        Assert.Contains($"({drop:+0.0;-0.0;0.0})", markdown);
        Assert.Contains("| Late (K2) |", markdown);
        Assert.Contains("| Late (native) |", markdown);
        Assert.Contains("| Keep |", markdown);
    }
}
