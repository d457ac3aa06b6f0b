using UniPrune.Engine.Datasets;
using UniPrune.Engine.Running;

namespace UniPrune.Bench.Tests.Embedded;

/// <summary>Expensive work is shared: one model load per process, one vision encoding per image for every method and ratio.</summary>
public sealed class SharedWorkTests
{
    private static readonly BenchEnvironment Repository = BenchEnvironment.FromProcess();

    [SkippableFact]
    public void Cells_of_one_model_share_the_loaded_model_and_each_images_encoding()
    {
        var manifest = BenchManifest.Load(Repository.ManifestPath);
        string[] ids = ["llava15-syn/MME_SYN/DivPrune@33.3", "llava15-syn/MME_SYN/DivPrune@11.1", "llava15-syn/MME_SYN/FastV@11.1"];
        var missing = Repository.MissingPrerequisite(manifest, manifest.Cell(ids[0]));
        Skip.If(missing is not null, missing);

        var results = Directory.CreateTempSubdirectory("uniprune-shared-").FullName;
        try
        {
            var environment = new BenchEnvironment(Repository.RepositoryRoot, Repository.BaselinesRoot, results);
            using var factory = new EngineWorkloadFactory(environment, manifest);
            var store = new RunStore(results);
            var outcomes = ids.Select(id => CellRunner.Run(factory.Create(manifest.Cell(id)), store)).ToList();

            // The rows the tier runs, and the distinct images among them (MME asks two questions per image).
            var data = manifest.Datasets["MME_SYN"].Data.Resolve(Repository.RepositoryRoot, "MME_SYN", out _)!;
            var rows = EngineWorkloadFactory.FirstSamples(DatasetCatalog.Get("MME_SYN").LoadFile(data), manifest.Tiers["embedded"].MaxSamples!.Value);
            int images = rows.Select(r => r.Images[0].Key).Distinct().Count();
            Assert.True(images < rows.Count, "the MME rows must share images for this test to prove anything");

            Assert.Equal(1, factory.ModelLoads);
            Assert.Equal(images, factory.VisionEncodes);
            Assert.Equal(3 * rows.Count - images, factory.VisionReuses);
            // 64 visual tokens: round(64/3) = 21 and round(64/9) = 7 kept (FastV reports the tokens kept from layer K on).
            Assert.Equal([21, 7, 7], outcomes.Select(o => o.Samples[0].KeptTokens));
            Assert.All(outcomes, o => Assert.Equal(rows.Count, o.Computed));
        }
        finally { Directory.Delete(results, recursive: true); }
    }

    [Fact]
    public void A_sample_cap_never_splits_the_rows_of_one_image()
    {
        var manifest = BenchManifest.Load(Repository.ManifestPath);
        var data = manifest.Datasets["MMBench_DEV_EN_SYN"].Data.Resolve(Repository.RepositoryRoot, "MMBench_DEV_EN_SYN", out var missing)
            ?? throw new FileNotFoundException(missing);
        var all = DatasetCatalog.Get("MMBench_DEV_EN").LoadFile(data);
        // Circular copies follow their question: a cap of 5 rows ends inside the second question's group and is completed to 8.
        Assert.Equal(4, all.TakeWhile(s => s.Images[0].Key == all[0].Images[0].Key).Count());
        var capped = EngineWorkloadFactory.FirstSamples(all, 5);
        Assert.Equal(8, capped.Count);
        Assert.NotEqual(capped[^1].Images[0].Key, all[8].Images[0].Key);
        Assert.Same(all, EngineWorkloadFactory.FirstSamples(all, all.Count + 10));
    }
}
