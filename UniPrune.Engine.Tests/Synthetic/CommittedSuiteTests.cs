using UniPrune.Engine.Datasets;
using UniPrune.Engine.Running;
using UniPrune.Engine.Synthetic;

namespace UniPrune.Engine.Tests.Synthetic;

/// <summary>
/// datasets/synthetic/ holds the TEST split the benchmark reads. Regenerating it must give the same bytes: this guards the
/// generator's determinism and catches a committed split gone stale after a generator change. To refresh it:
/// <c>dotnet run --project tools/UniPrune.Train -c Release -- generate-suite --out datasets/synthetic --split test --samples 120</c>.
/// </summary>
public class CommittedSuiteTests
{
    [Fact]
    public void Regenerating_the_test_split_gives_the_committed_files_byte_for_byte()
    {
        string committed = Path.Combine(TestPaths.RepoRoot, SyntheticSuite.CommittedFolder);
        string fresh = TestPaths.NewTempDir();
        var written = SyntheticSuite.WriteAll(fresh, SyntheticSplit.Test, SyntheticSuite.CommittedSamples);
        Assert.Equal(SyntheticSuite.Generators.Count, written.Count);
        var stale = new List<string>();
        foreach (var path in written)
        {
            string name = Path.GetFileName(path);
            string mine = Path.Combine(committed, name);
            if (!File.Exists(mine)) stale.Add($"{name}: not committed");
            else if (!File.ReadAllBytes(mine).AsSpan().SequenceEqual(File.ReadAllBytes(path))) stale.Add($"{name}: differs from a fresh generation");
        }
        Assert.True(stale.Count == 0, "datasets/synthetic is stale; regenerate it with 'dotnet run --project tools/UniPrune.Train -c Release -- generate-suite --out datasets/synthetic --split test --samples 120':\n"
            + string.Join("\n", stale));
        var extra = Directory.GetFiles(committed, "*.tsv").Select(Path.GetFileName).Except(written.Select(Path.GetFileName)).ToList();
        Assert.True(extra.Count == 0, $"datasets/synthetic has tables no generator makes: {string.Join(", ", extra)}");
    }

    /// <summary>The harness reaches each table through a manifest dataset entry naming the committed file and the kind that scores it.</summary>
    [Fact]
    public void The_manifest_has_an_entry_for_every_committed_table()
    {
        var manifest = BenchManifest.Load(Path.Combine(TestPaths.RepoRoot, "baselines", "manifest.json"));
        foreach (var name in SyntheticSuite.Generators.Keys)
        {
            string file = $"{SyntheticSuite.CommittedFolder}/{SyntheticSuite.FileNameOf(name)}.tsv";
            var entry = Assert.Single(manifest.Datasets.Values, d => d.Data.Env is null && d.Data.RelativePath == file);
            Assert.Equal(SyntheticSuite.BenchmarkOf(name), entry.Benchmark);
            Assert.NotNull(entry.Data.Resolve(TestPaths.RepoRoot, entry.Name, out _));
            Assert.Equal(entry.Benchmark, DatasetCatalog.Get(entry.Benchmark).Name);
        }
    }

    [Fact]
    public void The_generate_suite_verb_writes_every_table_and_names_a_bad_option()
    {
        string folder = TestPaths.NewTempDir();
        Assert.Equal(0, SyntheticSuite.GenerateCommand(new Dictionary<string, string> { ["out"] = folder, ["split"] = "train", ["samples"] = "2" }));
        Assert.Equal(SyntheticSuite.Generators.Keys.Select(n => SyntheticSuite.FileNameOf(n) + ".tsv").Order(),
            Directory.GetFiles(folder, "*.tsv").Select(Path.GetFileName).Order());
        Assert.Contains("--split", Assert.Throws<ArgumentException>(() => SyntheticSuite.GenerateCommand(new Dictionary<string, string> { ["out"] = folder, ["split"] = "dev" })).Message);
        Assert.Contains("--samples", Assert.Throws<ArgumentException>(() => SyntheticSuite.GenerateCommand(new Dictionary<string, string> { ["out"] = folder, ["samples"] = "0" })).Message);
        Assert.Contains("--out", Assert.Throws<ArgumentException>(() => SyntheticSuite.GenerateCommand(new Dictionary<string, string>())).Message);
    }

    [Fact]
    public void Every_committed_table_is_a_few_hundred_kilobytes_at_most()
    {
        foreach (var path in Directory.GetFiles(Path.Combine(TestPaths.RepoRoot, SyntheticSuite.CommittedFolder), "*.tsv"))
            Assert.True(new FileInfo(path).Length < 600 * 1024, $"{path}: {new FileInfo(path).Length / 1024} KiB");
    }
}
