using System.Text;
using System.Text.Json;
using UniPrune.Engine.Reporting;
using UniPrune.Engine.Timing;

namespace UniPrune.Engine.Running;

/// <summary>One line of a cell's samples.jsonl.</summary>
public sealed record SampleRecord(string Id, string PromptHash, string Prediction, double? Score, int VisualTokens, int KeptTokens, SampleTimings Timings, bool Warmup,
    int PromptTokens = 0)
{
    public SortedDictionary<string, object?> ToTree() => new(StringComparer.Ordinal)
    {
        ["id"] = Id, ["promptHash"] = PromptHash, ["prediction"] = Prediction, ["score"] = Score,
        ["visualTokens"] = VisualTokens, ["keptTokens"] = KeptTokens, ["promptTokens"] = PromptTokens, ["warmup"] = Warmup,
        ["timings"] = new SortedDictionary<string, object?>(StringComparer.Ordinal)
        {
            ["totalMs"] = Timings.TotalMs, ["visionMs"] = Timings.VisionMs, ["prefillMs"] = Timings.PrefillMs,
            ["decodeMs"] = Timings.DecodeMs, ["methodMs"] = Timings.MethodMs,
        },
    };

    public static SampleRecord FromJson(JsonElement e)
    {
        var timings = e.GetProperty("timings");
        double T(string key) => timings.GetProperty(key).GetDouble();
        var score = e.GetProperty("score");
        return new SampleRecord(
            e.GetProperty("id").GetString()!, e.GetProperty("promptHash").GetString()!, e.GetProperty("prediction").GetString()!,
            score.ValueKind == JsonValueKind.Null ? null : score.GetDouble(),
            e.GetProperty("visualTokens").GetInt32(), e.GetProperty("keptTokens").GetInt32(),
            new SampleTimings(T("totalMs"), T("visionMs"), T("prefillMs"), T("decodeMs"), T("methodMs")),
            e.GetProperty("warmup").GetBoolean(),
            e.TryGetProperty("promptTokens", out var prompt) ? prompt.GetInt32() : 0);
    }
}

/// <summary>
/// The results folder: per cell, <c>&lt;cell id&gt;/samples.jsonl</c> (one line per finished sample, appended and flushed as
/// each finishes, so a crash loses at most the sample in flight), <c>fingerprint.txt</c> and <c>result.json</c>. Whole files are
/// replaced atomically (temp file + rename), never written in place.
/// </summary>
public sealed class RunStore
{
    public string Root { get; }

    public RunStore(string root) { Root = Path.GetFullPath(root); Directory.CreateDirectory(Root); }

    public string CellFolder(CellSpec cell) => Path.Combine(Root, cell.Id.Replace('/', Path.DirectorySeparatorChar));
    public string SamplesPath(CellSpec cell) => Path.Combine(CellFolder(cell), "samples.jsonl");
    public string ResultPath(CellSpec cell) => Path.Combine(CellFolder(cell), "result.json");
    private string FingerprintPath(CellSpec cell) => Path.Combine(CellFolder(cell), "fingerprint.txt");

    /// <summary>
    /// Finished samples of a cell recorded under the same fingerprint. A different fingerprint (new build, other weights or
    /// data) discards them. A torn last line (the process died mid-write) is ignored; any other bad line is an error naming it.
    /// </summary>
    public IReadOnlyDictionary<string, SampleRecord> LoadFinished(CellSpec cell, string fingerprint)
    {
        Directory.CreateDirectory(CellFolder(cell));
        var fingerprintFile = FingerprintPath(cell);
        var samples = SamplesPath(cell);
        if (!File.Exists(fingerprintFile) || File.ReadAllText(fingerprintFile) != fingerprint)
        {
            File.Delete(samples);
            File.Delete(ResultPath(cell));
            WriteAtomically(fingerprintFile, fingerprint);
            return new Dictionary<string, SampleRecord>();
        }
        var finished = new Dictionary<string, SampleRecord>();
        if (!File.Exists(samples)) return finished;
        var lines = File.ReadAllLines(samples);
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].Length == 0) continue;
            try
            {
                using var doc = JsonDocument.Parse(lines[i]);
                var record = SampleRecord.FromJson(doc.RootElement);
                finished[Key(record.Id, record.PromptHash)] = record;
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                if (i == lines.Length - 1) break; // torn final line from an interrupted write
                throw new FormatException($"{samples}: line {i + 1} is not a sample record ({e.Message})", e);
            }
        }
        return finished;
    }

    public static string Key(string id, string promptHash) => $"{id}\u0001{promptHash}";

    /// <summary>Appends one finished sample and flushes it to disk before returning.</summary>
    public void Append(CellSpec cell, SampleRecord record)
    {
        var path = SamplesPath(cell);
        // A torn final line from an earlier crash must not glue onto the next record.
        bool needsNewLine = File.Exists(path) && new FileInfo(path).Length > 0 && LastByte(path) != (byte)'\n';
        using var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
        var bytes = Encoding.UTF8.GetBytes((needsNewLine ? "\n" : "") + CanonicalJson.SerializeLine(record.ToTree()) + "\n");
        stream.Write(bytes);
        // Written through to the kernel, not fsynced: a crashed process loses nothing that was written, and one fsync per
        // sample cost more than the sample itself in the embedded tier (a power loss costs at most a re-run of those samples).
        stream.Flush(flushToDisk: false);
    }

    /// <summary>Replaces samples.jsonl with the scored records in dataset order, and writes result.json, both atomically.</summary>
    public void Complete(CellSpec cell, IReadOnlyList<SampleRecord> records, object? resultTree)
    {
        var jsonl = new StringBuilder();
        foreach (var r in records) jsonl.Append(CanonicalJson.SerializeLine(r.ToTree())).Append('\n');
        WriteAtomically(SamplesPath(cell), jsonl.ToString());
        WriteAtomically(ResultPath(cell), CanonicalJson.Serialize(resultTree));
    }

    public static void WriteAtomically(string path, string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
        {
            stream.Write(new UTF8Encoding(false).GetBytes(text));
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }

    private static byte LastByte(string path)
    {
        using var stream = File.OpenRead(path);
        stream.Seek(-1, SeekOrigin.End);
        return (byte)stream.ReadByte();
    }
}
