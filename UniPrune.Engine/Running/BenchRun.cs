using System.Text;
using UniPrune.Engine.Reporting;
using UniPrune.Engine.Timing;

namespace UniPrune.Engine.Running;

/// <summary>The verdict on one cell: skipped (with the reason), or run and checked against its baseline and timing budgets.</summary>
public sealed record CellVerdict(CellSpec Cell, string? SkipReason, CellOutcome? Outcome, ApprovalResult? Approval, TimingVerdict? Timing)
{
    public bool Skipped => SkipReason is not null;
    public bool Passed => !Skipped && Approval!.Passed && (Timing?.Passed ?? true);

    public string Report()
    {
        if (Skipped) return $"{Cell.Id}: skipped: {SkipReason}";
        var text = new StringBuilder(Approval!.Message);
        var o = Outcome!;
        text.Append($"\n{Cell.Id}: {o.Scores.Primary} = {o.Scores.PrimaryValue:0.######} over {o.Samples.Count} samples ({o.Reused} reused, {o.Computed} computed); ")
            .Append($"median total {o.Timing.TotalMs:0.###} ms, prefill {o.Timing.PrefillMs:0.###} ms, method {o.Timing.MethodMs:0.###} ms");
        if (Timing is not null)
        {
            text.Append($"\ntiming vs vanilla: prefill ratio {Timing.PrefillRatio:0.###}, method share {Timing.MethodShare * 100:0.0}%");
            foreach (var v in Timing.Violations) text.Append("\nTIMING BUDGET BROKEN: ").Append(v);
        }
        return text.ToString();
    }
}

/// <summary>
/// One benchmark run over the manifest: runs cells (resuming finished samples), compares each snapshot with its verified
/// file, and checks timing budgets against the vanilla cell of the same model and dataset measured in this same results
/// folder. Shared by the test suite and the CLI so both judge a cell the same way.
/// </summary>
public sealed class BenchRun : IDisposable
{
    public BenchEnvironment Environment { get; }
    public BenchManifest Manifest { get; }
    public SnapshotApprover Approver { get; }
    public RunStore Store { get; }
    public TimingBudgets Budgets { get; }
    private readonly ICellWorkloadFactory _factory;
    private readonly Dictionary<string, CellOutcome> _outcomes = [];
    private readonly object _gate = new();

    public BenchRun(BenchEnvironment environment, ICellWorkloadFactory factory, BenchManifest? manifest = null)
    {
        Environment = environment;
        Manifest = manifest ?? BenchManifest.Load(environment.ManifestPath);
        Approver = new SnapshotApprover(environment.BaselinesRoot, Manifest);
        Store = new RunStore(environment.ResultsRoot);
        Budgets = TimingBudgets.Load(environment.BaselinesRoot, DeviceClock.DeviceClass);
        _factory = factory;
    }

    /// <summary>Runs a cell once per BenchRun (later calls return the same outcome).</summary>
    public CellOutcome RunCell(CellSpec cell, RunOptions? options = null)
    {
        lock (_gate)
        {
            if (_outcomes.TryGetValue(cell.Id, out var done)) return done;
            var workload = _factory.Create(cell);
            var outcome = CellRunner.Run(workload, Store, options ?? new RunOptions(Manifest.Tiers[cell.Tier].WarmupSamples));
            _outcomes[cell.Id] = outcome;
            return outcome;
        }
    }

    public CellVerdict Verify(CellSpec cell, bool accept, RunOptions? options = null)
    {
        var missing = _factory.MissingPrerequisite(cell);
        if (missing is not null) return new CellVerdict(cell, missing, null, null, null);
        // The vanilla peer runs first (or is reused): its timings are the budgets' reference, and it absorbs the process's warm-up.
        var vanilla = cell.IsVanilla ? null : RunCell(cell.VanillaPeer, options is null ? null : options with { Progress = null });
        var outcome = RunCell(cell, options);
        var approval = Approver.Check(cell, CellSnapshot.Build(outcome), accept);
        var timing = vanilla is null ? null : Budgets.Check(cell, outcome.Timing, vanilla.Timing);
        return new CellVerdict(cell, null, outcome, approval, timing);
    }

    /// <summary>
    /// Runs (or reuses) one model's cells that <paramref name="budget"/> selects, with their vanilla peers, and judges their prefill
    /// savings together. Null with <paramref name="skipReason"/> when a cell cannot run here or none is selected.
    /// </summary>
    public PrefillSavingVerdict? CheckPrefillSavings(PrefillSavingBudget budget, string model, out string? skipReason)
    {
        var filter = CellFilter.Parse(budget.Cells);
        var cells = Manifest.Cells.Where(c => c.Model == model && !c.IsVanilla && filter.Matches(c)).ToList();
        skipReason = cells.Count == 0 ? $"no cell of {model} matches '{budget.Cells}'"
            : cells.Select(c => _factory.MissingPrerequisite(c)).FirstOrDefault(m => m is not null);
        if (skipReason is not null) return null;
        var perCell = new List<(string, double, double)>();
        foreach (var cell in cells)
        {
            var vanilla = RunCell(cell.VanillaPeer);
            var pruned = RunCell(cell);
            if (vanilla.Timing.PrefillMs <= 0) continue;
            var measured = pruned.Samples.Where(s => !s.Warmup || pruned.Timing.WarmupExcluded == 0).ToList();
            perCell.Add((cell.Id, pruned.Timing.PrefillMs / vanilla.Timing.PrefillMs,
                PrefillSavingVerdict.Ideal(measured.Select(s => (s.PromptTokens, s.VisualTokens, s.KeptTokens)))));
        }
        return new PrefillSavingVerdict(model, budget, Budgets.File, perCell);
    }

    public void Dispose() => _factory.Dispose();
}
