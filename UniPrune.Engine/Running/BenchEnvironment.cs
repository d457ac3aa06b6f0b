using UniPrune.Engine.Timing;

namespace UniPrune.Engine.Running;

/// <summary>
/// Where a run finds its manifest and baselines and writes its results. The repository root is found by walking up from the
/// running binary to UniPrune.sln; UNIPRUNE_BASELINES and UNIPRUNE_RESULTS override the two folders (tests use temp folders).
/// </summary>
public sealed class BenchEnvironment
{
    public const string BaselinesVariable = "UNIPRUNE_BASELINES";
    public const string ResultsVariable = "UNIPRUNE_RESULTS";

    public string RepositoryRoot { get; }
    public string BaselinesRoot { get; }
    public string ResultsRoot { get; }
    public string ManifestPath => Path.Combine(BaselinesRoot, "manifest.json");

    public BenchEnvironment(string repositoryRoot, string? baselinesRoot = null, string? resultsRoot = null)
    {
        RepositoryRoot = Path.GetFullPath(repositoryRoot);
        BaselinesRoot = Path.GetFullPath(baselinesRoot ?? Path.Combine(RepositoryRoot, "baselines"));
        ResultsRoot = Path.GetFullPath(resultsRoot ?? Path.Combine(RepositoryRoot, "results"));
    }

    public static BenchEnvironment FromProcess(string? startFolder = null)
    {
        var root = FindRepositoryRoot(startFolder ?? AppContext.BaseDirectory);
        return new BenchEnvironment(root, NonEmpty(BaselinesVariable), NonEmpty(ResultsVariable));
    }

    public static string FindRepositoryRoot(string startFolder)
    {
        for (var dir = new DirectoryInfo(Path.GetFullPath(startFolder)); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "UniPrune.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException($"no UniPrune.sln in '{startFolder}' or any folder above it: run from inside the repository checkout");
    }

    /// <summary>Null when the cell can run here, otherwise what is missing and how to provide it (the skip reason).</summary>
    public string? MissingPrerequisite(BenchManifest manifest, CellSpec cell)
    {
        var missing = new List<string>();
        var tier = manifest.Tiers[cell.Tier];
        var model = manifest.Models[cell.Model];
        if ((tier.RequiresGpu || model.RequiresGpu) && !DeviceClock.HasCuda)
            missing.Add("a CUDA GPU (build with -p:TorchBackend=cuda on a GPU runner; see .github/workflows/gpu-bench.yml)");
        model.Weights.Resolve(RepositoryRoot, $"weights of {cell.Model}", out var weights);
        if (weights is not null) missing.Add(weights);
        manifest.Datasets[cell.Dataset].Data.Resolve(RepositoryRoot, $"data of {cell.Dataset}", out var data);
        if (data is not null) missing.Add(data);
        return missing.Count == 0 ? null : $"{cell.Id} needs {string.Join("; ", missing)}";
    }

    private static string? NonEmpty(string variable) => Environment.GetEnvironmentVariable(variable) is { Length: > 0 } v ? v : null;
}

/// <summary>Binds cells to loaded models, datasets and pruning hooks. Models are loaded once and shared by every cell.</summary>
public interface ICellWorkloadFactory : IDisposable
{
    /// <summary>Null when the cell can run; otherwise a sentence saying what is missing and how to provide it.</summary>
    string? MissingPrerequisite(CellSpec cell);

    ICellWorkload Create(CellSpec cell);
}
