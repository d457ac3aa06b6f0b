using System.Text.Json;
using static TorchSharp.torch;

namespace UniPrune.Engine.Core;

/// <summary>
/// A model's weights: one <c>model.safetensors</c>, a sharded set described by <c>model.safetensors.index.json</c>,
/// or any single .safetensors file. Pickle checkpoints are refused. Files are mapped lazily; tensors are read on demand.
/// </summary>
public sealed class Checkpoint : IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly Dictionary<string, SafetensorsFile> _fileOf;
    private readonly List<SafetensorsFile> _files;

    public string Source { get; }
    public IReadOnlyCollection<string> Keys => _fileOf.Keys;

    private Checkpoint(string source, List<SafetensorsFile> files, Dictionary<string, SafetensorsFile> fileOf)
    {
        Source = source; _files = files; _fileOf = fileOf;
    }

    /// <summary>Opens a checkpoint folder (index or single file) or one .safetensors file.</summary>
    public static Checkpoint Open(string path)
    {
        if (File.Exists(path))
        {
            if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) return OpenIndex(path);
            var single = SafetensorsFile.Open(path);
            return new Checkpoint(path, [single], single.Entries.Keys.ToDictionary(k => k, _ => single));
        }
        if (!Directory.Exists(path))
            throw new DirectoryNotFoundException($"{path}: checkpoint folder or file not found");
        string index = System.IO.Path.Combine(path, IndexFileName);
        if (File.Exists(index)) return OpenIndex(index);
        string file = System.IO.Path.Combine(path, SingleFileName);
        if (File.Exists(file)) return Open(file);
        var pickles = Directory.EnumerateFiles(path)
            .Where(f => PickleGuard.PickleExtensions.Contains(System.IO.Path.GetExtension(f).ToLowerInvariant())).ToList();
        if (pickles.Count > 0) PickleGuard.RefuseIfPickle(pickles[0]);
        throw new CheckpointFormatException(path, $"no {SingleFileName} or {IndexFileName} in this folder");
    }

    private static Checkpoint OpenIndex(string indexPath)
    {
        string folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(indexPath))!;
        Dictionary<string, string> weightMap;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            if (!doc.RootElement.TryGetProperty("weight_map", out var wm) || wm.ValueKind != JsonValueKind.Object)
                throw new CheckpointFormatException(indexPath, "missing 'weight_map'; expected an object of tensor name → shard file name");
            weightMap = wm.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()
                ?? throw new CheckpointFormatException(indexPath, $"weight_map['{p.Name}'] must be a file name string"));
        }
        catch (JsonException e) { throw new CheckpointFormatException(indexPath, $"not valid JSON ({e.Message})"); }

        var files = new List<SafetensorsFile>();
        var fileOf = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        try
        {
            foreach (var shardName in weightMap.Values.Distinct())
            {
                string shardPath = System.IO.Path.Combine(folder, shardName);
                if (!File.Exists(shardPath))
                    throw new CheckpointFormatException(indexPath, $"weight_map names shard '{shardName}', which does not exist in {folder}");
                var shard = SafetensorsFile.Open(shardPath);
                files.Add(shard);
                foreach (var key in shard.Entries.Keys)
                {
                    if (!weightMap.TryGetValue(key, out var mapped) || mapped != shardName)
                        throw new CheckpointFormatException(shardPath, $"tensor '{key}' is in this shard but the index maps it to '{mapped ?? "nothing"}'");
                    fileOf[key] = shard;
                }
            }
            var missing = weightMap.Keys.Where(k => !fileOf.ContainsKey(k)).ToList();
            if (missing.Count > 0)
                throw new CheckpointFormatException(indexPath, $"{missing.Count} tensors named in weight_map are absent from their shards: {string.Join(", ", missing.Take(10))}");
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
        return new Checkpoint(indexPath, files, fileOf);
    }

    public bool Contains(string key) => _fileOf.ContainsKey(key);

    public SafetensorsEntry Entry(string key) => _fileOf.TryGetValue(key, out var f)
        ? f.Entries[key] : throw new KeyNotFoundException($"{Source}: no tensor named '{key}'");

    public Tensor Read(string key, ScalarType? dtype = null, Device? device = null) => _fileOf.TryGetValue(key, out var f)
        ? f.Read(key, dtype, device) : throw new KeyNotFoundException($"{Source}: no tensor named '{key}'");

    /// <summary>Fails listing every missing and unexpected key when the checkpoint's keys differ from <paramref name="expected"/>.</summary>
    public void RequireKeys(IEnumerable<string> expected, IEnumerable<string>? ignoredUnexpected = null)
    {
        var want = expected.ToHashSet(StringComparer.Ordinal);
        var ignore = (ignoredUnexpected ?? []).ToHashSet(StringComparer.Ordinal);
        var missing = want.Where(k => !_fileOf.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var unexpected = _fileOf.Keys.Where(k => !want.Contains(k) && !ignore.Contains(k)).Order(StringComparer.Ordinal).ToList();
        if (missing.Count == 0 && unexpected.Count == 0) return;
        var parts = new List<string>();
        if (missing.Count > 0) parts.Add($"{missing.Count} missing keys: {string.Join(", ", missing.Take(20))}{(missing.Count > 20 ? ", …" : "")}");
        if (unexpected.Count > 0) parts.Add($"{unexpected.Count} unexpected keys: {string.Join(", ", unexpected.Take(20))}{(unexpected.Count > 20 ? ", …" : "")}");
        throw new CheckpointFormatException(Source, string.Join("; ", parts));
    }

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }
}
