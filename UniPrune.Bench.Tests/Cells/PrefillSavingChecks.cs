using UniPrune.Engine.Running;
using UniPrune.Engine.Timing;
using Xunit.Abstractions;

namespace UniPrune.Bench.Tests.Cells;

/// <summary>
/// The timing budgets that hold where one cell's timing is noise: per model, the median over its pre-LLM cells of measured ÷
/// FLOP-ideal prefill ratio (baselines/timing/&lt;device class&gt;.json, "prefillSavings"). The cells are the same runs the cell
/// rows check (run once per process, whichever row asks first).
/// </summary>
[Collection(BenchCollection.Name)]
public sealed class PrefillSavingChecks(BenchSession session, ITestOutputHelper output)
{
    public static TheoryData<string, string, string, string> Checks()
    {
        var environment = BenchEnvironment.FromProcess();
        var manifest = BenchManifest.Load(environment.ManifestPath);
        var budgets = TimingBudgets.Load(environment.BaselinesRoot, DeviceClock.DeviceClass);
        var rows = new TheoryData<string, string, string, string>();
        foreach (var budget in budgets.PrefillSavings)
        {
            var filter = CellFilter.Parse(budget.Cells);
            foreach (var group in manifest.Cells.Where(c => !c.IsVanilla && filter.Matches(c)).GroupBy(c => (c.Model, c.Tier)))
                rows.Add($"{group.Key.Model}/prefill-saving[{budget.Cells}]", group.Key.Model, group.Key.Tier, budget.Cells);
        }
        // A theory needs a row; with no budgets for this device class the one row says so and skips.
        if (rows.Count == 0) rows.Add($"prefill-saving[none for device class {DeviceClock.DeviceClass}]", "", "", "");
        return rows;
    }

    // 'tier' is unused in the body: the row-trait discoverer reads the parameter names (Model, Tier) as the row's traits.
#pragma warning disable xUnit1026
    [RowTraitTheory, MemberData(nameof(Checks))]
    public void Cell(string cell, string model, string tier, string cells)
#pragma warning restore xUnit1026
    {
        Skip.If(model.Length == 0, $"{cell}: {TimingBudgets.PathFor(session.Run.Environment.BaselinesRoot, DeviceClock.DeviceClass)} declares no prefillSavings budget");
        if (Environment.GetEnvironmentVariable(BenchSession.ListOnlyVariable) is { Length: > 0 }) return;
        var budget = session.Run.Budgets.PrefillSavings.Single(b => b.Cells == cells);
        var verdict = session.Run.CheckPrefillSavings(budget, model, out var skipReason);
        Skip.If(verdict is null, skipReason);
        output.WriteLine(verdict!.Report());
        Assert.True(verdict.Passed, verdict.Report());
    }
}
