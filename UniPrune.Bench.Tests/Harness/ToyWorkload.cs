using System.Security.Cryptography;
using System.Text;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Running;

namespace UniPrune.Bench.Tests.Harness;

/// <summary>
/// A deterministic stand-in for model + method + dataset, for testing the harness itself (approval, resume, timing, reports)
/// in milliseconds. Nothing here is a benchmark result: the real cells bind the engine's models, methods and scorers.
/// Its "model" answers yes/no from the sample index and the kept-token count; its "method" keeps round(retention × 36) tokens
/// plus <see cref="KeptOffset"/>; its scorer compares with an answer key under <see cref="CaseSensitive"/>.
/// </summary>
public sealed class ToyWorkload(CellSpec cell, double retention, int samples = 12) : ICellWorkload
{
    public const int VisualTokens = 36;
    public int KeptOffset { get; init; }
    public bool CaseSensitive { get; init; }
    /// <summary>Throw after this many Run calls (simulates a crash mid-matrix).</summary>
    public int? CrashAfter { get; init; }
    public List<string> RunCalls { get; } = [];

    public CellSpec Cell => cell;
    public string Fingerprint => $"toy|{cell.Id}|{retention:R}|offset={KeptOffset}";
    public IReadOnlyDictionary<string, object?> Identity => new Dictionary<string, object?>
    {
        ["model"] = new SortedDictionary<string, object?>(StringComparer.Ordinal) { ["name"] = cell.Model, ["device"] = "cpu" },
        ["dataset"] = new SortedDictionary<string, object?>(StringComparer.Ordinal) { ["name"] = cell.Dataset },
    };

    public IReadOnlyList<WorkItem> Items { get; } = Enumerable.Range(0, samples)
        .Select(i => new WorkItem(i.ToString(), Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"Is there a cat? #{i}")))[..16])).ToList();

    public SampleOutput Run(WorkItem item)
    {
        if (CrashAfter is int limit && RunCalls.Count >= limit) throw new IOException($"simulated crash before sample {item.Id}");
        RunCalls.Add(item.Id);
        int kept = Math.Min(VisualTokens, (int)Math.Round(retention * VisualTokens) + KeptOffset);
        int index = int.Parse(item.Id);
        // Fewer kept tokens → more "no" answers: a deterministic accuracy gradient.
        string answer = (index * 7 + kept) % 5 < 3 ? "Yes" : "no";
        return new SampleOutput(answer, VisualTokens, kept, new StageTimings(1, 2 + kept / 10.0, 0.5, 0.1 * kept / VisualTokens));
    }

    public CellScores Score(IReadOnlyList<(WorkItem Item, string Prediction)> predictions)
    {
        var comparison = CaseSensitive ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase;
        var perSample = predictions.ToDictionary(p => p.Item.Id, p => (double?)(string.Equals(p.Prediction, Key(p.Item.Id), comparison) ? 1 : 0));
        var even = predictions.Where(p => int.Parse(p.Item.Id) % 2 == 0).Select(p => perSample[p.Item.Id]!.Value).DefaultIfEmpty().Average();
        var odd = predictions.Where(p => int.Parse(p.Item.Id) % 2 == 1).Select(p => perSample[p.Item.Id]!.Value).DefaultIfEmpty().Average();
        return new CellScores("accuracy",
            new Dictionary<string, double> { ["accuracy"] = perSample.Values.Average(v => v!.Value) * 100 },
            new Dictionary<string, IReadOnlyDictionary<string, double>>
            {
                ["even"] = new Dictionary<string, double> { ["accuracy"] = even * 100 },
                ["odd"] = new Dictionary<string, double> { ["accuracy"] = odd * 100 },
            },
            perSample);
    }

    private static string Key(string id) => int.Parse(id) % 3 == 0 ? "no" : "yes";
}

/// <summary>Hands out <see cref="ToyWorkload"/>s; the test decides their knobs per cell.</summary>
public sealed class ToyFactory(BenchManifest manifest) : ICellWorkloadFactory
{
    public int KeptOffset { get; set; }
    public bool CaseSensitive { get; set; }
    public int? CrashAfter { get; set; }
    public HashSet<string> Unavailable { get; } = [];
    public List<ToyWorkload> Created { get; } = [];

    public string? MissingPrerequisite(CellSpec cell) => Unavailable.Contains(cell.Id) ? $"{cell.Id} needs toy weights" : null;

    public ICellWorkload Create(CellSpec cell)
    {
        var workload = new ToyWorkload(cell, manifest.Retention(cell.Ratio)) { KeptOffset = cell.IsVanilla ? 0 : KeptOffset, CaseSensitive = CaseSensitive, CrashAfter = CrashAfter };
        Created.Add(workload);
        return workload;
    }

    public void Dispose() { }
}

/// <summary>A throwaway repository layout (baselines/ + results/) under the temp folder, removed on dispose.</summary>
public sealed class TempBench : IDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("uniprune-bench-").FullName;
    public BenchEnvironment Environment { get; }
    public BenchManifest Manifest { get; }

    public const string ManifestJson = """
    {
      "ratios": { "100": "1", "33.3": "1/3", "11.1": "1/9" },
      "models": { "toy": { "family": "toy", "requiresGpu": false, "weights": { "repo": "." } } },
      "datasets": {
        "YN": { "benchmark": "MME", "data": { "repo": "." } },
        "OCR": { "benchmark": "OCRBench", "data": { "repo": "." } }
      },
      "methods": {
        "Keep": { "stages": { "pre": "random-pre" } },
        "Late": { "stages": { "native": "sparsevlm", "K2": "sparsevlm-k2" } }
      },
      "tiers": { "toy": { "requiresGpu": false, "maxSamples": null, "warmupSamples": 2 } },
      "matrices": [ { "tier": "toy", "models": [ "toy" ], "datasets": [ "YN", "OCR" ], "methods": [ "Keep", "Late" ], "ratios": [ "33.3", "11.1" ],
                      "exclude": [ { "dataset": "OCR", "method": "Late", "reason": "toy: intra-LLM cells are only needed on one dataset" } ] } ],
      "tolerances": [ { "path": "scores.*", "abs": 0.5 }, { "dataset": "OCR", "path": "scores.*", "abs": 60 }, { "dataset": "OCR", "path": "categories.*", "abs": 60 } ],
      "ignoredPaths": [ "engine.*", "model.device" ]
    }
    """;

    public TempBench(string? manifestJson = null)
    {
        Directory.CreateDirectory(Path.Combine(Root, "baselines"));
        File.WriteAllText(Path.Combine(Root, "UniPrune.sln"), "");
        File.WriteAllText(Path.Combine(Root, "baselines", "manifest.json"), manifestJson ?? ManifestJson);
        Environment = new BenchEnvironment(Root);
        Manifest = BenchManifest.Load(Environment.ManifestPath);
    }

    public BenchRun NewRun(ToyFactory factory) => new(Environment, factory, Manifest);

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}
