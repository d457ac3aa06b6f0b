using System.Globalization;
using System.Text.Json;
using UniPrune.Engine.Running;

namespace UniPrune.Engine.Timing;

/// <summary>One budget: cells matching <see cref="Cells"/> (a cell filter) must stay within the given ratios, measured in the
/// same run against the vanilla cell of the same model and dataset. A null limit is not checked.</summary>
public sealed record TimingBudget(string Cells, double? MaxPrefillRatio, double? MaxMethodShare);

/// <summary>What one cell measured against its vanilla peer, and which budgets it broke.</summary>
public sealed record TimingVerdict(double PrefillRatio, double MethodShare, IReadOnlyList<string> Violations)
{
    public bool Passed => Violations.Count == 0;
}

/// <summary>
/// Timing budgets of one device class, from baselines/timing/&lt;device-class&gt;.json. Budgets are ratios, never absolute times,
/// so they hold across machines of a class; absolute medians are recorded in results but never asserted.
/// </summary>
public sealed class TimingBudgets
{
    public string DeviceClass { get; }
    public string? File { get; }
    public IReadOnlyList<TimingBudget> Budgets { get; }

    private TimingBudgets(string deviceClass, string? file, IReadOnlyList<TimingBudget> budgets) { DeviceClass = deviceClass; File = file; Budgets = budgets; }

    public static string PathFor(string baselinesRoot, string deviceClass) => Path.Combine(baselinesRoot, "timing", $"{deviceClass}.json");

    /// <summary>Loads the class's budgets; a class with no file has none (timings are still recorded).</summary>
    public static TimingBudgets Load(string baselinesRoot, string deviceClass)
    {
        var file = PathFor(baselinesRoot, deviceClass);
        if (!System.IO.File.Exists(file)) return new TimingBudgets(deviceClass, null, []);
        using var doc = JsonDocument.Parse(System.IO.File.ReadAllBytes(file));
        var root = doc.RootElement;
        string Fail(string field, string expected) => throw new FormatException($"{file}: field '{field}' must be {expected}");
        if (!root.TryGetProperty("deviceClass", out var dc) || dc.GetString() != deviceClass) Fail("deviceClass", $"\"{deviceClass}\" (the file name)");
        if (!root.TryGetProperty("budgets", out var list) || list.ValueKind != JsonValueKind.Array) Fail("budgets", "an array");
        var budgets = new List<TimingBudget>();
        int i = 0;
        foreach (var b in list.EnumerateArray())
        {
            var at = $"budgets[{i++}]";
            var cells = b.TryGetProperty("cells", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : Fail($"{at}.cells", "a cell filter string such as \"Method=DivPrune\"");
            CellFilter.Parse(cells);
            double? Limit(string key) => !b.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null ? null
                : v.ValueKind == JsonValueKind.Number && v.GetDouble() > 0 ? v.GetDouble() : double.Parse(Fail($"{at}.{key}", "a positive number or null"), CultureInfo.InvariantCulture);
            budgets.Add(new TimingBudget(cells, Limit("maxPrefillRatio"), Limit("maxMethodShare")));
        }
        return new TimingBudgets(deviceClass, file, budgets);
    }

    /// <summary>Checks one pruned cell against its vanilla peer's timings from the same run.</summary>
    public TimingVerdict Check(CellSpec cell, TimingSummary pruned, TimingSummary vanilla)
    {
        double prefillRatio = vanilla.PrefillMs > 0 ? pruned.PrefillMs / vanilla.PrefillMs : 0;
        double methodShare = pruned.MethodShare;
        var violations = new List<string>();
        foreach (var budget in Budgets.Where(b => CellFilter.Parse(b.Cells).Matches(cell)))
        {
            if (budget.MaxPrefillRatio is double maxPrefill && prefillRatio > maxPrefill)
                violations.Add($"prefill {pruned.PrefillMs:0.###} ms is {prefillRatio:0.###} × vanilla's {vanilla.PrefillMs:0.###} ms; budget '{budget.Cells}' allows {maxPrefill:0.###} × ({File})");
            if (budget.MaxMethodShare is double maxShare && methodShare > maxShare)
                violations.Add($"method time {pruned.MethodMs:0.###} ms is {methodShare * 100:0.0}% of the total {pruned.TotalMs:0.###} ms; budget '{budget.Cells}' allows {maxShare * 100:0.0}% ({File})");
        }
        return new TimingVerdict(prefillRatio, methodShare, violations);
    }
}
