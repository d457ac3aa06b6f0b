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
        md.Append("Each entry: primary score (relative drop vs. vanilla, %). Prefill and method: median ms per sample, averaged over datasets.\n");
        var devices = rows.Select(r => r.DeviceClass).Distinct().Order().ToList();
        md.Append($"Device class: {string.Join(", ", devices)}. Cells: {rows.Count}.\n");
        var vanilla = rows.Where(r => r.Cell.IsVanilla).ToDictionary(r => (r.Cell.Model, r.Cell.Dataset));
        foreach (var model in rows.Select(r => r.Cell.Model).Distinct().Order(StringComparer.Ordinal))
        {
            var ofModel = rows.Where(r => r.Cell.Model == model).ToList();
            var datasets = ofModel.Select(r => r.Cell.Dataset).Distinct().Order(StringComparer.Ordinal).ToList();
            var ratios = ofModel.Where(r => !r.Cell.IsVanilla).Select(r => r.Cell.Ratio).Distinct()
                .OrderByDescending(r => double.Parse(r, CultureInfo.InvariantCulture)).ToList();
            foreach (var ratio in ratios.Prepend(CellSpec.VanillaRatio).Distinct())
            {
                var inTable = ofModel.Where(r => r.Cell.Ratio == ratio).ToList();
                if (inTable.Count == 0) continue;
                md.Append($"\n## {model}, retention {ratio} %\n\n");
                md.Append("| method | ").AppendJoin(" | ", datasets).Append(" | avg drop % | prefill ms | method ms |\n");
                md.Append("| --- | ").AppendJoin(" | ", datasets.Select(_ => "---:")).Append(" | ---: | ---: | ---: |\n");
                foreach (var group in inTable.GroupBy(r => r.Cell.Method + (r.Cell.Stage is "none" or "" ? "" : $" ({r.Cell.Stage})")).OrderBy(g => g.Key, StringComparer.Ordinal))
                {
                    var drops = new List<double>();
                    md.Append($"| {group.Key} |");
                    foreach (var dataset in datasets)
                    {
                        var row = group.FirstOrDefault(r => r.Cell.Dataset == dataset);
                        if (row is null) { md.Append(" – |"); continue; }
                        md.Append(' ').Append(Format(row.PrimaryValue));
                        if (!row.Cell.IsVanilla && vanilla.TryGetValue((model, dataset), out var v) && v.PrimaryValue != 0)
                        {
                            double drop = (v.PrimaryValue - row.PrimaryValue) / Math.Abs(v.PrimaryValue) * 100;
                            drops.Add(drop);
                            md.Append($" ({drop:+0.0;-0.0;0.0})");
                        }
                        md.Append(" |");
                    }
                    md.Append(drops.Count == 0 ? " – |" : $" {drops.Average():+0.0;-0.0;0.0} |");
                    md.Append($" {group.Average(r => r.PrefillMs):0.0} | {group.Average(r => r.MethodMs):0.00} |\n");
                }
            }
        }
        return md.ToString();
    }

    private static string Format(double value) => value.ToString(Math.Abs(value) >= 100 ? "0.0" : "0.00", CultureInfo.InvariantCulture);
}
