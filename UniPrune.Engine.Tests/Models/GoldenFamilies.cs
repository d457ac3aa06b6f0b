using System.Reflection;
using System.Text.Json;
using UniPrune.Engine.Core;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models;

/// <summary>
/// One model family's parity checks against a golden reference folder. Implementations are found by reflection in
/// this test assembly, so a family joins the data-driven <see cref="GoldenParityTests"/> by adding a class — the test
/// itself never changes.
/// </summary>
public interface IGoldenFamily
{
    /// <summary>config.json model_type values this family handles (e.g. "llava").</summary>
    IReadOnlyList<string> ModelTypes { get; }
    /// <summary>Every stage of the reference forward and the greedy tokens.</summary>
    void CheckStages(GoldenSet set, ITestOutputHelper log);
    /// <summary>One pruning/ reference (pre_llm_keep*, intra_llm_k2_keep*): replay its keep set and compare.</summary>
    void CheckPruningReference(GoldenSet set, string reference, ITestOutputHelper log);
}

/// <summary>The registry: model_type → family implementation, plus the families the project knows but has not implemented.</summary>
public static class GoldenFamilies
{
    /// <summary>Families of the project, by config.json model_type, with a readable name for skip messages.</summary>
    public static readonly IReadOnlyDictionary<string, string> Known = new Dictionary<string, string>
    {
        ["llava"] = "LLaVA-1.5",
        ["qwen2_5_vl"] = "Qwen2.5-VL",
        ["internvl_chat"] = "InternVL3",
    };

    private static readonly Lazy<IReadOnlyList<IGoldenFamily>> Registered = new(() =>
        typeof(GoldenFamilies).Assembly.GetTypes()
            .Where(t => typeof(IGoldenFamily).IsAssignableFrom(t) && t is { IsClass: true, IsAbstract: false } && t.GetConstructor(Type.EmptyTypes) is not null)
            .OrderBy(t => t.FullName)
            .Select(t => (IGoldenFamily)Activator.CreateInstance(t)!)
            .ToList());

    /// <summary>The family for a folder's config.json, or a reason why none runs.</summary>
    public static (IGoldenFamily? Family, string? SkipReason) For(GoldenSet set)
    {
        string? modelType = set.ModelType;
        if (modelType is null) return (null, $"{set.ConfigFile} has no model_type, so no family can be chosen");
        var family = Registered.Value.FirstOrDefault(f => f.ModelTypes.Contains(modelType));
        if (family is not null) return (family, null);
        return (null, Known.TryGetValue(modelType, out var name)
            ? $"{name} (model_type '{modelType}') has no golden parity implementation registered yet"
            : $"model_type '{modelType}' (architectures {string.Join(", ", set.Architectures)}) is not a family of this project");
    }
}

/// <summary>A golden reference folder: config.json, inputs/outputs safetensors, optional pruning/ and selection/ sub-folders.</summary>
public sealed class GoldenSet : IDisposable
{
    private SafetensorsFile? _inputs, _outputs, _selection;

    public string Folder { get; }
    public string Name { get; }
    public string ConfigFile => Path.Combine(Folder, "config.json");
    public string? ModelType { get; }
    public IReadOnlyList<string> Architectures { get; }

    public GoldenSet(string name, string folder)
    {
        Name = name; Folder = folder;
        using var doc = JsonDocument.Parse(File.ReadAllText(ConfigFile));
        ModelType = doc.RootElement.TryGetProperty("model_type", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
        Architectures = doc.RootElement.TryGetProperty("architectures", out var a) && a.ValueKind == JsonValueKind.Array
            ? a.EnumerateArray().Select(e => e.GetString() ?? "").ToList() : [];
    }

    public SafetensorsFile Inputs => _inputs ??= SafetensorsFile.Open(Path.Combine(Folder, "inputs.safetensors"));
    public SafetensorsFile Outputs => _outputs ??= SafetensorsFile.Open(Path.Combine(Folder, "outputs.safetensors"));
    public bool HasSelectionInputs => File.Exists(Path.Combine(Folder, "selection", "selection_inputs.safetensors"));
    public SafetensorsFile SelectionInputs => _selection ??= SafetensorsFile.Open(Path.Combine(Folder, "selection", "selection_inputs.safetensors"));

    public Tensor Input(string name) => Inputs.Read(name);
    public Tensor Output(string name) => Outputs.Read(name);

    /// <summary>Stems of the pruning references (pruning/pre_llm_keep12, …) in this folder.</summary>
    public IReadOnlyList<string> PruningReferences => Directory.Exists(Path.Combine(Folder, "pruning"))
        ? Directory.GetFiles(Path.Combine(Folder, "pruning"), "*_keep*.json").Select(path => Path.GetFileNameWithoutExtension(path)).Order().ToList()
        : [];

    public JsonDocument PruningJson(string reference) => JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "pruning", reference + ".json")));
    public SafetensorsFile PruningTensors(string reference) => SafetensorsFile.Open(Path.Combine(Folder, "pruning", reference + ".safetensors"));
    public long[] KeepVisualIndices(string reference)
    {
        using var json = PruningJson(reference);
        return json.RootElement.GetProperty("keep_visual_indices").EnumerateArray().Select(e => e.GetInt64()).ToArray();
    }

    public void Dispose()
    {
        _inputs?.Dispose(); _outputs?.Dispose(); _selection?.Dispose();
    }
}

/// <summary>Golden folders: every folder with a config.json under the repo's Fixtures/golden, plus UNIPRUNE_GOLDEN_DIRS (colon-separated).</summary>
public static class GoldenFolders
{
    public const string EnvironmentVariable = "UNIPRUNE_GOLDEN_DIRS";

    private static readonly Lazy<IReadOnlyDictionary<string, string>> All = new(Discover);

    public static IReadOnlyCollection<string> Names => All.Value.Keys.ToList();

    public static string PathOf(string name) => All.Value.TryGetValue(name, out var p) ? p
        : throw new DirectoryNotFoundException($"golden folder '{name}' is neither under {Path.Combine(TestPaths.Fixtures, "golden")} nor listed in {EnvironmentVariable}");

    private static IReadOnlyDictionary<string, string> Discover()
    {
        var found = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var dir in Directory.GetDirectories(Path.Combine(TestPaths.Fixtures, "golden")).Order())
            if (File.Exists(Path.Combine(dir, "config.json"))) found[Path.GetFileName(dir)] = dir;
        var extra = Environment.GetEnvironmentVariable(EnvironmentVariable);
        foreach (var dir in (extra ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string full = Path.GetFullPath(dir);
            string name = Path.GetFileName(full.TrimEnd('/'));
            // A listed folder is its own case even when its name repeats a fixture's (then it is named by its path).
            found[found.ContainsKey(name) ? full : name] = full;
        }
        return found;
    }
}
