using System.Globalization;
using System.Text.Json;
using UniPrune.Engine.Running;

namespace UniPrune.Engine.Timing;

/// <summary>One budget: cells matching <see cref="Cells"/> (a cell filter) must stay within the given ratios, measured in the
/// same run against the vanilla cell of the same model and dataset. A null limit is not checked.</summary>
public sealed record TimingBudget(string Cells, double? MaxPrefillRatio, double? MaxMethodShare);

/// <summary>
/// A budget over many cells at once, robust where one cell's timing is noise. For each matching pre-LLM cell: the measured
/// prefill ratio m (its median prefill ÷ its vanilla peer's) and the FLOP-ideal ratio i = (prompt − visual + kept tokens) ÷
/// prompt tokens give the share of the ideal saving realised, (1 − m) ÷ (1 − i): 1 = every FLOP saved is time saved, 0 = no
/// saving at all. The median over one model's cells must be at least <see cref="MinMedianSavingShare"/>.
/// </summary>
public sealed record PrefillSavingBudget(string Cells, double MinMedianSavingShare);

/// <summary>One model's pre-LLM cells against their FLOP-ideal prefill ratios.</summary>
/// <param name="PerCell">Cell id, measured prefill ratio, ideal ratio.</param>
public sealed record PrefillSavingVerdict(string Model, PrefillSavingBudget Budget, string? File,
    IReadOnlyList<(string Cell, double Measured, double Ideal)> PerCell)
{
    private IEnumerable<(string Cell, double Measured, double Ideal)> Judged => PerCell.Where(c => c.Ideal < 1);

    /// <summary>Share of the ideal saving realised by one cell: (1 − measured) ÷ (1 − ideal).</summary>
    public static double SavingShare(double measured, double ideal) => (1 - measured) / (1 - ideal);

    public double MedianSavingShare => Judged.Any() ? TimingSummary.Median(Judged.Select(c => SavingShare(c.Measured, c.Ideal))) : 0;
    public bool Passed => Judged.Any() && MedianSavingShare >= Budget.MinMedianSavingShare;

    public string Report() =>
        $"{Model}, cells '{Budget.Cells}': median share of the ideal prefill saving realised over {Judged.Count()} cells is {MedianSavingShare:0.###} " +
        $"(budget ≥ {Budget.MinMedianSavingShare:0.###}, {File}); median prefill {(PerCell.Count == 0 ? 0 : TimingSummary.Median(PerCell.Select(c => c.Measured))):0.###} × vanilla " +
        $"where the token counts allow {(PerCell.Count == 0 ? 0 : TimingSummary.Median(PerCell.Select(c => c.Ideal))):0.###} ×" +
        (Passed ? "" : "\nPREFILL SAVING BUDGET BROKEN: pruning before the LLM no longer saves the prefill time its kept tokens promise:\n" +
            string.Join("\n", Judged.OrderBy(c => SavingShare(c.Measured, c.Ideal)).Take(8).Select(c => $"  {c.Cell}: {c.Measured:0.###} × vanilla vs ideal {c.Ideal:0.###}")));

    /// <summary>The FLOP-ideal prefill ratio of a pre-LLM cell from its samples' token counts (linear layers dominate at these widths).</summary>
    public static double Ideal(IEnumerable<(int PromptTokens, int VisualTokens, int KeptTokens)> samples)
    {
        var list = samples.Where(s => s.PromptTokens > 0).ToList();
        if (list.Count == 0) throw new InvalidOperationException("no sample recorded its prompt length: the ideal prefill ratio needs it");
        return list.Average(s => (double)(s.PromptTokens - s.VisualTokens + s.KeptTokens)) / list.Average(s => (double)s.PromptTokens);
    }
}

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
    public IReadOnlyList<PrefillSavingBudget> PrefillSavings { get; }

    private TimingBudgets(string deviceClass, string? file, IReadOnlyList<TimingBudget> budgets, IReadOnlyList<PrefillSavingBudget> savings)
    {
        DeviceClass = deviceClass; File = file; Budgets = budgets; PrefillSavings = savings;
    }

    public static string PathFor(string baselinesRoot, string deviceClass) => Path.Combine(baselinesRoot, "timing", $"{deviceClass}.json");

    /// <summary>Loads the class's budgets; a class with no file has none (timings are still recorded).</summary>
    public static TimingBudgets Load(string baselinesRoot, string deviceClass)
    {
        var file = PathFor(baselinesRoot, deviceClass);
        if (!System.IO.File.Exists(file)) return new TimingBudgets(deviceClass, null, [], []);
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
        var savings = new List<PrefillSavingBudget>();
        if (root.TryGetProperty("prefillSavings", out var savingList))
        {
            if (savingList.ValueKind != JsonValueKind.Array) Fail("prefillSavings", "an array");
            i = 0;
            foreach (var s in savingList.EnumerateArray())
            {
                var at = $"prefillSavings[{i++}]";
                var cells = s.TryGetProperty("cells", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : Fail($"{at}.cells", "a cell filter string such as \"Stage=pre&Ratio=11.1\"");
                CellFilter.Parse(cells);
                var min = s.TryGetProperty("minMedianSavingShare", out var m) && m.ValueKind == JsonValueKind.Number && m.GetDouble() is > 0 and <= 1 ? m.GetDouble()
                    : double.Parse(Fail($"{at}.minMedianSavingShare", "a number in (0, 1]"), CultureInfo.InvariantCulture);
                savings.Add(new PrefillSavingBudget(cells, min));
            }
        }
        return new TimingBudgets(deviceClass, file, budgets, savings);
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
