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
    public void Prefill_savings_are_judged_by_the_median_of_measured_over_ideal_ratios()
    {
        // 100-token prompts with 64 visual tokens, 7 kept: the ideal prefill ratio is (100 - 64 + 7) / 100.
        Assert.Equal(0.43, PrefillSavingVerdict.Ideal([(100, 64, 7), (100, 64, 7), (0, 64, 7)]), 9);
        Assert.Throws<InvalidOperationException>(() => PrefillSavingVerdict.Ideal([(0, 64, 7)]));
        Assert.Equal(0.5, PrefillSavingVerdict.SavingShare(0.7, 0.4), 9);
        var budget = new PrefillSavingBudget("Stage=pre&Ratio=11.1", 0.25);
        // One wildly slow cell (a load spike) does not move the median; every cell near 1 × vanilla (no saving) does.
        var noisy = new PrefillSavingVerdict("m", budget, "cpu.json", [("a", 0.7, 0.4), ("b", 0.75, 0.4), ("c", 1.9, 0.4)]);
        Assert.True(noisy.Passed, noisy.Report());
        Assert.Equal((1 - 0.75) / 0.6, noisy.MedianSavingShare, 9);
        var broken = new PrefillSavingVerdict("m", budget, "cpu.json", [("a", 0.95, 0.4), ("b", 1.0, 0.4), ("c", 0.5, 0.4)]);
        Assert.False(broken.Passed);
        Assert.Contains("PREFILL SAVING BUDGET BROKEN", broken.Report());
        Assert.Contains("b: 1 × vanilla vs ideal 0.4", broken.Report());
        Assert.False(new PrefillSavingVerdict("m", budget, "cpu.json", []).Passed); // nothing measured proves nothing
    }

    [Fact]
    public void Prefill_saving_budgets_are_read_from_the_class_file_and_a_bad_one_names_its_field()
    {
        var root = Directory.CreateTempSubdirectory("uniprune-timing-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(root, "timing"));
            File.WriteAllText(Path.Combine(root, "timing", "cpu.json"), """
            { "deviceClass": "cpu", "budgets": [], "prefillSavings": [ { "cells": "Stage=pre&Ratio=11.1", "minMedianSavingShare": 0.25 } ] }
            """);
            Assert.Equal([new PrefillSavingBudget("Stage=pre&Ratio=11.1", 0.25)], TimingBudgets.Load(root, "cpu").PrefillSavings);
            File.WriteAllText(Path.Combine(root, "timing", "cpu.json"), """
            { "deviceClass": "cpu", "budgets": [], "prefillSavings": [ { "cells": "Stage=pre" } ] }
            """);
            Assert.Contains("prefillSavings[0].minMedianSavingShare", Assert.Throws<FormatException>(() => TimingBudgets.Load(root, "cpu")).Message);
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
