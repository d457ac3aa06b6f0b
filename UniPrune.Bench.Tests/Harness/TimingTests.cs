using UniPrune.Engine.Running;
using UniPrune.Engine.Timing;

namespace UniPrune.Bench.Tests.Harness;

public sealed class TimingTests
{
    private static (SampleTimings, bool) S(double total, double prefill, double method, bool warmup = false) =>
        (new SampleTimings(total, 0, prefill, 0, method), warmup);

    [Fact]
    public void Medians_leave_out_warmup_samples()
    {
        var summary = TimingSummary.From([S(1000, 900, 50, warmup: true), S(10, 4, 1), S(12, 6, 2), S(11, 5, 3), S(13, 7, 4)]);
        Assert.Equal((4, 1), (summary.Measured, summary.WarmupExcluded));
        Assert.Equal(11.5, summary.TotalMs);
        Assert.Equal(5.5, summary.PrefillMs);
        Assert.Equal(2.5, summary.MethodMs);
        Assert.Equal(1.0, summary.TotalMadMs);
    }

    [Fact]
    public void A_cell_of_only_warmups_still_reports_its_medians()
    {
        var summary = TimingSummary.From([S(10, 4, 1, true), S(20, 8, 2, true)]);
        Assert.Equal((2, 0, 15.0), (summary.Measured, summary.WarmupExcluded, summary.TotalMs));
    }

    [Fact]
    public void Budgets_are_ratios_against_vanilla_and_a_broken_one_names_the_budget_and_file()
    {
        var root = Directory.CreateTempSubdirectory("uniprune-timing-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(root, "timing"));
            File.WriteAllText(Path.Combine(root, "timing", "h100.json"), """
            { "deviceClass": "h100", "budgets": [
                { "cells": "Ratio=11.1", "maxPrefillRatio": 0.5 },
                { "cells": "Method=DivPrune", "maxMethodShare": 0.1 } ] }
            """);
            var budgets = TimingBudgets.Load(root, "h100");
            var cell = new CellSpec("full", "m", "DivPrune", "11.1", "MME", "pre");
            var vanilla = TimingSummary.From([S(100, 80, 0)]);
            var ok = budgets.Check(cell, TimingSummary.From([S(50, 30, 4)]), vanilla);
            Assert.True(ok.Passed);
            Assert.Equal(30.0 / 80, ok.PrefillRatio, 9);
            var slow = budgets.Check(cell, TimingSummary.From([S(60, 48, 12)]), vanilla);
            Assert.Equal(2, slow.Violations.Count);
            Assert.Contains("0.6 × vanilla", slow.Violations[0]);
            Assert.Contains("h100.json", slow.Violations[0]);
            Assert.Contains("'Method=DivPrune' allows 10.0%", slow.Violations[1]);
            Assert.True(budgets.Check(cell with { Method = "FastV", Ratio = "33.3" }, TimingSummary.From([S(60, 79, 59)]), vanilla).Passed);
            Assert.Empty(TimingBudgets.Load(root, "cpu").Budgets); // a class without a file has no budgets
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void A_budget_file_for_another_class_is_refused()
    {
        var root = Directory.CreateTempSubdirectory("uniprune-timing-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(root, "timing"));
            File.WriteAllText(Path.Combine(root, "timing", "cpu.json"), """{ "deviceClass": "h100", "budgets": [] }""");
            Assert.Contains("deviceClass", Assert.Throws<FormatException>(() => TimingBudgets.Load(root, "cpu")).Message);
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void Device_clock_measures_elapsed_time()
    {
        var (value, ms) = DeviceClock.Measure(() => { Thread.Sleep(20); return 7; });
        Assert.Equal(7, value);
        Assert.InRange(ms, 15, 5000);
    }
}
