using System.Globalization;
using System.Text;
using System.Text.Json;

namespace UniPrune.Engine.Reporting;

/// <summary>
/// The one JSON form every baseline and result is written in, so a changed number is a one-line diff: keys sorted (ordinal),
/// two-space indent, LF line ends and a final LF, integers as integers, every other number with exactly six decimals.
/// Values are plain trees: <see cref="IDictionary{TKey,TValue}"/> of string keys, <see cref="IEnumerable{T}"/> lists,
/// string, bool, null, integral types (int, long) and floating types (double, float).
/// </summary>
public static class CanonicalJson
{
    public const string FloatFormat = "F6";

    // Non-ASCII text (MMBench-CN answers, category names) stays readable in diffs instead of \uXXXX escapes.
    private static readonly JsonSerializerOptions Readable = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string Serialize(object? value)
    {
        var sb = new StringBuilder();
        Write(sb, value, 0);
        sb.Append('\n');
        return sb.ToString();
    }

    /// <summary>One-line form (JSONL records): same key order and number format, no whitespace.</summary>
    public static string SerializeLine(object? value)
    {
        var sb = new StringBuilder();
        Write(sb, value, -1);
        return sb.ToString();
    }

    /// <summary>Parses JSON text into the same plain tree (SortedDictionary, List, string, long, double, bool, null).</summary>
    public static object? Parse(string json, string nameForErrors)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return FromElement(doc.RootElement);
        }
        catch (JsonException e) { throw new FormatException($"{nameForErrors}: not valid JSON ({e.Message})", e); }
    }

    public static object? FromElement(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => new SortedDictionary<string, object?>(e.EnumerateObject().ToDictionary(p => p.Name, p => FromElement(p.Value)), StringComparer.Ordinal),
        JsonValueKind.Array => e.EnumerateArray().Select(FromElement).ToList(),
        JsonValueKind.String => e.GetString(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Null => null,
        // The text decides: "3" is an integer, "3.000000" a float, so a round trip keeps the form.
        JsonValueKind.Number => e.GetRawText().IndexOfAny(['.', 'e', 'E']) < 0 && e.TryGetInt64(out var l) ? (object)l : e.GetDouble(),
        _ => throw new FormatException($"unsupported JSON value kind {e.ValueKind}"),
    };

    /// <summary>Leaf values by dotted path ("scores.accuracy", "categories.OCR.hits", "list[2]"), for comparison and diffs.</summary>
    public static SortedDictionary<string, object?> Flatten(object? tree)
    {
        var leaves = new SortedDictionary<string, object?>(StringComparer.Ordinal);
        void Walk(object? node, string path)
        {
            switch (node)
            {
                case IDictionary<string, object?> map:
                    if (map.Count == 0) leaves[path] = "{}";
                    foreach (var (k, v) in map) Walk(v, path.Length == 0 ? k : $"{path}.{k}");
                    break;
                case string or null or bool: leaves[path] = node; break;
                case System.Collections.IEnumerable list:
                    int i = 0;
                    foreach (var item in list) Walk(item, $"{path}[{i++}]");
                    if (i == 0) leaves[path] = "[]";
                    break;
                default: leaves[path] = node; break;
            }
        }
        Walk(tree, "");
        return leaves;
    }

    public static string FormatNumber(object number) => number switch
    {
        int or long or short or byte or uint or ushort => Convert.ToString(number, CultureInfo.InvariantCulture)!,
        double d => FormatDouble(d),
        float f => FormatDouble(f),
        decimal m => FormatDouble((double)m),
        _ => throw new ArgumentException($"not a number: {number.GetType().Name}"),
    };

    private static string FormatDouble(double d)
    {
        if (!double.IsFinite(d)) throw new ArgumentException($"canonical JSON cannot hold {d}: a metric must be finite (store null for 'not defined')");
        var text = d.ToString(FloatFormat, CultureInfo.InvariantCulture);
        return text == "-0.000000" ? "0.000000" : text; // a rounded negative zero would be a spurious one-character diff
    }

    private static void Write(StringBuilder sb, object? value, int indent)
    {
        switch (value)
        {
            case null: sb.Append("null"); break;
            case string s: sb.Append(JsonSerializer.Serialize(s, Readable)); break;
            case bool b: sb.Append(b ? "true" : "false"); break;
            case int or long or short or byte or uint or ushort or double or float or decimal: sb.Append(FormatNumber(value)); break;
            case IDictionary<string, object?> map: WriteObject(sb, map.Select(p => (p.Key, p.Value)), indent); break;
            case System.Collections.IDictionary:
                throw new ArgumentException("canonical JSON objects must be IDictionary<string, object?>");
            case System.Collections.IEnumerable list: WriteArray(sb, list.Cast<object?>().ToList(), indent); break;
            default: throw new ArgumentException($"canonical JSON cannot write a {value.GetType().Name}");
        }
    }

    private static void WriteObject(StringBuilder sb, IEnumerable<(string Key, object? Value)> members, int indent)
    {
        var sorted = members.OrderBy(m => m.Key, StringComparer.Ordinal).ToList();
        if (sorted.Count == 0) { sb.Append("{}"); return; }
        int inner = indent < 0 ? -1 : indent + 1; // -1: the one-line form
        sb.Append('{');
        for (int i = 0; i < sorted.Count; i++)
        {
            if (i > 0) sb.Append(',');
            NewLine(sb, inner);
            sb.Append(JsonSerializer.Serialize(sorted[i].Key, Readable)).Append(indent < 0 ? ":" : ": ");
            Write(sb, sorted[i].Value, inner);
        }
        NewLine(sb, indent);
        sb.Append('}');
    }

    private static void WriteArray(StringBuilder sb, List<object?> items, int indent)
    {
        if (items.Count == 0) { sb.Append("[]"); return; }
        // Arrays of scalars stay on one line: kept-count lists read better and diff as one line.
        bool scalars = items.All(v => v is null or string or bool or int or long or double or float);
        int inner = indent < 0 ? -1 : indent + 1;
        sb.Append('[');
        for (int i = 0; i < items.Count; i++)
        {
            if (i > 0) sb.Append(scalars && indent >= 0 ? ", " : ",");
            if (!scalars) NewLine(sb, inner);
            Write(sb, items[i], inner);
        }
        if (!scalars) NewLine(sb, indent);
        sb.Append(']');
    }

    private static void NewLine(StringBuilder sb, int indent)
    {
        if (indent < 0) return;
        sb.Append('\n').Append(' ', indent * 2);
    }
}
