using System.Globalization;
using System.Text;
using UniPrune.Engine.Running;

namespace UniPrune.Engine.Reporting;

/// <summary>One finished cell as read back from its result.json (the report works from files, so shards of a GPU run merge).</summary>
public sealed record ReportRow(CellSpec Cell, string Primary, double PrimaryValue, int Samples, double PrefillMs, double MethodMs, double TotalMs, double KeptMean, string DeviceClass);

/// <summary>
/// The paper-style table: for each model and retention, one row per method and one column per dataset, each entry the
/// primary score and its relative drop against the vanilla cell of the same model and dataset, then the median prefill and
/// method time (averaged over datasets).
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
          .Append("every table. avg drop: mean over the datasets shown. prefill, method: median ms per sample, averaged over datasets; ")
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
                md.Append("| method | ").AppendJoin(" | ", datasets).Append(" | avg drop % | prefill ms | prefill × van. | method ms |\n");
                md.Append("| --- | ").AppendJoin(" | ", datasets.Select(_ => "---:")).Append(" | ---: | ---: | ---: | ---: |\n");
                var vanillaRows = ofModel.Where(r => r.Cell.IsVanilla).ToList();
                var groups = ofModel.Where(r => r.Cell.Ratio == ratio && !r.Cell.IsVanilla)
                    .GroupBy(r => r.Cell.Method + (r.Cell.StageInId ? $" ({r.Cell.Stage})" : ""))
                    .OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => (g.Key, Rows: g.ToList())).ToList();
                if (vanillaRows.Count > 0) groups.Insert(0, (CellSpec.VanillaMethod, vanillaRows));
                foreach (var (name, group) in groups)
                {
                    var drops = new List<double>();
                    var prefillRatios = new List<double>();
                    md.Append($"| {name} |");
                    foreach (var dataset in datasets)
                    {
                        var row = group.FirstOrDefault(r => r.Cell.Dataset == dataset);
                        if (row is null) { md.Append(" – |"); continue; }
                        md.Append(' ').Append(Format(row.PrimaryValue));
                        if (!row.Cell.IsVanilla && vanilla.TryGetValue((model, dataset), out var v))
                        {
                            if (v.PrimaryValue != 0)
                            {
                                double drop = (v.PrimaryValue - row.PrimaryValue) / Math.Abs(v.PrimaryValue) * 100;
                                drops.Add(drop);
                                md.Append($" ({drop:+0.0;-0.0;0.0})");
                            }
                            if (v.PrefillMs > 0) prefillRatios.Add(row.PrefillMs / v.PrefillMs);
                        }
                        md.Append(" |");
                    }
                    md.Append(drops.Count == 0 ? " – |" : $" {drops.Average():+0.0;-0.0;0.0} |");
                    md.Append($" {group.Average(r => r.PrefillMs):0.00} |");
                    md.Append(prefillRatios.Count == 0 ? " – |" : $" {Timing.TimingSummary.Median(prefillRatios):0.00} |");
                    md.Append($" {group.Average(r => r.MethodMs):0.000} |\n");
                }
            }
            if (ratios.Count > 1 || ratios[0] != CellSpec.VanillaRatio) AppendSummary(md, model, ofModel, ratios, vanilla);
        }
        return md.ToString();
    }

    /// <summary>The paper's headline view: per method, the mean relative drop over the model's datasets at each retention.</summary>
    private static void AppendSummary(StringBuilder md, string model, List<ReportRow> ofModel, List<string> ratios,
        Dictionary<(string Model, string Dataset), ReportRow> vanilla)
    {
        md.Append($"\n## {model}: mean relative drop % over datasets, by retention\n\n");
        md.Append("| method | ").AppendJoin(" | ", ratios.Select(r => r + " %")).Append(" |\n");
        md.Append("| --- | ").AppendJoin(" | ", ratios.Select(_ => "---:")).Append(" |\n");
        foreach (var group in ofModel.Where(r => !r.Cell.IsVanilla).GroupBy(r => r.Cell.Method + (r.Cell.StageInId ? $" ({r.Cell.Stage})" : ""))
                     .OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            md.Append($"| {group.Key} |");
            foreach (var ratio in ratios)
            {
                var drops = group.Where(r => r.Cell.Ratio == ratio)
                    .Select(r => vanilla.TryGetValue((model, r.Cell.Dataset), out var v) && v.PrimaryValue != 0
                        ? (v.PrimaryValue - r.PrimaryValue) / Math.Abs(v.PrimaryValue) * 100 : (double?)null)
                    .OfType<double>().ToList();
                md.Append(drops.Count == 0 ? " – |" : $" {drops.Average():+0.0;-0.0;0.0} |");
            }
            md.Append('\n');
        }
    }

    private static string Format(double value) => value.ToString(Math.Abs(value) >= 100 ? "0.0" : "0.00", CultureInfo.InvariantCulture);
}
