using UniPrune.Engine.Running;

namespace UniPrune.Bench.Tests.Harness;

public sealed class ManifestTests
{
    [Fact]
    public void Cross_product_adds_vanilla_per_model_and_dataset_applies_exclusions_and_names_stages()
    {
        using var bench = new TempBench();
        var ids = bench.Manifest.Cells.Select(c => c.Id).ToList();
        // YN: vanilla + Keep×2 + Late×2 ratios×2 stages = 7; OCR: vanilla + Keep×2 = 3 (Late excluded there).
        Assert.Equal(10, ids.Count);
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.Contains("toy/YN/Vanilla@100", ids);
        Assert.Contains("toy/OCR/Vanilla@100", ids);
        Assert.Contains("toy/YN/Keep@11.1", ids);
        Assert.Contains("toy/YN/Late@33.3#native", ids);
        Assert.Contains("toy/YN/Late@33.3#K2", ids);
        Assert.DoesNotContain(ids, id => id.StartsWith("toy/OCR/Late", StringComparison.Ordinal));
        var vanilla = bench.Manifest.Cell("toy/YN/Vanilla@100");
        Assert.Equal(("none", "100", "toy"), (vanilla.Stage, vanilla.Ratio, vanilla.Tier));
        Assert.Equal(vanilla, bench.Manifest.Cell("toy/YN/Late@11.1#K2").VanillaPeer);
        Assert.Equal(1.0 / 9, bench.Manifest.Retention("11.1"), 12);
    }

    [Fact]
    public void Cell_ids_round_trip_through_parsing()
    {
        using var bench = new TempBench();
        foreach (var cell in bench.Manifest.Cells)
        {
            var parsed = CellSpec.ParseId(cell.Id);
            Assert.Equal(cell.Id, parsed.Id);
            Assert.Equal((cell.Model, cell.Dataset, cell.Method, cell.Ratio), (parsed.Model, parsed.Dataset, parsed.Method, parsed.Ratio));
            if (cell.StageInId) Assert.Equal(cell.Stage, parsed.Stage);
        }
    }

    [Fact]
    public void Tolerances_take_the_last_matching_rule_and_default_to_exact()
    {
        using var bench = new TempBench();
        var yn = bench.Manifest.Cell("toy/YN/Keep@33.3");
        var ocr = bench.Manifest.Cell("toy/OCR/Keep@33.3");
        Assert.Equal(0.5, bench.Manifest.ToleranceFor(yn, "scores.accuracy"));
        Assert.Equal(60, bench.Manifest.ToleranceFor(ocr, "scores.accuracy"));
        Assert.Equal(0, bench.Manifest.ToleranceFor(yn, "kept.keptTokensTotal"));
        Assert.True(bench.Manifest.IsIgnored(yn, "engine.build"));
        Assert.False(bench.Manifest.IsIgnored(yn, "predictionsDigest"));
    }

    [Theory]
    [InlineData("\"models\": { \"toy\": { \"family\": \"toy\", \"requiresGpu\": false, \"weights\": { \"repo\": \".\" } } },",
                "\"models\": { \"toy\": { \"requiresGpu\": false, \"weights\": { \"repo\": \".\" } } },", "models.toy.family")]
    [InlineData("\"methods\": [ \"Keep\", \"Late\" ]", "\"methods\": [ \"Keep\", \"Nope\" ]", "matrices[0].methods[1]")]
    [InlineData("\"11.1\": \"1/9\"", "\"11.1\": \"1/3\"", "ratios.11.1")]
    [InlineData("\"reason\": \"toy: intra-LLM cells are only needed on one dataset\"", "\"why\": \"x\"", "matrices[0].exclude[0].why")]
    [InlineData("\"reason\": \"toy: intra-LLM cells are only needed on one dataset\"", "\"reason\": \" \"", "matrices[0].exclude[0].reason")]
    [InlineData("\"ratios\": [ \"33.3\", \"11.1\" ]", "\"ratios\": [ \"33.3\", \"100\" ]", "matrices[0].ratios")]
    public void Bad_manifests_fail_naming_the_file_and_the_field(string from, string to, string field)
    {
        Assert.Contains(from, TempBench.ManifestJson);
        var broken = TempBench.ManifestJson.Replace(from, to);
        var e = Assert.ThrowsAny<Exception>(() => new TempBench(broken).Dispose());
        Assert.Contains("manifest.json", e.Message);
        Assert.Contains(field, e.Message);
    }

    [Fact]
    public void The_repository_manifest_loads_and_has_a_vanilla_cell_for_every_model_and_dataset_with_pruned_cells()
    {
        var manifest = BenchManifest.Load(BenchEnvironment.FromProcess().ManifestPath);
        Assert.NotEmpty(manifest.Cells);
        Assert.Equal(manifest.Cells.Count, manifest.Cells.Select(c => c.Id).Distinct().Count());
        foreach (var pair in manifest.Cells.Where(c => !c.IsVanilla).Select(c => (c.Model, c.Dataset)).Distinct())
            Assert.Contains(manifest.Cells, c => c.IsVanilla && c.Model == pair.Model && c.Dataset == pair.Dataset);
        foreach (var cell in manifest.Cells.Where(c => !c.IsVanilla))
            Assert.NotNull(manifest.Methods[cell.Method].SpecFor(cell.Stage));
    }

    [Fact]
    public void Missing_weights_and_data_say_which_variable_to_set()
    {
        using var bench = new TempBench(TempBench.ManifestJson
            .Replace("\"weights\": { \"repo\": \".\" }", "\"weights\": { \"env\": \"UNIPRUNE_TEST_NO_SUCH_VAR\", \"path\": \"toy-7b\" }")
            .Replace("\"OCR\": { \"benchmark\": \"OCRBench\", \"data\": { \"repo\": \".\" } }", "\"OCR\": { \"benchmark\": \"OCRBench\", \"data\": { \"repo\": \"no/such.tsv\" } }"));
        var reason = bench.Environment.MissingPrerequisite(bench.Manifest, bench.Manifest.Cell("toy/OCR/Keep@33.3"));
        Assert.NotNull(reason);
        Assert.Contains("UNIPRUNE_TEST_NO_SUCH_VAR", reason);
        Assert.Contains("toy-7b", reason);
        Assert.Contains("no/such.tsv", reason.Replace('\\', '/'));
        var yn = bench.Environment.MissingPrerequisite(bench.Manifest, bench.Manifest.Cell("toy/YN/Keep@33.3"));
        Assert.Contains("UNIPRUNE_TEST_NO_SUCH_VAR", yn);
        Assert.DoesNotContain("no/such.tsv", yn!.Replace('\\', '/'));
    }
}

public sealed class CellFilterTests
{
    private static readonly CellSpec Cell = new("full", "llava-1.5-7b", "DivPrune", "11.1", "MME", "pre");

    [Theory]
    [InlineData("Method=DivPrune", true)]
    [InlineData("method=divprune", true)]
    [InlineData("Method=FastV", false)]
    [InlineData("Model=llava-1.5-7b&Ratio=11.1", true)]
    [InlineData("Model=llava-1.5-7b&Ratio=22.2", false)]
    [InlineData("Method=FastV|Dataset=MME", true)]
    [InlineData("Dataset!=MME", false)]
    [InlineData("Model~llava", true)]
    [InlineData("Stage=pre&Tier=full", true)]
    [InlineData("MME/DivPrune", true)]
    [InlineData("Id=llava-1.5-7b/MME/DivPrune@11.1", true)]
    [InlineData("", true)]
    public void Filters_match_like_dotnet_test_trait_filters(string expression, bool matches) =>
        Assert.Equal(matches, CellFilter.Parse(expression).Matches(Cell));

    [Fact]
    public void Unknown_traits_are_refused() =>
        Assert.Contains("Methd", Assert.Throws<FormatException>(() => CellFilter.Parse("Methd=DivPrune")).Message);
}
