using System.Globalization;
using System.Text.Json;

namespace UniPrune.Engine.Running;

/// <summary>Where a cell's weights or data come from: a folder/file under an environment variable, or a path inside the repository.</summary>
/// <param name="Env">Environment variable naming the parent folder (UNIPRUNE_MODELS, LMUData); null for repository paths.</param>
/// <param name="Fallback">Folder used when <paramref name="Env"/> is unset ("~/LMUData"); null for none.</param>
/// <param name="RelativePath">Folder or file below the env folder, or below the repository root when <paramref name="Env"/> is null.</param>
public sealed record ResourceLocation(string? Env, string? Fallback, string RelativePath)
{
    /// <summary>The absolute path, or null with a sentence saying what is missing and how to provide it.</summary>
    public string? Resolve(string repositoryRoot, string what, out string? missing)
    {
        string? root;
        if (Env is null) root = repositoryRoot;
        else
        {
            root = Environment.GetEnvironmentVariable(Env);
            if (string.IsNullOrEmpty(root) && Fallback is not null)
                root = Fallback.StartsWith('~') ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), Fallback.TrimStart('~', '/')) : Fallback;
        }
        if (string.IsNullOrEmpty(root))
        {
            missing = $"{what} '{RelativePath}' not found: set {Env} to the folder that holds it";
            return null;
        }
        var full = Path.GetFullPath(Path.Combine(root, RelativePath));
        if (File.Exists(full) || Directory.Exists(full)) { missing = null; return full; }
        missing = Env is null
            ? $"{what} '{full}' is missing from the repository checkout"
            : $"{what} not found at '{full}': put it there, or set {Env} to the folder that holds '{RelativePath}'";
        return null;
    }
}

public sealed record ModelEntry(string Name, string Family, ResourceLocation Weights, bool RequiresGpu, string? Tokenizer);
public sealed record DatasetEntry(string Name, string Benchmark, ResourceLocation Data);
/// <param name="Stages">Stage name → the pruning registry's spec for it ("pre" → "divprune", "K2" → "sparsevlm-k2", "pre+K2" → "divprune+fastv").</param>
/// <param name="SecondStageRatio">Two-stage combinations: the intra-LLM stage's retention label; null = the cell's retention.</param>
public sealed record MethodEntry(string Name, IReadOnlyDictionary<string, string> Stages, string? SecondStageRatio)
{
    public string SpecFor(string stage) => Stages.TryGetValue(stage, out var spec) ? spec
        : throw new KeyNotFoundException($"method '{Name}' has no stage '{stage}' (stages: {string.Join(", ", Stages.Keys)})");
}
/// <param name="MaxSamples">Cap per cell (the first rows of the dataset); null = every row.</param>
/// <param name="MaxNewTokens">Cap on generated tokens (tiny random-weight models never stop on their own); null = the prompt plan's.</param>
/// <param name="CpuThreads">libtorch intra-op threads on the CPU for this tier's cells; null = libtorch's default (one per core).
/// Small models want 1: their ops are too small to split, and splitting them on shared cores made prefill 5× slower.</param>
public sealed record TierEntry(string Name, bool RequiresGpu, int? MaxSamples, int WarmupSamples, int? MaxNewTokens = null, int? CpuThreads = null);
/// <summary>One per-metric tolerance: flattened snapshot paths matching <see cref="Path"/> may differ by at most <see cref="Abs"/>.</summary>
public sealed record ToleranceRule(string? Tier, string? Dataset, string Path, double Abs);

/// <summary>
/// The cell matrix, declared once in baselines/manifest.json as cross products with exclusions. Every model × dataset of a
/// matrix also gets its vanilla (100 %) cell. Parsing fails naming the file, the field and the expected form.
/// </summary>
public sealed class BenchManifest
{
    public string File { get; }
    public IReadOnlyDictionary<string, double> Ratios { get; }
    public IReadOnlyDictionary<string, ModelEntry> Models { get; }
    public IReadOnlyDictionary<string, DatasetEntry> Datasets { get; }
    public IReadOnlyDictionary<string, MethodEntry> Methods { get; }
    public IReadOnlyDictionary<string, TierEntry> Tiers { get; }
    public IReadOnlyList<ToleranceRule> Tolerances { get; }
    /// <summary>Snapshot paths never compared (identity of the engine build; the predictions digest on GPUs, whose kernels
    /// are not bit-reproducible): informational only.</summary>
    public IReadOnlyList<(string? Tier, string Path)> IgnoredPaths { get; }
    public IReadOnlyList<CellSpec> Cells { get; }

    private BenchManifest(string file, JsonElement root)
    {
        File = file;
        var r = new Reader(file);
        Ratios = r.Object(root, "ratios").ToDictionary(p => p.Name, p => r.Fraction(p.Value, $"ratios.{p.Name}"));
        foreach (var label in Ratios.Keys)
            if (!double.TryParse(label, NumberStyles.Float, CultureInfo.InvariantCulture, out var percent) || Math.Abs(percent / 100 - Ratios[label]) > 0.001)
                throw r.Error($"ratios.{label}", $"a retention label in percent that agrees with its fraction ({Ratios[label]:0.####})");
        if (!Ratios.ContainsKey(CellSpec.VanillaRatio)) throw r.Error("ratios", $"an entry \"{CellSpec.VanillaRatio}\": \"1\" for the vanilla cells");

        Models = r.Object(root, "models").ToDictionary(p => p.Name, p => new ModelEntry(p.Name,
            r.String(p.Value, "family", $"models.{p.Name}"),
            r.Location(p.Value, "weights", $"models.{p.Name}"),
            r.Bool(p.Value, "requiresGpu", $"models.{p.Name}"),
            r.OptionalString(p.Value, "tokenizer")));
        Datasets = r.Object(root, "datasets").ToDictionary(p => p.Name, p => new DatasetEntry(p.Name,
            r.String(p.Value, "benchmark", $"datasets.{p.Name}"),
            r.Location(p.Value, "data", $"datasets.{p.Name}")));
        Methods = r.Object(root, "methods").ToDictionary(p => p.Name, p =>
        {
            var at = $"methods.{p.Name}";
            var stages = r.Members(r.Property(p.Value, "stages", at), $"{at}.stages").ToDictionary(s => s.Name,
                s => s.Value.ValueKind == JsonValueKind.String ? s.Value.GetString()! : throw r.Error($"{at}.stages.{s.Name}", "a pruning registry spec string"));
            if (stages.Count == 0) throw r.Error($"{at}.stages", "a non-empty object of stage name → registry spec");
            var second = r.OptionalString(p.Value, "secondStageRatio");
            if (second is not null && !Ratios.ContainsKey(second)) throw r.Error($"{at}.secondStageRatio", $"one of the ratios ({string.Join(", ", Ratios.Keys)})");
            return new MethodEntry(p.Name, stages, second);
        });
        if (Methods.ContainsKey(CellSpec.VanillaMethod)) throw r.Error($"methods.{CellSpec.VanillaMethod}", "no entry: vanilla cells are added for every model × dataset automatically");
        Tiers = r.Object(root, "tiers").ToDictionary(p => p.Name, p => new TierEntry(p.Name,
            r.Bool(p.Value, "requiresGpu", $"tiers.{p.Name}"),
            p.Value.TryGetProperty("maxSamples", out var max) && max.ValueKind != JsonValueKind.Null ? r.Int(max, $"tiers.{p.Name}.maxSamples") : null,
            r.Int(r.Property(p.Value, "warmupSamples", $"tiers.{p.Name}"), $"tiers.{p.Name}.warmupSamples"),
            p.Value.TryGetProperty("maxNewTokens", out var mnt) && mnt.ValueKind != JsonValueKind.Null ? r.Int(mnt, $"tiers.{p.Name}.maxNewTokens") : null,
            p.Value.TryGetProperty("cpuThreads", out var threads) && threads.ValueKind != JsonValueKind.Null
                ? (r.Int(threads, $"tiers.{p.Name}.cpuThreads") is > 0 and var t ? t : throw r.Error($"tiers.{p.Name}.cpuThreads", "a positive integer or null")) : null));
        Tolerances = r.Array(root, "tolerances", "").Select((t, i) => new ToleranceRule(
            r.OptionalString(t, "tier"), r.OptionalString(t, "dataset"), r.String(t, "path", $"tolerances[{i}]"),
            r.Number(r.Property(t, "abs", $"tolerances[{i}]"), $"tolerances[{i}].abs"))).ToList();
        IgnoredPaths = r.Array(root, "ignoredPaths", "").Select((e, i) => e.ValueKind == JsonValueKind.String
            ? ((string?)null, e.GetString()!)
            : (r.OptionalString(e, "tier"), r.String(e, "path", $"ignoredPaths[{i}]"))).ToList();
        Cells = Expand(r, r.Array(root, "matrices", ""));
    }

    public static BenchManifest Load(string file)
    {
        if (!System.IO.File.Exists(file)) throw new FileNotFoundException($"{file}: benchmark manifest not found", file);
        try
        {
            using var doc = JsonDocument.Parse(System.IO.File.ReadAllBytes(file), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip });
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new FormatException($"{file}: expected a JSON object at the top level");
            return new BenchManifest(file, doc.RootElement);
        }
        catch (JsonException e) { throw new FormatException($"{file}: not valid JSON ({e.Message})", e); }
    }

    public CellSpec Cell(string id) => Cells.FirstOrDefault(c => c.Id == id)
        ?? throw new KeyNotFoundException($"{File}: no cell '{id}' in the matrix");

    public double Retention(string ratioLabel) => Ratios.TryGetValue(ratioLabel, out var r) ? r
        : throw new KeyNotFoundException($"{File}: retention '{ratioLabel}' is not among the ratios ({string.Join(", ", Ratios.Keys)})");

    /// <summary>The absolute tolerance for a flattened snapshot path of a cell (last matching rule wins; none = exact).</summary>
    public double ToleranceFor(CellSpec cell, string path)
    {
        double tolerance = 0;
        foreach (var rule in Tolerances)
            if ((rule.Tier is null || rule.Tier == cell.Tier) && (rule.Dataset is null || Glob.IsMatch(rule.Dataset, cell.Dataset)) && Glob.IsMatch(rule.Path, path))
                tolerance = rule.Abs;
        return tolerance;
    }

    public bool IsIgnored(CellSpec cell, string path) => IgnoredPaths.Any(p => (p.Tier is null || p.Tier == cell.Tier) && Glob.IsMatch(p.Path, path));

    private List<CellSpec> Expand(Reader r, IReadOnlyList<JsonElement> matrices)
    {
        var cells = new List<CellSpec>();
        var seen = new Dictionary<string, string>();
        for (int m = 0; m < matrices.Count; m++)
        {
            var at = $"matrices[{m}]";
            var matrix = matrices[m];
            var tier = r.String(matrix, "tier", at);
            if (!Tiers.ContainsKey(tier)) throw r.Error($"{at}.tier", $"one of the tiers ({string.Join(", ", Tiers.Keys)})");
            var models = Known(r, r.Strings(matrix, "models", at), Models.Keys, $"{at}.models");
            var datasets = Known(r, r.Strings(matrix, "datasets", at), Datasets.Keys, $"{at}.datasets");
            var methods = Known(r, r.Strings(matrix, "methods", at), Methods.Keys, $"{at}.methods");
            var ratios = Known(r, r.Strings(matrix, "ratios", at), Ratios.Keys, $"{at}.ratios");
            if (ratios.Contains(CellSpec.VanillaRatio)) throw r.Error($"{at}.ratios", "pruned retentions only (the 100 % vanilla cells are implied)");
            var exclusions = matrix.TryGetProperty("exclude", out var ex)
                ? r.Array(matrix, "exclude", at).Select((e, i) => Exclusion.Parse(r, e, $"{at}.exclude[{i}]")).ToList() : [];

            void Add(CellSpec cell)
            {
                if (exclusions.Any(e => e.Matches(cell))) return;
                if (seen.TryGetValue(cell.Id, out var first))
                {
                    if (first == tier) return; // several matrices of one tier may share vanilla cells
                    throw r.Error(at, $"cell '{cell.Id}' in tier '{tier}' is already declared in tier '{first}'; a cell belongs to one tier");
                }
                seen[cell.Id] = tier;
                cells.Add(cell);
            }

            foreach (var model in models)
                foreach (var dataset in datasets)
                {
                    Add(new CellSpec(tier, model, CellSpec.VanillaMethod, CellSpec.VanillaRatio, dataset, CellSpec.VanillaStage));
                    foreach (var method in methods)
                        foreach (var ratio in ratios)
                            foreach (var stage in Methods[method].Stages.Keys)
                                Add(new CellSpec(tier, model, method, ratio, dataset, stage, Methods[method].Stages.Count > 1));
                }
        }
        return cells;
    }

    private static IReadOnlyList<string> Known(Reader r, IReadOnlyList<string> names, IEnumerable<string> known, string at)
    {
        var set = known.ToHashSet();
        for (int i = 0; i < names.Count; i++)
            if (!set.Contains(names[i])) throw r.Error($"{at}[{i}]", $"one of: {string.Join(", ", set.Order())} (got '{names[i]}')");
        return names;
    }

    private sealed record Exclusion(IReadOnlyDictionary<string, string> Patterns)
    {
        private static readonly string[] Axes = ["model", "method", "ratio", "dataset", "stage"];
        public required string Reason { get; init; }

        public static Exclusion Parse(Reader r, JsonElement e, string at)
        {
            var patterns = new Dictionary<string, string>();
            string? reason = null;
            foreach (var p in r.Members(e, at))
            {
                if (p.Name == "reason") { reason = p.Value.GetString(); continue; }
                if (!Axes.Contains(p.Name)) throw r.Error($"{at}.{p.Name}", $"one of the axes {string.Join(", ", Axes)}");
                patterns[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : throw r.Error($"{at}.{p.Name}", "a string pattern ('*' wildcards)");
            }
            if (patterns.Count == 0) throw r.Error(at, "at least one axis pattern (an empty exclusion would drop every cell)");
            if (string.IsNullOrWhiteSpace(reason)) throw r.Error($"{at}.reason", "a sentence saying why these cells are left out");
            return new Exclusion(patterns) { Reason = reason };
        }

        public bool Matches(CellSpec cell) => Patterns.All(p => Glob.IsMatch(p.Value, p.Key switch
        {
            "model" => cell.Model, "method" => cell.Method, "ratio" => cell.Ratio, "dataset" => cell.Dataset, _ => cell.Stage,
        }));
    }

    /// <summary>JSON access that names the manifest file and the field path in every error.</summary>
    private sealed class Reader(string file)
    {
        public FormatException Error(string at, string expected) => new($"{file}: field '{at}' must be {expected}");

        public JsonElement Property(JsonElement e, string key, string at)
        {
            var path = at.Length == 0 ? key : $"{at}.{key}";
            if (e.ValueKind != JsonValueKind.Object) throw Error(at, "a JSON object");
            return e.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? v : throw new FormatException($"{file}: missing required field '{path}'");
        }

        public IEnumerable<JsonProperty> Object(JsonElement e, string key) =>
            Property(e, key, "") is { ValueKind: JsonValueKind.Object } v ? v.EnumerateObject().ToList() : throw Error(key, "a JSON object");

        public IEnumerable<JsonProperty> Members(JsonElement e, string at) =>
            e.ValueKind == JsonValueKind.Object ? e.EnumerateObject().ToList() : throw Error(at, "a JSON object");

        public IReadOnlyList<JsonElement> Array(JsonElement e, string key, string at) =>
            Property(e, key, at) is { ValueKind: JsonValueKind.Array } v ? v.EnumerateArray().ToList() : throw Error(Join(at, key), "a JSON array");

        public string String(JsonElement e, string key, string at) =>
            Property(e, key, at) is { ValueKind: JsonValueKind.String } v ? v.GetString()! : throw Error(Join(at, key), "a string");

        public string? OptionalString(JsonElement e, string key) =>
            e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

        public bool Bool(JsonElement e, string key, string at) =>
            Property(e, key, at) is { ValueKind: JsonValueKind.True or JsonValueKind.False } v ? v.GetBoolean() : throw Error(Join(at, key), "true or false");

        public int Int(JsonElement v, string at) => v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) && i >= 0 ? i : throw Error(at, "a non-negative integer");

        public double Number(JsonElement v, string at) => v.ValueKind == JsonValueKind.Number && v.GetDouble() >= 0 ? v.GetDouble() : throw Error(at, "a non-negative number");

        public IReadOnlyList<string> Strings(JsonElement e, string key, string at) =>
            Array(e, key, at).Select((x, i) => x.ValueKind == JsonValueKind.String ? x.GetString()! : throw Error($"{Join(at, key)}[{i}]", "a string")).ToList();

        /// <summary>"1", "1/3", "0.5": exact fractions avoid 0.333 keep-count drift (methods.md §0.4).</summary>
        public double Fraction(JsonElement v, string at)
        {
            var text = v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Error(at, "a string such as \"1/3\" or \"0.5\"");
            var parts = text.Split('/');
            double value = parts.Length switch
            {
                1 when double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var x) => x,
                2 when double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var n)
                    && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && d != 0 => n / d,
                _ => throw Error(at, $"a fraction such as \"1/3\" or \"0.5\" (got '{text}')"),
            };
            return value is > 0 and <= 1 ? value : throw Error(at, $"a retention in (0, 1] (got '{text}')");
        }

        public ResourceLocation Location(JsonElement e, string key, string at)
        {
            var v = Property(e, key, at);
            var path = Join(at, key);
            var env = OptionalString(v, "env");
            var repo = OptionalString(v, "repo");
            if ((env is null) == (repo is null)) throw Error(path, "an object with either {\"env\": VAR, \"path\": relative path} or {\"repo\": path in the repository}");
            return env is not null ? new ResourceLocation(env, OptionalString(v, "fallback"), String(v, "path", path)) : new ResourceLocation(null, null, repo!);
        }

        private static string Join(string at, string key) => at.Length == 0 ? key : $"{at}.{key}";
    }
}

/// <summary>'*' wildcards only (matches any run of characters, including '/'); everything else is literal and case-sensitive.</summary>
public static class Glob
{
    public static bool IsMatch(string pattern, string text)
    {
        int p = 0, t = 0, star = -1, mark = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && pattern[p] == '*') { star = p++; mark = t; }
            else if (p < pattern.Length && pattern[p] == text[t]) { p++; t++; }
            else if (star >= 0) { p = star + 1; t = ++mark; }
            else return false;
        }
        while (p < pattern.Length && pattern[p] == '*') p++;
        return p == pattern.Length;
    }
}
