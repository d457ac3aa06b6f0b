using System.Security.Cryptography;
using UniPrune.Engine.Imaging;
using UniPrune.Engine.Synthetic;

namespace UniPrune.Engine.Tests.Synthetic;

public class SyntheticSuiteTests
{
    public static TheoryData<string> Names => new(SyntheticSuite.Generators.Keys);

    private static string Digest(SyntheticTable t)
    {
        string path = Path.Combine(TestPaths.NewTempDir(), t.Name + ".tsv");
        t.WriteTsv(path);
        return Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));
    }

    [Theory, MemberData(nameof(Names))]
    public void SameSeedGivesByteIdenticalTables(string name) =>
        Assert.Equal(Digest(SyntheticSuite.Generate(name, SyntheticSplit.Test, 12)), Digest(SyntheticSuite.Generate(name, SyntheticSplit.Test, 12)));

    [Theory, MemberData(nameof(Names))]
    public void TrainTestAndValidationSplitsShareNoSample(string name)
    {
        static HashSet<string> Keys(SyntheticTable t)
        {
            var images = t.Rows.Where(r => r["image"].Length > 64).ToDictionary(r => r["index"], r => r["image"]);
            return t.Rows.Select(r => (r.TryGetValue("question", out var q) ? q : r["instruction"]) + "|" +
                (r["image"].Length > 64 ? r["image"] : images[r["image"]])).ToHashSet();
        }
        var test = Keys(SyntheticSuite.Generate(name, SyntheticSplit.Test, 30));
        var train = Keys(SyntheticSuite.Generate(name, SyntheticSplit.Train, 30));
        var validation = Keys(SyntheticSuite.Generate(name, SyntheticSplit.Validation, 30));
        Assert.Empty(test.Intersect(train));
        Assert.Empty(validation.Intersect(train));
        Assert.Empty(validation.Intersect(test));
    }

    [Theory, MemberData(nameof(Names))]
    public void EveryImageDecodesAndBackReferencesResolve(string name)
    {
        var table = SyntheticSuite.Generate(name, SyntheticSplit.Test, 8);
        var indices = table.Rows.Select(r => r["index"]).ToHashSet();
        foreach (var row in table.Rows)
        {
            string image = row["image"];
            if (image.Length <= 64) { Assert.Contains(image, indices); continue; }
            var decoded = ImageDecoder.Decode(Convert.FromBase64String(image), $"{name}:{row["index"]}");
            Assert.InRange(decoded.Width, 112, 224);
            Assert.InRange(decoded.Height, 112, 224);
        }
    }

    [Fact]
    public void MmeRowsComeInYesNoPairsPerImage()
    {
        var rows = SyntheticSuite.Generate("MME", SyntheticSplit.Test, 24).Rows;
        Assert.Equal(48, rows.Count);
        foreach (var pair in rows.GroupBy(r => r["image_path"]))
        {
            Assert.Equal(2, pair.Count());
            Assert.Equal(["No", "Yes"], pair.Select(r => r["answer"]).Order());
            Assert.All(pair, r => Assert.EndsWith(" Please answer yes or no.", r["question"]));
        }
        Assert.Equal(6, rows.Select(r => r["category"]).Distinct().Count());
    }

    [Fact]
    public void MmBenchCopiesRotateOptionsAndAnswer()
    {
        var rows = SyntheticSuite.Generate("MMBench_DEV_EN", SyntheticSplit.Test, 8).Rows;
        foreach (var group in rows.GroupBy(r => long.Parse(r["index"]) % 1_000_000))
        {
            var answers = group.Select(r => r[r["answer"]]).Distinct().ToList();
            Assert.Single(answers); // the right option's text is the same in every rotation
            Assert.Equal(4, group.Count());
        }
    }

    [Fact]
    public void PopeListsEverySplitARowBelongsTo()
    {
        var rows = SyntheticSuite.Generate("POPE", SyntheticSplit.Test, 20).Rows;
        Assert.All(rows, r => Assert.All(r["category"].Split(','), s => Assert.Contains(s, new[] { "adversarial", "popular", "random" })));
        foreach (var split in new[] { "adversarial", "popular", "random" })
        {
            var inSplit = rows.Where(r => r["category"].Split(',').Contains(split)).ToList();
            Assert.Equal(inSplit.Count(r => r["answer"] == "Yes"), inSplit.Count(r => r["answer"] == "No"));
        }
    }

    [Fact]
    public void HallusionBenchAnswersFlipBetweenOriginalAndEditedFigure()
    {
        var rows = SyntheticSuite.Generate("HallusionBench", SyntheticSplit.Test, 6).Rows;
        foreach (var set in rows.GroupBy(r => r["index"].Split('_')[3]))
        foreach (var q in set.GroupBy(r => r["index"].Split('_')[5]))
            Assert.Equal(["No", "Yes"], q.Select(r => r["answer"]).Order());
    }
}

public class SceneLedgerTests
{
    public static TheoryData<string> Names => new(SyntheticSuite.Generators.Keys);

    /// <summary>
    /// With a ledger open the tables are byte-identical, and every image a benchmark reader hands back (back-references
    /// resolved) finds the scene that drew it: re-rendered, that scene gives the very same pixels.
    /// </summary>
    [Theory, MemberData(nameof(Names))]
    public void EveryTableImageFindsTheSceneThatDrewIt(string name)
    {
        var plain = SyntheticSuite.Generate(name, SyntheticSplit.Train, 10);
        using var ledger = SceneLedger.Record();
        var recorded = SyntheticSuite.Generate(name, SyntheticSplit.Train, 10);
        Assert.Equal(plain.Rows.Select(r => string.Join("\t", r.Values)), recorded.Rows.Select(r => string.Join("\t", r.Values)));
        Assert.True(ledger.Count > 0);

        string folder = TestPaths.NewTempDir();
        string path = Path.Combine(folder, name + ".tsv");
        recorded.WriteTsv(path);
        var samples = UniPrune.Engine.Datasets.DatasetCatalog.Get(SyntheticSuite.BenchmarkOf(name)).LoadFile(path);
        foreach (var sample in samples)
            foreach (var image in sample.Images)
            {
                var scene = ledger.Find(image);
                Assert.NotNull(scene);
                var decoded = ImageDecoder.Decode(image.Bytes, image.Origin);
                Assert.Equal(decoded.Pixels, scene!.Render().ToImage().Pixels);
            }
    }

    [Fact]
    public void NoLedgerNoScenesAndAClosedLedgerStopsRecording()
    {
        var ledger = SceneLedger.Record();
        ledger.Dispose();
        SyntheticSuite.Generate("POPE", SyntheticSplit.Test, 3);
        Assert.Equal(0, ledger.Count);
    }
}
