using System.Diagnostics;
using UniPrune.Engine.Reporting;
using UniPrune.Engine.Running;

namespace UniPrune.Bench.Tests.Approval;

/// <summary>The baselines folder stays honest: every verified file belongs to a cell, and no received file is ever committed.</summary>
public sealed class BaselineHygieneTests
{
    private static readonly BenchEnvironment Repository = BenchEnvironment.FromProcess();

    /// <summary>Verified files that no manifest cell claims (a renamed or removed cell's leftovers), or a claimed name in the wrong case.</summary>
    public static IReadOnlyList<string> DanglingVerifiedFiles(string baselinesRoot, BenchManifest manifest)
    {
        var accuracy = SnapshotApprover.AccuracyRoot(baselinesRoot);
        if (!Directory.Exists(accuracy)) return [];
        var ids = manifest.Cells.Select(c => c.Id).ToHashSet(StringComparer.Ordinal);
        return Directory.EnumerateFiles(accuracy, "*", SearchOption.AllDirectories)
            .Where(f => !f.Contains(".received.", StringComparison.Ordinal))
            .Where(f => SnapshotApprover.CellIdOf(accuracy, f) is not { } id || !ids.Contains(id))
            .Select(f => Path.GetRelativePath(baselinesRoot, f).Replace('\\', '/'))
            .Order(StringComparer.Ordinal).ToList();
    }

    [Fact]
    public void Every_verified_file_belongs_to_a_cell_of_the_manifest()
    {
        var manifest = BenchManifest.Load(Repository.ManifestPath);
        var dangling = DanglingVerifiedFiles(Repository.BaselinesRoot, manifest);
        Assert.True(dangling.Count == 0,
            $"verified files that no cell in {Repository.ManifestPath} claims (delete them, or restore their cells):\n" + string.Join("\n", dangling));
    }

    [Fact]
    public void The_dangling_check_catches_an_orphan_and_a_case_mismatch()
    {
        using var bench = new Harness.TempBench();
        var accuracy = Path.Combine(bench.Environment.BaselinesRoot, "accuracy", "toy", "YN");
        Directory.CreateDirectory(accuracy);
        File.WriteAllText(Path.Combine(accuracy, "Keep@33.3.verified.json"), "{}\n");
        File.WriteAllText(Path.Combine(accuracy, "Gone@33.3.verified.json"), "{}\n");
        File.WriteAllText(Path.Combine(accuracy, "keep@11.1.verified.json"), "{}\n");
        File.WriteAllText(Path.Combine(accuracy, "Keep@11.1.received.json"), "{}\n");
        Assert.Equal(["accuracy/toy/YN/Gone@33.3.verified.json", "accuracy/toy/YN/keep@11.1.verified.json"],
            DanglingVerifiedFiles(bench.Environment.BaselinesRoot, bench.Manifest));
    }

    [SkippableFact]
    public void No_received_file_is_tracked_by_git()
    {
        var git = RunGit("ls-files", "--", "*.received.*", "**/*.received.*");
        Skip.If(git is null, $"{Repository.RepositoryRoot} is not a git checkout with git on PATH: nothing to check");
        Assert.True(git!.Trim().Length == 0, $"received files are committed (git rm --cached them; .gitignore has *.received.*):\n{git}");
        var ignored = RunGit("check-ignore", "--no-index", "baselines/accuracy/m/d/x@1.received.json");
        Assert.True(ignored?.Trim() == "baselines/accuracy/m/d/x@1.received.json", ".gitignore must ignore *.received.* files");
    }

    private static string? RunGit(params string[] arguments)
    {
        try
        {
            var info = new ProcessStartInfo("git") { WorkingDirectory = Repository.RepositoryRoot, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in arguments) info.ArgumentList.Add(a);
            using var process = Process.Start(info)!;
            var output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            // check-ignore exits 1 when the path is not ignored; ls-files exits 128 outside a repository.
            return process.ExitCode is 0 or 1 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception) { return null; }
    }
}
