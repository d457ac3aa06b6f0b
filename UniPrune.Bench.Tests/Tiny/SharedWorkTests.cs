using UniPrune.Engine.Running;

namespace UniPrune.Bench.Tests.Tiny;

/// <summary>Expensive work is shared: one model load per process, one vision encoding per image for every method and ratio.</summary>
public sealed class SharedWorkTests
{
    [Fact]
    public void Cells_of_one_model_share_the_loaded_model_and_each_images_encoding()
    {
        var repository = BenchEnvironment.FromProcess();
        var results = Directory.CreateTempSubdirectory("uniprune-shared-").FullName;
        try
        {
            var environment = new BenchEnvironment(repository.RepositoryRoot, repository.BaselinesRoot, results);
            var manifest = BenchManifest.Load(environment.ManifestPath);
            using var factory = new EngineWorkloadFactory(environment, manifest);
            var store = new RunStore(results);
            string[] ids = ["llava-tiny/tiny-MME/DivPrune@33.3", "llava-tiny/tiny-MME/DivPrune@11.1", "llava-tiny/tiny-MME/FastV@11.1"];
            var outcomes = ids.Select(id => CellRunner.Run(factory.Create(manifest.Cell(id)), store)).ToList();

            Assert.Equal(1, factory.ModelLoads);
            // tiny-MME has 6 questions on 3 images (pairs share an image through back-references).
            Assert.Equal(3, factory.VisionEncodes);
            Assert.Equal(3 * 6 - 3, factory.VisionReuses);
            Assert.Equal([12, 4, 4], outcomes.Select(o => o.Samples[0].KeptTokens)); // FastV reports the tokens kept from layer K on
            Assert.All(outcomes, o => Assert.Equal(6, o.Computed));
        }
        finally { Directory.Delete(results, recursive: true); }
    }
}
