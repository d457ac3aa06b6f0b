using UniPrune.Engine.Reporting;
using UniPrune.Engine.Running;

namespace UniPrune.Bench.Tests.Cells;

/// <summary>
/// One benchmark run for the whole test run (a collection fixture shared by every cell): the manifest, the approver, the
/// results folder, and the workload factory that loads each model once and keeps it for every cell that needs it.
/// </summary>
public sealed class BenchSession : IDisposable
{
    /// <summary>When set to a file path, cells only append their id and traits to it and return (the filter-selection proof).</summary>
    public const string ListOnlyVariable = "UNIPRUNE_LIST_CELLS_TO";

    public BenchRun Run { get; }

    public BenchSession()
    {
        var environment = BenchEnvironment.FromProcess();
        var manifest = BenchManifest.Load(environment.ManifestPath);
        Run = new BenchRun(environment, new EngineWorkloadFactory(environment, manifest), manifest);
    }

    public static bool AcceptRequested => SnapshotApprover.AcceptRequested;

    public void Dispose() => Run.Dispose();
}

[CollectionDefinition(Name)]
public sealed class BenchCollection : ICollectionFixture<BenchSession>
{
    // One collection: cells run one after another (a loaded model, a GPU, and timing all want exclusivity).
    public const string Name = "Benchmark cells";
}
