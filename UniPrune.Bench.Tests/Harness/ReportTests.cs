using System.Globalization;
using UniPrune.Engine.Reporting;
using UniPrune.Engine.Running;

namespace UniPrune.Bench.Tests.Harness;

public sealed class ReportTests
{
    [Fact]
    public void The_markdown_table_has_a_row_per_method_a_column_per_dataset_relative_drops_and_the_drop_of_the_average()
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
        Assert.Contains("| method | OCR | YN | avg | avg drop % | prefill ms | prefill × van. | method ms |", markdown);
        // Every retention's table starts with the vanilla row, the reference of its drops.
        var table = markdown[markdown.IndexOf("## toy, retention 11.1 %", StringComparison.Ordinal)..];
        Assert.StartsWith("| Vanilla |", table.Split('\n')[4]);
        var vanillaYn = rows.Single(r => r.Cell.Id == "toy/YN/Vanilla@100").PrimaryValue;
        var keepYn = rows.Single(r => r.Cell.Id == "toy/YN/Keep@11.1").PrimaryValue;
        double drop = (vanillaYn - keepYn) / vanillaYn * 100;
        Assert.Contains($"({drop:+0.0;-0.0;0.0})", markdown);
        // The average column is the paper's Avg. (the mean score), and its drop is the drop of that mean against vanilla's,
        // not the mean of the per-dataset drops.
        double Score(string id) => rows.Single(r => r.Cell.Id == id).PrimaryValue;
        double vanillaAvg = (Score("toy/OCR/Vanilla@100") + vanillaYn) / 2, keepAvg = (Score("toy/OCR/Keep@11.1") + keepYn) / 2;
        var keepRow = table.Split('\n').Skip(1).TakeWhile(line => !line.StartsWith("## ", StringComparison.Ordinal))
            .Single(line => line.StartsWith("| Keep |", StringComparison.Ordinal));
        var cells = keepRow.Split('|', StringSplitOptions.TrimEntries);
        Assert.Equal(keepAvg.ToString("0.00", CultureInfo.InvariantCulture), cells[4]);
        string dropOfMean = ((vanillaAvg - keepAvg) / vanillaAvg * 100).ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture);
        Assert.Equal(dropOfMean, cells[5]);
        Assert.Contains("## toy: relative drop % of the average score, by retention", markdown);
        Assert.Contains("| Late (K2) |", markdown);
        Assert.Contains("| Late (native) |", markdown);
        Assert.Contains("| Keep |", markdown);
    }

    [Fact]
    public void The_average_drop_is_the_drop_of_the_mean_score_so_a_dataset_near_zero_does_not_dominate_it()
    {
        // Dataset A: vanilla 4 -> 14 (a per-dataset drop of -250 %); B: 80 -> 60 (+25 %). The mean of those drops would
        // read -112.5 %; the paper's Avg. falls from 42 to 37, a drop of +11.9 %.
        static ReportRow Row(string id, double score) => new(CellSpec.ParseId(id) with { Tier = "toy", Stage = "pre" },
            "score100", score, Samples: 10, PrefillMs: 1, MethodMs: 0.1, TotalMs: 2, KeptMean: 8, DeviceClass: "cpu");
        var markdown = MarkdownReport.Render([
            Row("m/A/Vanilla@100", 4), Row("m/B/Vanilla@100", 80), Row("m/A/Keep@11.1", 14), Row("m/B/Keep@11.1", 60)]);
        var lines = markdown.Split('\n');
        Assert.Contains("| Vanilla | 4.00 | 80.00 | 42.00 | – |", lines.Single(l => l.StartsWith("| Vanilla |", StringComparison.Ordinal)));
        Assert.Contains("| Keep | 14.00 (-250.0) | 60.00 (+25.0) | 37.00 | +11.9 |", markdown);
        var summary = markdown[markdown.IndexOf("## m: relative drop % of the average score, by retention", StringComparison.Ordinal)..];
        Assert.Contains("| Keep | +11.9 |", summary);
    }
}
