using UniPrune.Engine.Reporting;
using UniPrune.Engine.Running;

namespace UniPrune.Bench.Tests.Harness;

/// <summary>The received/verified loop end to end, over a temporary baselines folder and the toy workload.</summary>
public sealed class ApprovalTests
{
    private static IEnumerable<CellVerdict> VerifyAll(BenchRun run, bool accept = false) =>
        run.Manifest.Cells.Select(c => run.Verify(c, accept)).ToList();

    [Fact]
    public void A_missing_baseline_fails_and_writes_a_received_file_never_a_skip()
    {
        using var bench = new TempBench();
        using var run = bench.NewRun(new ToyFactory(bench.Manifest));
        var verdict = run.Verify(bench.Manifest.Cell("toy/YN/Keep@33.3"), accept: false);
        Assert.False(verdict.Skipped);
        Assert.False(verdict.Passed);
        Assert.Equal(ApprovalStatus.Missing, verdict.Approval!.Status);
        Assert.True(File.Exists(verdict.Approval.ReceivedPath));
        Assert.False(File.Exists(verdict.Approval.VerifiedPath));
        Assert.EndsWith("baselines/accuracy/toy/YN/Keep@33.3.received.json", verdict.Approval.ReceivedPath.Replace('\\', '/'));
        Assert.Contains("UNIPRUNE_ACCEPT=1 dotnet test UniPrune.sln -c Release --filter \"Model=toy&Dataset=YN&Method=Keep&Ratio=33.3&Stage=pre\"", verdict.Approval.Message);
        Assert.Contains("approve", verdict.Approval.Message);
    }

    [Fact]
    public void Changing_a_scorer_rule_fails_the_affected_cells_with_received_files_and_accepting_makes_them_pass()
    {
        using var bench = new TempBench();
        var factory = new ToyFactory(bench.Manifest);
        using (var first = bench.NewRun(factory))
            Assert.All(VerifyAll(first, accept: true), v => Assert.Equal(ApprovalStatus.Accepted, v.Approval!.Status));
        using (var again = bench.NewRun(factory))
            Assert.All(VerifyAll(again), v => Assert.Equal(ApprovalStatus.Identical, v.Approval!.Status));

        // The scorer now compares answers case-sensitively: the toy model's "Yes" no longer matches "yes".
        factory.CaseSensitive = true;
        factory.Created.Clear();
        List<CellVerdict> changed;
        using (var rescored = bench.NewRun(factory))
            changed = VerifyAll(rescored).ToList();
        Assert.All(factory.Created, w => Assert.Empty(w.RunCalls)); // scores come from stored predictions: nothing re-ran
        var failed = changed.Where(v => !v.Passed).ToList();
        Assert.NotEmpty(failed);
        // YN has tolerance 0.5 points; OCR allows 60, so only the YN cells fail.
        foreach (var v in changed)
        {
            Assert.Equal(!v.Passed, File.Exists(v.Approval!.ReceivedPath));
            if (!v.Passed)
            {
                Assert.Contains("scores.accuracy", v.Approval.Message);
                Assert.Contains("tolerance", v.Approval.Message);
            }
        }
        Assert.Contains(changed, v => v.Passed && v.Approval!.Status == ApprovalStatus.WithinTolerance);

        // Accept with the CLI's code path (approve [filter]), restricted to YN: OCR cells keep their received files.
        var accepted = new SnapshotApprover(bench.Environment.BaselinesRoot, bench.Manifest).AcceptReceived(CellFilter.Parse("Dataset=YN"));
        Assert.Equal(failed.Where(v => v.Cell.Dataset == "YN").Select(v => v.Cell.Id).Order(), accepted.Order());
        using (var after = bench.NewRun(factory))
            foreach (var v in VerifyAll(after).Where(v => v.Cell.Dataset == "YN"))
            {
                Assert.True(v.Passed, v.Report());
                Assert.False(File.Exists(v.Approval!.ReceivedPath));
            }
    }

    [Fact]
    public void Changing_a_methods_output_fails_only_the_pruned_cells_and_UNIPRUNE_ACCEPT_style_acceptance_makes_them_pass()
    {
        using var bench = new TempBench();
        var factory = new ToyFactory(bench.Manifest);
        using (var first = bench.NewRun(factory)) VerifyAll(first, accept: true).ToList();

        factory.KeptOffset = 1; // the "method" now keeps one more token: new fingerprint, samples recomputed
        List<CellVerdict> changed;
        using (var rerun = bench.NewRun(factory)) changed = VerifyAll(rerun).ToList();
        Assert.All(changed.Where(v => v.Cell.IsVanilla), v => Assert.True(v.Passed, v.Report()));
        var pruned = changed.Where(v => !v.Cell.IsVanilla).ToList();
        Assert.All(pruned, v =>
        {
            Assert.False(v.Passed);
            Assert.Contains("kept.keptTokensTotal", v.Approval!.Message);
            Assert.True(File.Exists(v.Approval.ReceivedPath));
        });

        using (var accepting = bench.NewRun(factory)) Assert.All(VerifyAll(accepting, accept: true), v => Assert.True(v.Passed));
        using (var after = bench.NewRun(factory)) Assert.All(VerifyAll(after), v => Assert.Equal(ApprovalStatus.Identical, v.Approval!.Status));
        Assert.Empty(Directory.EnumerateFiles(bench.Environment.BaselinesRoot, "*.received.*", SearchOption.AllDirectories));
    }

    [Fact]
    public void Within_tolerance_leaves_the_verified_file_untouched()
    {
        using var bench = new TempBench();
        var cell = bench.Manifest.Cell("toy/YN/Keep@33.3");
        var approver = new SnapshotApprover(bench.Environment.BaselinesRoot, bench.Manifest);
        var snapshot = new Dictionary<string, object?> { ["scores"] = new Dictionary<string, object?> { ["accuracy"] = 50.0 }, ["samples"] = 10 };
        approver.Check(cell, snapshot, accept: true);
        var before = File.ReadAllText(approver.VerifiedPath(cell));
        var moved = new Dictionary<string, object?> { ["scores"] = new Dictionary<string, object?> { ["accuracy"] = 50.4 }, ["samples"] = 10 };
        var result = approver.Check(cell, moved, accept: false);
        Assert.Equal(ApprovalStatus.WithinTolerance, result.Status);
        Assert.Equal(before, File.ReadAllText(approver.VerifiedPath(cell)));
        Assert.False(File.Exists(result.ReceivedPath));

        var tooFar = new Dictionary<string, object?> { ["scores"] = new Dictionary<string, object?> { ["accuracy"] = 50.6 }, ["samples"] = 11 };
        var failed = approver.Check(cell, tooFar, accept: false);
        Assert.Equal(ApprovalStatus.Mismatch, failed.Status);
        Assert.Contains("scores.accuracy: 50.000000 → 50.600000 (Δ +0.6, tolerance 0.5)", failed.Message);
        Assert.Contains("samples: 10 → 11 (Δ +1, tolerance 0)", failed.Message);
    }

    [Fact]
    public void Skipped_cells_write_nothing()
    {
        using var bench = new TempBench();
        var factory = new ToyFactory(bench.Manifest);
        factory.Unavailable.Add("toy/YN/Keep@33.3");
        using var run = bench.NewRun(factory);
        var verdict = run.Verify(bench.Manifest.Cell("toy/YN/Keep@33.3"), accept: false);
        Assert.True(verdict.Skipped);
        Assert.Contains("needs toy weights", verdict.SkipReason);
        Assert.False(Directory.Exists(Path.Combine(bench.Environment.BaselinesRoot, "accuracy")));
    }
}
