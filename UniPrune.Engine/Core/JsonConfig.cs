using System.Text.Json;

namespace UniPrune.Engine.Core;

/// <summary>
/// Read-only view of a JSON config (Hugging Face config.json and friends) that knows its file and key path,
/// so a missing or mistyped key fails naming both. Nothing here supplies a default model size.
/// </summary>
public sealed class JsonConfig
{
    private readonly JsonElement _element;
    public string File { get; }
    public string KeyPath { get; }

    private JsonConfig(string file, string keyPath, JsonElement element)
    {
        File = file; KeyPath = keyPath; _element = element;
    }

    public static JsonConfig Load(string file)
    {
        if (!System.IO.File.Exists(file)) throw new FileNotFoundException($"{file}: config file not found", file);
        try
        {
            using var doc = JsonDocument.Parse(System.IO.File.ReadAllBytes(file),
                new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new CheckpointFormatException(file, "expected a JSON object at the top level");
            return new JsonConfig(file, "", doc.RootElement.Clone());
        }
        catch (JsonException e) { throw new CheckpointFormatException(file, $"not valid JSON ({e.Message})"); }
    }

    public static JsonConfig Parse(string json, string nameForErrors)
    {
        using var doc = JsonDocument.Parse(json);
        return new JsonConfig(nameForErrors, "", doc.RootElement.Clone());
    }

    private string Full(string key) => KeyPath.Length == 0 ? key : $"{KeyPath}.{key}";

    public bool Has(string key) => _element.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null;

    public JsonConfig Section(string key) => TryGet(key, out var v) && v.ValueKind == JsonValueKind.Object
        ? new JsonConfig(File, Full(key), v)
        : throw new CheckpointFormatException(File, $"missing required section '{Full(key)}' (expected a JSON object)");

    public JsonConfig? OptionalSection(string key) => TryGet(key, out var v) && v.ValueKind == JsonValueKind.Object
        ? new JsonConfig(File, Full(key), v) : null;

    public int Int(string key) => Element(key, JsonValueKind.Number, "an integer").TryGetInt32(out var i) ? i : throw Wrong(key, "an integer");
    public long Long(string key) => Element(key, JsonValueKind.Number, "an integer").TryGetInt64(out var i) ? i : throw Wrong(key, "an integer");
    public double Double(string key) => Element(key, JsonValueKind.Number, "a number").GetDouble();
    public string String(string key) => Element(key, JsonValueKind.String, "a string").GetString()!;
    public bool Bool(string key) => TryGet(key, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False
        ? v.GetBoolean() : throw Missing(key, "true or false");
    public int[] IntArray(string key) => Element(key, JsonValueKind.Array, "an array of integers").EnumerateArray()
        .Select(x => x.ValueKind == JsonValueKind.Number && x.TryGetInt32(out var i) ? i : throw Wrong(key, "an array of integers")).ToArray();
    public double[] DoubleArray(string key) => Element(key, JsonValueKind.Array, "an array of numbers").EnumerateArray()
        .Select(x => x.ValueKind == JsonValueKind.Number ? x.GetDouble() : throw Wrong(key, "an array of numbers")).ToArray();

    /// <summary>Only for keys whose absence has a documented meaning (not for sizes): the default is explicit at the call site.</summary>
    public int IntOr(string key, int fallback) => Has(key) ? Int(key) : fallback;
    public double DoubleOr(string key, double fallback) => Has(key) ? Double(key) : fallback;
    public string StringOr(string key, string fallback) => Has(key) ? String(key) : fallback;
    public bool BoolOr(string key, bool fallback) => Has(key) ? Bool(key) : fallback;
    public int[]? IntArrayOrNull(string key) => Has(key) ? IntArray(key) : null;

    public JsonElement Raw => _element;

    private bool TryGet(string key, out JsonElement value)
    {
        if (_element.TryGetProperty(key, out value) && value.ValueKind != JsonValueKind.Null) return true;
        value = default;
        return false;
    }

    private JsonElement Element(string key, JsonValueKind kind, string expected)
    {
        if (!TryGet(key, out var v)) throw Missing(key, expected);
        return v.ValueKind == kind ? v : throw Wrong(key, expected);
    }

    private CheckpointFormatException Missing(string key, string expected) =>
        new(File, $"missing required key '{Full(key)}' (expected {expected})");

    private CheckpointFormatException Wrong(string key, string expected) =>
        new(File, $"key '{Full(key)}' has the wrong form (expected {expected})");
}
