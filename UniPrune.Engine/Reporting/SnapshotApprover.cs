using System.Globalization;
using System.Text;
using UniPrune.Engine.Running;

namespace UniPrune.Engine.Reporting;

public enum ApprovalStatus
{
    /// <summary>The received snapshot is byte-identical to the verified file.</summary>
    Identical,
    /// <summary>Some numbers moved, all within their manifest tolerances; the verified file stays as it is.</summary>
    WithinTolerance,
    /// <summary>No verified file: a failure (a received file was written).</summary>
    Missing,
    /// <summary>Beyond tolerance: a failure (a received file was written).</summary>
    Mismatch,
    /// <summary>Accepting was asked for: the received snapshot became the verified file.</summary>
    Accepted,
}

public sealed record ApprovalResult(ApprovalStatus Status, string VerifiedPath, string ReceivedPath, string Message)
{
    public bool Passed => Status is ApprovalStatus.Identical or ApprovalStatus.WithinTolerance or ApprovalStatus.Accepted;
}

/// <summary>
/// Verify's received/verified workflow for cell snapshots. Each cell has one verified file,
/// <c>baselines/accuracy/&lt;model&gt;/&lt;dataset&gt;/&lt;method&gt;@&lt;ratio&gt;[#stage].verified.json</c>. A snapshot that differs beyond the
/// manifest's per-metric tolerance (or has no verified file) is written beside it as <c>.received.json</c> and the check fails
/// with a readable diff and the command that accepts it. Within tolerance the verified file is left untouched (tolerances are
/// comparers, not rewrites). Accepting moves received over verified.
/// </summary>
public sealed class SnapshotApprover
{
    public const string AcceptVariable = "UNIPRUNE_ACCEPT";
    public string BaselinesRoot { get; }
    private readonly BenchManifest _manifest;

    public SnapshotApprover(string baselinesRoot, BenchManifest manifest) { BaselinesRoot = Path.GetFullPath(baselinesRoot); _manifest = manifest; }

    /// <summary>True when UNIPRUNE_ACCEPT is 1/true: this run accepts every snapshot it produces (CI never sets it).</summary>
    public static bool AcceptRequested => Environment.GetEnvironmentVariable(AcceptVariable) is "1" or "true" or "TRUE" or "True";

    public static string AccuracyRoot(string baselinesRoot) => Path.Combine(baselinesRoot, "accuracy");

    public string VerifiedPath(CellSpec cell) => PathFor(cell, ".verified.json");
    public string ReceivedPath(CellSpec cell) => PathFor(cell, ".received.json");

    private string PathFor(CellSpec cell, string suffix) =>
        Path.Combine(AccuracyRoot(BaselinesRoot), cell.Model, cell.Dataset, cell.Id.Split('/')[2] + suffix);

    /// <summary>The cell id a verified or received file belongs to, or null when the name does not follow the pattern.</summary>
    public static string? CellIdOf(string accuracyRoot, string file)
    {
        var relative = Path.GetRelativePath(accuracyRoot, file).Replace(Path.DirectorySeparatorChar, '/');
        foreach (var suffix in new[] { ".verified.json", ".received.json" })
            if (relative.EndsWith(suffix, StringComparison.Ordinal))
            {
                var id = relative[..^suffix.Length];
                return id.Count(c => c == '/') == 2 && id.Contains('@') ? id : null;
            }
        return null;
    }

    public ApprovalResult Check(CellSpec cell, object snapshot, bool accept)
    {
        var verified = VerifiedPath(cell);
        var received = ReceivedPath(cell);
        var text = CanonicalJson.Serialize(snapshot);
        if (accept)
        {
            RunStore.WriteAtomically(verified, text);
            File.Delete(received);
            return new ApprovalResult(ApprovalStatus.Accepted, verified, received, $"{cell.Id}: accepted into {Relative(verified)}");
        }
        if (!File.Exists(verified))
        {
            RunStore.WriteAtomically(received, text);
            return new ApprovalResult(ApprovalStatus.Missing, verified, received,
                $"{cell.Id}: no approved baseline at {Relative(verified)}.\nThe result was written to {Relative(received)}; review it, then accept it:\n{AcceptCommands(cell)}");
        }
        var verifiedText = File.ReadAllText(verified);
        if (verifiedText == text)
        {
            File.Delete(received);
            return new ApprovalResult(ApprovalStatus.Identical, verified, received, $"{cell.Id}: matches {Relative(verified)}");
        }
        var differences = Compare(cell, CanonicalJson.Parse(verifiedText, verified), snapshot, out var withinTolerance);
        if (differences.Count == 0)
        {
            File.Delete(received);
            var notes = withinTolerance.Count == 0 ? "" : "\n" + string.Join("\n", withinTolerance);
            return new ApprovalResult(ApprovalStatus.WithinTolerance, verified, received, $"{cell.Id}: within tolerance of {Relative(verified)}{notes}");
        }
        RunStore.WriteAtomically(received, text);
        var message = new StringBuilder()
            .Append($"{cell.Id}: {differences.Count} value(s) differ from {Relative(verified)} beyond tolerance:\n")
            .AppendJoin("\n", differences.Select(d => "  " + d))
            .Append($"\nThe result was written to {Relative(received)}. If the change is intended, accept it:\n{AcceptCommands(cell)}");
        return new ApprovalResult(ApprovalStatus.Mismatch, verified, received, message.ToString());
    }

    /// <summary>Every flattened path that differs beyond its tolerance, as "path: verified → received" lines.</summary>
    public List<string> Compare(CellSpec cell, object? verified, object? received, out List<string> withinTolerance)
    {
        var a = CanonicalJson.Flatten(verified);
        var b = CanonicalJson.Flatten(CanonicalJson.Parse(CanonicalJson.Serialize(received), "received snapshot"));
        var differences = new List<string>();
        withinTolerance = [];
        foreach (var path in a.Keys.Union(b.Keys).Order(StringComparer.Ordinal))
        {
            if (_manifest.IsIgnored(cell, path)) continue;
            bool inA = a.TryGetValue(path, out var va), inB = b.TryGetValue(path, out var vb);
            if (!inA) { differences.Add($"{path}: (absent) → {Show(vb)}"); continue; }
            if (!inB) { differences.Add($"{path}: {Show(va)} → (absent)"); continue; }
            if (IsNumber(va) && IsNumber(vb))
            {
                double x = Convert.ToDouble(va, CultureInfo.InvariantCulture), y = Convert.ToDouble(vb, CultureInfo.InvariantCulture);
                if (x == y) continue;
                double tolerance = _manifest.ToleranceFor(cell, path);
                // Half a unit of the last written decimal absorbs the rounding of the canonical form itself.
                if (Math.Abs(x - y) <= tolerance + 5e-7) { withinTolerance.Add($"  {path}: {Show(va)} → {Show(vb)} (|Δ| ≤ {tolerance})"); continue; }
                differences.Add($"{path}: {Show(va)} → {Show(vb)} (Δ {y - x:+0.######;-0.######}, tolerance {tolerance})");
            }
            else if (!Equals(Show(va), Show(vb))) differences.Add($"{path}: {Show(va)} → {Show(vb)}");
        }
        return differences;
    }

    /// <summary>Moves every received file whose cell matches <paramref name="filter"/> over its verified file; returns the cell ids.</summary>
    public IReadOnlyList<string> AcceptReceived(CellFilter filter)
    {
        var root = AccuracyRoot(BaselinesRoot);
        if (!Directory.Exists(root)) return [];
        var accepted = new List<string>();
        foreach (var received in Directory.EnumerateFiles(root, "*.received.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var id = CellIdOf(root, received) ?? throw new FormatException($"{received}: not named like a cell snapshot (model/dataset/method@ratio[#stage].received.json)");
            var cell = _manifest.Cells.FirstOrDefault(c => c.Id == id) ?? CellSpec.ParseId(id);
            if (!filter.Matches(cell)) continue;
            File.Move(received, received[..^".received.json".Length] + ".verified.json", overwrite: true);
            accepted.Add(id);
        }
        return accepted;
    }

    public static string AcceptCommands(CellSpec cell) =>
        $"  UNIPRUNE_ACCEPT=1 dotnet test UniPrune.sln -c Release --filter \"{TestFilter(cell)}\"\n" +
        $"  dotnet run --project UniPrune.Cli -c Release -- approve \"{TestFilter(cell)}\"";

    /// <summary>The dotnet test filter that selects exactly this cell.</summary>
    public static string TestFilter(CellSpec cell) =>
        $"Model={cell.Model}&Dataset={cell.Dataset}&Method={cell.Method}&Ratio={cell.Ratio}&Stage={Escape(cell.Stage)}";

    // VSTest filter values escape its operator characters with a backslash.
    private static string Escape(string value) => value.Replace("\\", "\\\\").Replace("(", "\\(").Replace(")", "\\)")
        .Replace("&", "\\&").Replace("|", "\\|").Replace("=", "\\=").Replace("!", "\\!").Replace("~", "\\~");

    private string Relative(string path)
    {
        var repo = Path.GetDirectoryName(BaselinesRoot.TrimEnd(Path.DirectorySeparatorChar))!;
        return Path.GetRelativePath(repo, path).Replace(Path.DirectorySeparatorChar, '/');
    }

    private static bool IsNumber(object? v) => v is long or int or double;
    private static string Show(object? v) => v switch
    {
        null => "null",
        string s => $"\"{s}\"",
        bool b => b ? "true" : "false",
        _ => CanonicalJson.FormatNumber(v),
    };
}
