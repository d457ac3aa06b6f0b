namespace UniPrune.Engine.Running;

/// <summary>
/// The real binding of manifest cells to the engine: weights from UNIPRUNE_MODELS (or the repository's tiny checkpoints),
/// TSVs from LMUData, pruning hooks from the registry. Each model is loaded once per process and shared by every cell.
/// </summary>
public sealed class EngineWorkloadFactory(BenchEnvironment environment, BenchManifest manifest) : ICellWorkloadFactory
{
    public string? MissingPrerequisite(CellSpec cell) => environment.MissingPrerequisite(manifest, cell);

    public ICellWorkload Create(CellSpec cell)
    {
        var model = manifest.Models[cell.Model];
        // Reached only when weights, data and device are all present: a cell that cannot run then is a failure, not a skip.
        throw new NotSupportedException(
            $"{cell.Id}: model family '{model.Family}' has no benchmark runner in this build yet (the weights and data were found)");
    }

    public void Dispose() { }
}
