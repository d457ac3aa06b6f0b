using System.Globalization;
using System.Text;
using UniPrune.Engine.Running;

namespace UniPrune.Engine.Reporting;

/// <summary>One finished cell as read back from its result.json (the report works from files, so shards of a GPU run merge).</summary>
public sealed record ReportRow(CellSpec Cell, string Primary, double PrimaryValue, int Samples, double PrefillMs, double MethodMs, double TotalMs, double KeptMean, string DeviceClass);

/// <summary>
/// The paper-style table: for each model and retention, one row per method and one column per dataset, each entry the
/// primary score and its relative drop against the vanilla cell of the same model and dataset, then the paper's average
/// (the mean score over the datasets) with its relative drop against vanilla's average, and the median prefill and method
/// time (averaged over datasets). The drop of the average, not the average of the per-dataset drops: a dataset on which
/// vanilla scores near zero would otherwise dominate (4.2 → 14.6 reads as −250 %).
/// </summary>
public static class MarkdownReport
{
    public static IReadOnlyList<ReportRow> ReadResults(IEnumerable<string> resultRoots)
    {
        var rows = new Dictionary<string, ReportRow>();
        foreach (var root in resultRoots)
        {
            if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"results folder '{root}' does not exist");
            foreach (var file in Directory.EnumerateFiles(root, "result.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                var tree = CanonicalJson.Parse(File.ReadAllText(file), file) as IDictionary<string, object?>
                    ?? throw new FormatException($"{file}: expected a JSON object");
                var row = FromResult(file, tree);
                rows[row.Cell.Id] = row; // a later shard's copy of the same cell replaces an earlier one
            }
        }
        return rows.Values.ToList();
    }

    private static ReportRow FromResult(string file, IDictionary<string, object?> tree)
    {
        T Get<T>(IDictionary<string, object?> map, string key, string section) => map.TryGetValue(key, out var v) && v is T t ? t
            : throw new FormatException($"{file}: field '{section}{key}' missing or not a {typeof(T).Name}");
        double Num(IDictionary<string, object?> map, string key, string section) => map.TryGetValue(key, out var v) && v is long or double
            ? Convert.ToDouble(v, CultureInfo.InvariantCulture) : throw new FormatException($"{file}: field '{section}{key}' missing or not a number");
        var run = Get<IDictionary<string, object?>>(tree, "run", "");
        var timing = Get<IDictionary<string, object?>>(tree, "timing", "");
        var scores = Get<IDictionary<string, object?>>(tree, "scores", "");
        var kept = Get<IDictionary<string, object?>>(tree, "kept", "");
        var primary = Get<string>(tree, "primary", "");
        var id = Get<string>(tree, "cell", "");
        var parsed = CellSpec.ParseId(id);
        var cell = parsed with { Tier = Get<string>(run, "tier", "run."), Stage = Get<string>(run, "stage", "run.") };
        return new ReportRow(cell, primary, Num(scores, primary, "scores."), (int)Num(tree, "samples", ""),
            Num(timing, "medianPrefillMs", "timing."), Num(timing, "medianMethodMs", "timing."), Num(timing, "medianTotalMs", "timing."),
            Num(kept, "keptTokensMean", "kept."), Get<string>(timing, "deviceClass", "timing."));
    }

    public static string Render(IReadOnlyList<ReportRow> rows, string title = "UniPrune results")
    {
        var md = new StringBuilder();
        md.Append($"# {title}\n\n");
        md.Append("Each entry: primary score (relative drop vs. vanilla of the same model and dataset, %). Vanilla is the first row of ")
          .Append("every table. avg: mean score over the datasets shown (the paper's Avg.); avg drop: its relative drop against vanilla's ")
          .Append("mean over the same datasets. prefill, method: median ms per sample, averaged over datasets; ")
          .Append("prefill × van.: median over datasets of the cell's median prefill ÷ its vanilla cell's.\n");
        var devices = rows.Select(r => r.DeviceClass).Distinct().Order().ToList();
        md.Append($"Device class: {string.Join(", ", devices)}. Cells: {rows.Count}.\n");
        var vanilla = rows.Where(r => r.Cell.IsVanilla).ToDictionary(r => (r.Cell.Model, r.Cell.Dataset));
        foreach (var model in rows.Select(r => r.Cell.Model).Distinct().Order(StringComparer.Ordinal))
        {
            var ofModel = rows.Where(r => r.Cell.Model == model).ToList();
            var datasets = ofModel.Select(r => r.Cell.Dataset).Distinct().Order(StringComparer.Ordinal).ToList();
            var ratios = ofModel.Where(r => !r.Cell.IsVanilla).Select(r => r.Cell.Ratio).Distinct()
                .OrderByDescending(r => double.Parse(r, CultureInfo.InvariantCulture)).ToList();
            // Only vanilla cells selected: one table of them; otherwise each retention's table starts with its vanilla row.
            if (ratios.Count == 0) ratios = [CellSpec.VanillaRatio];
            foreach (var ratio in ratios)
            {
                md.Append($"\n## {model}, retention {ratio} %\n\n");
                md.Append("| method | ").AppendJoin(" | ", datasets).Append(" | avg | avg drop % | prefill ms | prefill × van. | method ms |\n");
                md.Append("| --- | ").AppendJoin(" | ", datasets.Select(_ => "---:")).Append(" | ---: | ---: | ---: | ---: | ---: |\n");
                var vanillaRows = ofModel.Where(r => r.Cell.IsVanilla).ToList();
                var groups = ofModel.Where(r => r.Cell.Ratio == ratio && !r.Cell.IsVanilla)
                    .GroupBy(r => r.Cell.Method + (r.Cell.StageInId ? $" ({r.Cell.Stage})" : ""))
                    .OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => (g.Key, Rows: g.ToList())).ToList();
                if (vanillaRows.Count > 0) groups.Insert(0, (CellSpec.VanillaMethod, vanillaRows));
                foreach (var (name, group) in groups)
                {
                    var prefillRatios = new List<double>();
                    md.Append($"| {name} |");
                    foreach (var dataset in datasets)
                    {
                        var row = group.FirstOrDefault(r => r.Cell.Dataset == dataset);
                        if (row is null) { md.Append(" – |"); continue; }
                        md.Append(' ').Append(Format(row.PrimaryValue));
                        if (!row.Cell.IsVanilla && vanilla.TryGetValue((model, dataset), out var v))
                        {
                            if (RelativeDrop(v.PrimaryValue, row.PrimaryValue) is { } drop) md.Append($" ({FormatDrop(drop)})");
                            if (v.PrefillMs > 0) prefillRatios.Add(row.PrefillMs / v.PrefillMs);
                        }
                        md.Append(" |");
                    }
                    md.Append($" {Format(group.Average(r => r.PrimaryValue))} |");
                    md.Append(group.Any(r => r.Cell.IsVanilla) || DropOfMean(model, group, vanilla) is not { } meanDrop
                        ? " – |" : $" {FormatDrop(meanDrop)} |");
                    md.Append($" {Invariant(group.Average(r => r.PrefillMs), "0.00")} |");
                    md.Append(prefillRatios.Count == 0 ? " – |" : $" {Invariant(Timing.TimingSummary.Median(prefillRatios), "0.00")} |");
                    md.Append($" {Invariant(group.Average(r => r.MethodMs), "0.000")} |\n");
                }
            }
            if (ratios.Count > 1 || ratios[0] != CellSpec.VanillaRatio) AppendSummary(md, model, ofModel, ratios, vanilla);
        }
        return md.ToString();
    }

    /// <summary>The paper's headline view: per method, the relative drop of its average score at each retention.</summary>
    private static void AppendSummary(StringBuilder md, string model, List<ReportRow> ofModel, List<string> ratios,
        Dictionary<(string Model, string Dataset), ReportRow> vanilla)
    {
        md.Append($"\n## {model}: relative drop % of the average score, by retention\n\n");
        md.Append("| method | ").AppendJoin(" | ", ratios.Select(r => r + " %")).Append(" |\n");
        md.Append("| --- | ").AppendJoin(" | ", ratios.Select(_ => "---:")).Append(" |\n");
        foreach (var group in ofModel.Where(r => !r.Cell.IsVanilla).GroupBy(r => r.Cell.Method + (r.Cell.StageInId ? $" ({r.Cell.Stage})" : ""))
                     .OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            md.Append($"| {group.Key} |");
            foreach (var ratio in ratios)
            {
                var drop = DropOfMean(model, group.Where(r => r.Cell.Ratio == ratio).ToList(), vanilla);
                md.Append(drop is { } d ? $" {FormatDrop(d)} |" : " – |");
            }
            md.Append('\n');
        }
    }

    /// <summary>
    /// Relative drop % of the cells' mean score against vanilla's mean over the same datasets (a dataset without a vanilla
    /// cell is left out of both means); null when nothing compares or vanilla's mean is 0.
    /// </summary>
    private static double? DropOfMean(string model, IReadOnlyCollection<ReportRow> cells,
        IReadOnlyDictionary<(string Model, string Dataset), ReportRow> vanilla)
    {
        var pairs = cells.Where(r => vanilla.ContainsKey((model, r.Cell.Dataset)))
            .Select(r => (Score: r.PrimaryValue, Vanilla: vanilla[(model, r.Cell.Dataset)].PrimaryValue)).ToList();
        return pairs.Count == 0 ? null : RelativeDrop(pairs.Average(p => p.Vanilla), pairs.Average(p => p.Score));
    }

    private static double? RelativeDrop(double vanilla, double pruned) =>
        vanilla == 0 ? null : (vanilla - pruned) / Math.Abs(vanilla) * 100;

    // Markdown numbers are written invariantly (a decimal point whatever the machine's culture).
    private static string Format(double value) => Invariant(value, Math.Abs(value) >= 100 ? "0.0" : "0.00");
    private static string FormatDrop(double percent) => Invariant(percent, "+0.0;-0.0;0.0");
    private static string Invariant(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);
}
