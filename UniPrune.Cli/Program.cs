using System.Diagnostics;
using UniPrune.Engine.Reporting;
using UniPrune.Engine.Running;
using UniPrune.Engine.Timing;

namespace UniPrune.Cli;

/// <summary>
/// uniprune run     [filter] [--results DIR] [--report FILE] [--accept]   run the matrix (the same cells and checks as dotnet test)
/// uniprune approve [filter]                                             move received snapshots over verified ones
/// uniprune report  --results DIR [--results DIR …] [--report FILE]      merge result folders into one Markdown table
/// uniprune list    [filter]                                             the cells, and why a cell would be skipped here
/// A filter uses dotnet test's trait syntax: "Method=DivPrune", "Model=llava-1.5-7b&amp;Ratio=11.1", "Dataset!=MME".
/// </summary>
public static class Program
{
    private const string Usage = """
        usage:
          uniprune run     [filter] [--results DIR] [--report FILE] [--accept]
          uniprune approve [filter]
          uniprune report  --results DIR [--results DIR ...] [--report FILE]
          uniprune list    [filter]
        filter: dotnet test trait syntax, e.g. "Method=DivPrune" or "Model=llava-1.5-7b&Ratio=11.1" (default: every cell)
        """;

    public static int Main(string[] args)
    {
        try
        {
            if (args.Length == 0 || args[0] is "-h" or "--help" or "help") { Console.WriteLine(Usage); return args.Length == 0 ? 2 : 0; }
            var options = Options.Parse(args[1..]);
            return args[0] switch
            {
                "run" => Run(options),
                "approve" => Approve(options),
                "report" => Report(options),
                "list" => List(options),
                _ => throw new ArgumentException($"unknown verb '{args[0]}'\n{Usage}"),
            };
        }
        catch (Exception e) when (e is ArgumentException or FormatException or FileNotFoundException or DirectoryNotFoundException)
        {
            Console.Error.WriteLine($"uniprune: {e.Message}");
            return 2;
        }
    }

    private static BenchEnvironment Environment(Options options)
    {
        var root = BenchEnvironment.FindRepositoryRoot(Directory.GetCurrentDirectory());
        var env = BenchEnvironment.FromProcess(root);
        return options.Results.Count > 0 ? new BenchEnvironment(env.RepositoryRoot, env.BaselinesRoot, options.Results[0]) : env;
    }

    private static int Run(Options options)
    {
        var environment = Environment(options);
        var manifest = BenchManifest.Load(environment.ManifestPath);
        var filter = CellFilter.Parse(options.Filter);
        var cells = manifest.Cells.Where(filter.Matches).ToList();
        // Vanilla cells first: every pruned cell's timing ratios and relative drop are measured against them.
        cells = cells.OrderBy(c => c.IsVanilla ? 0 : 1).ThenBy(c => c.Model, StringComparer.Ordinal).ThenBy(c => c.Dataset, StringComparer.Ordinal).ToList();
        Console.WriteLine($"uniprune run: {cells.Count} of {manifest.Cells.Count} cells (filter '{filter.Expression}'), device class {DeviceClock.DeviceClass}, results in {environment.ResultsRoot}");
        bool accept = options.Accept || SnapshotApprover.AcceptRequested;
        using var run = new BenchRun(environment, new EngineWorkloadFactory(environment, manifest), manifest);
        int passed = 0, failed = 0, skipped = 0;
        // The ETA counts only cells that will run here (skips take no time), at the mean time of the cells run so far.
        int runnable = cells.Count(c => environment.MissingPrerequisite(manifest, c) is null), ran = 0;
        var clock = Stopwatch.StartNew();
        string Eta()
        {
            if (ran == 0) return "";
            var left = TimeSpan.FromSeconds(clock.Elapsed.TotalSeconds / ran * Math.Max(0, runnable - ran));
            return $"  [{ran}/{runnable} run, {clock.Elapsed:m\\:ss} elapsed, ETA {left:m\\:ss}]";
        }
        for (int i = 0; i < cells.Count; i++)
        {
            var cell = cells[i];
            string prefix = $"[{i + 1}/{cells.Count}] {cell.Id}";
            var progress = new RunOptions(manifest.Tiers[cell.Tier].WarmupSamples, (done, total, reused) =>
            {
                if (done == total || done % 10 == 0) Console.Write($"\r{prefix}: {done}/{total} samples{(reused ? " (resumed)" : "")}   ");
            });
            CellVerdict verdict;
            try { verdict = run.Verify(cell, accept, progress); }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                failed++;
                ran++;
                Console.WriteLine($"\r{prefix}: FAILED: {e.Message}");
                continue;
            }
            if (verdict.Skipped) { skipped++; Console.WriteLine($"\r{prefix}: skipped: {verdict.SkipReason}"); continue; }
            var o = verdict.Outcome!;
            string status = verdict.Passed ? "ok" : "FAILED";
            if (verdict.Passed) passed++; else failed++;
            ran++;
            Console.WriteLine($"\r{prefix}: {status}  {o.Scores.Primary} {o.Scores.PrimaryValue:0.###}  kept {o.Samples.Average(s => (double)s.KeptTokens):0.#}/{o.Samples.Average(s => (double)s.VisualTokens):0.#}  prefill {o.Timing.PrefillMs:0.##} ms  method {o.Timing.MethodMs:0.###} ms{Eta()}");
            if (!verdict.Passed) Console.WriteLine(Indent(verdict.Report()));
        }
        // Per-model timing budgets, where this run selected every cell they judge (a filtered run never computes extra cells).
        var selectedIds = cells.Select(c => c.Id).ToHashSet();
        foreach (var budget in run.Budgets.PrefillSavings)
        {
            var judged = manifest.Cells.Where(c => !c.IsVanilla && CellFilter.Parse(budget.Cells).Matches(c)).ToList();
            foreach (var model in judged.Select(c => c.Model).Distinct())
            {
                if (!judged.Where(c => c.Model == model).All(c => selectedIds.Contains(c.Id))) continue;
                var saving = run.CheckPrefillSavings(budget, model, out var skipReason);
                if (saving is null) { skipped++; Console.WriteLine($"{model}/prefill-saving[{budget.Cells}]: skipped: {skipReason}"); continue; }
                if (saving.Passed) passed++; else failed++;
                Console.WriteLine($"{model}/prefill-saving[{budget.Cells}]: {(saving.Passed ? "ok" : "FAILED")}  {saving.Report()}");
            }
        }
        var rows = Directory.Exists(environment.ResultsRoot) ? MarkdownReport.ReadResults([environment.ResultsRoot]) : [];
        // The vanilla peers were run (or reused) for every selected cell: the table shows them so drops have their reference.
        var selected = cells.SelectMany(c => new[] { c.Id, c.VanillaPeer.Id }).ToHashSet();
        var markdown = MarkdownReport.Render(rows.Where(r => selected.Contains(r.Cell.Id)).ToList());
        var reportPath = options.Report ?? Path.Combine(environment.ResultsRoot, "report.md");
        RunStore.WriteAtomically(reportPath, markdown);
        Console.WriteLine();
        Console.WriteLine(markdown);
        Console.WriteLine($"report written to {reportPath}");
        Console.WriteLine($"{passed} passed, {failed} failed, {skipped} skipped in {clock.Elapsed.TotalSeconds:0.#} s");
        return failed == 0 ? 0 : 1;
    }

    private static int Approve(Options options)
    {
        var environment = Environment(options);
        var manifest = BenchManifest.Load(environment.ManifestPath);
        var accepted = new SnapshotApprover(environment.BaselinesRoot, manifest).AcceptReceived(CellFilter.Parse(options.Filter));
        foreach (var id in accepted) Console.WriteLine($"approved {id}");
        Console.WriteLine(accepted.Count == 0 ? "no received files matched" : $"{accepted.Count} snapshot(s) approved; review with git diff baselines/ and commit them");
        return 0;
    }

    private static int Report(Options options)
    {
        if (options.Results.Count == 0) throw new ArgumentException("report needs at least one --results DIR");
        var rows = MarkdownReport.ReadResults(options.Results);
        var markdown = MarkdownReport.Render(rows);
        if (options.Report is not null) RunStore.WriteAtomically(options.Report, markdown);
        Console.WriteLine(markdown);
        return 0;
    }

    private static int List(Options options)
    {
        var environment = Environment(options);
        var manifest = BenchManifest.Load(environment.ManifestPath);
        var cells = manifest.Cells.Where(CellFilter.Parse(options.Filter).Matches).ToList();
        foreach (var cell in cells)
            Console.WriteLine($"{cell.Id}\t{cell.Tier}\t{environment.MissingPrerequisite(manifest, cell) ?? "runnable"}");
        Console.WriteLine($"{cells.Count} cell(s)");
        return 0;
    }

    private static string Indent(string text) => "    " + text.Replace("\n", "\n    ");

    private sealed record Options(string? Filter, List<string> Results, string? Report, bool Accept)
    {
        public static Options Parse(string[] args)
        {
            string? filter = null, report = null;
            var results = new List<string>();
            bool accept = false;
            for (int i = 0; i < args.Length; i++)
            {
                string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--results": results.Add(Path.GetFullPath(Value())); break;
                    case "--report": report = Path.GetFullPath(Value()); break;
                    case "--accept": accept = true; break;
                    case var a when a.StartsWith("--", StringComparison.Ordinal): throw new ArgumentException($"unknown option '{a}'\n{Usage}");
                    default:
                        if (filter is not null) throw new ArgumentException($"one filter only (got '{filter}' and '{args[i]}'); join terms with & or |");
                        filter = args[i];
                        break;
                }
            }
            return new Options(filter, results, report, accept);
        }
    }
}
