namespace UniPrune.Engine.Core;

/// <summary>A checkpoint, config or other input file is malformed. The message names the file and the problem.</summary>
public sealed class CheckpointFormatException(string path, string problem)
    : Exception($"{path}: {problem}")
{
    public string Path { get; } = path;
    public string Problem { get; } = problem;
}
