using System.Globalization;

namespace UniPrune.Engine.Synthetic;

/// <summary>
/// Which part of the suite: the training split, the benchmark's test split, or the validation split the trainer selects
/// checkpoints on (each from its own seeds, so the three are disjoint).
/// </summary>
public enum SyntheticSplit { Train, Test, Validation }

/// <summary>
/// The embedded benchmark: a deterministic, seeded generator of VLMEvalKit-format tables for the paper's six
/// capability dimensions, each shaped and scored like its real counterpart (the "_SYN" suffix marks the file).
/// The same seed always yields byte-identical files; train, test and validation use disjoint seeds.
/// </summary>
public static class SyntheticSuite
{
    public const string Suffix = "_SYN";

    /// <summary>Real dataset name → generator. Sample count is per table (MME counts images: two rows each).</summary>
    public static readonly IReadOnlyDictionary<string, Func<Random, int, SyntheticTable>> Generators =
        new Dictionary<string, Func<Random, int, SyntheticTable>>
        {
            ["MME"] = MmeGenerator.Generate,
            ["MMBench_DEV_EN"] = McqGenerators.MmBench,
            ["SEEDBench2_Plus"] = McqGenerators.SeedBench2Plus,
            ["ScienceQA_TEST"] = McqGenerators.ScienceQa,
            ["OCRBench"] = VqaGenerators.OcrBench,
            ["POPE"] = HallucinationGenerators.Pope,
            ["HallusionBench"] = HallucinationGenerators.HallusionBench,
            ["MathVista_MINI"] = MathAndInstructionGenerators.MathVista,
            ["MIA-Bench"] = MathAndInstructionGenerators.MiaBench,
        };

    public static string FileNameOf(string realName) => realName + Suffix;

    /// <summary>
    /// The benchmark kind (<see cref="Datasets.DatasetCatalog"/> name, the manifest's "benchmark") that reads and scores a table:
    /// the real dataset class where it takes the synthetic table as it is, else the synthetic kind (MME over its declared
    /// categories, MathVista and MIA-Bench scored by rule).
    /// </summary>
    public static string BenchmarkOf(string realName) => realName switch
    {
        "MME" => Datasets.SyntheticBenchmarks.Mme,
        "MathVista_MINI" => Datasets.SyntheticBenchmarks.MathVista,
        "MIA-Bench" => Datasets.SyntheticBenchmarks.MiaBench,
        _ when Generators.ContainsKey(realName) => realName,
        _ => throw new ArgumentException($"no synthetic table for '{realName}'; known: {string.Join(", ", Generators.Keys)}"),
    };

    /// <summary>Where the committed TEST split lives, relative to the repository root.</summary>
    public const string CommittedFolder = "datasets/synthetic";
    /// <summary>Samples per table of the committed TEST split (MME: images, two rows each).</summary>
    public const int CommittedSamples = 120;

    public const string GenerateUsage = "generate-suite --out DIR [--split test|train|validation] [--samples 120]";

    /// <summary>The generate-suite verb: writes every table of a split as {name}_SYN.tsv and lists what it wrote.</summary>
    public static int GenerateCommand(IReadOnlyDictionary<string, string> options)
    {
        string folder = options.TryGetValue("out", out var o) ? o : throw new ArgumentException($"missing --out\nusage: {GenerateUsage}");
        var split = (options.TryGetValue("split", out var s) ? s : "test") switch
        {
            "test" => SyntheticSplit.Test,
            "train" => SyntheticSplit.Train,
            "validation" => SyntheticSplit.Validation,
            var other => throw new ArgumentException($"--split '{other}' must be test, train or validation\nusage: {GenerateUsage}"),
        };
        int samples = CommittedSamples;
        if (options.TryGetValue("samples", out var n) && !(int.TryParse(n, NumberStyles.Integer, CultureInfo.InvariantCulture, out samples) && samples > 0))
            throw new ArgumentException($"--samples '{n}' must be a positive integer\nusage: {GenerateUsage}");
        foreach (var path in WriteAll(folder, split, samples))
            Console.WriteLine($"[generate] {path}  {new FileInfo(path).Length / 1024.0:F0} KiB");
        return 0;
    }

    /// <summary>Seed of one table: fixed per dataset and split, so adding a dataset never changes another's samples.</summary>
    public static int SeedOf(string realName, SyntheticSplit split)
    {
        uint h = 2166136261;
        foreach (char c in realName + "/" + split) h = (h ^ c) * 16777619;
        return (int)(h & 0x7fffffff);
    }

    public static SyntheticTable Generate(string realName, SyntheticSplit split, int samples)
    {
        if (!Generators.TryGetValue(realName, out var generate))
            throw new ArgumentException($"no synthetic generator for '{realName}'; known: {string.Join(", ", Generators.Keys)}");
        if (samples <= 0) throw new ArgumentOutOfRangeException(nameof(samples), $"sample count {samples} must be positive");
        return generate(new Random(SeedOf(realName, split)), samples);
    }

    /// <summary>Writes every table of a split into <paramref name="folder"/> as {name}_SYN.tsv.</summary>
    public static IReadOnlyList<string> WriteAll(string folder, SyntheticSplit split, int samplesPerTable)
    {
        Directory.CreateDirectory(folder);
        var written = new List<string>();
        foreach (var name in Generators.Keys)
        {
            var table = Generate(name, split, samplesPerTable);
            string path = Path.Combine(folder, FileNameOf(name) + ".tsv");
            table.WriteTsv(path);
            written.Add(path);
        }
        return written;
    }

    internal static string Base64Png(Scene scene)
    {
        var png = scene.Render().EncodePng();
        SceneLedger.Note(png, scene);
        return Convert.ToBase64String(png);
    }

    internal static string Int(long v) => v.ToString(CultureInfo.InvariantCulture);
}

/// <summary>The text the embedded models read and write: every non-image field of the training tables, for tokenizer training.</summary>
public static class SyntheticCorpus
{
    private static readonly HashSet<string> NonText = ["index", "image", "image_path", "split", "precision", "constraint"];

    public static IEnumerable<string> Texts(SyntheticSplit split, int samplesPerTable, IEnumerable<string>? templateTexts = null)
    {
        foreach (var name in SyntheticSuite.Generators.Keys)
            foreach (var row in SyntheticSuite.Generate(name, split, samplesPerTable).Rows)
                foreach (var (column, value) in row)
                    if (!NonText.Contains(column) && value.Length > 0) yield return value;
        foreach (var t in templateTexts ?? []) yield return t;
    }
}
