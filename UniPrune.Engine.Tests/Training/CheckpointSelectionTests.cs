using UniPrune.Engine.Synthetic;
using UniPrune.Engine.Training;
using Xunit.Abstractions;

namespace UniPrune.Engine.Tests.Training;

/// <summary>
/// --select-every: candidates come every N steps and after the last, scoring them leaves the training trajectory unchanged,
/// and the folder ends up holding the candidate that scored best on the validation split.
/// </summary>
public class CheckpointSelectionTests(ITestOutputHelper log)
{
    [Fact]
    public void TheFolderKeepsTheBestValidationCandidateAndScoringCandidatesLeavesTrainingUnchanged()
    {
        string root = TestPaths.NewTempDir();
        try
        {
            var family = EmbeddedFamily.Parse("llava");
            var samples = SyntheticTrainingSet.Load(Path.Combine(root, "data"), SyntheticSplit.Train, 2, ["POPE", "MMBench_DEV_EN"]);
            var examples = SyntheticTrainingSet.Examples(samples, family.PromptFamily).ToList();
            string folder = Path.Combine(root, "model");
            family.WriteFolder(folder, examples);
            var settings = new TrainingSettings(Seed: 3, Steps: 5, Accumulate: 2, LearningRate: 3e-3, WarmupSteps: 1, Pack: true, CheckpointEvery: 2);

            var selector = new CheckpointSelector(family, folder, Path.Combine(root, "work"), validationSamples: 2, tables: ["POPE", "MMBench_DEV_EN"]);
            var candidates = new Dictionary<int, byte[]>();
            using var selected = family.Create(folder, seed: 3);
            Trainer.Run(selected.Family, examples, settings, checkpoint: step =>
            {
                selector.Consider(step, selected.Module);
                candidates[step] = File.ReadAllBytes(Path.Combine(folder, "model.safetensors"));
            });
            Assert.Equal([2, 4, 5], selector.History.Select(h => h.Step));
            foreach (var h in selector.History) log.WriteLine($"step {h.Step}: validation mean {h.ValidationMean:F1} ({h.Seconds:F1} s)");
            Assert.All(selector.History, h => Assert.InRange(h.ValidationMean, 0, 100));
            Assert.Equal(3, candidates.Values.Select(Convert.ToHexString).Distinct().Count()); // the weights moved between candidates

            var best = selector.Restore();
            Assert.Equal(selector.History.Max(h => h.ValidationMean), best.ValidationMean);
            Assert.Equal(selector.History.First(h => h.ValidationMean == best.ValidationMean).Step, best.Step); // ties keep the earlier
            Assert.Equal(candidates[best.Step], File.ReadAllBytes(Path.Combine(folder, "model.safetensors")));

            // The same run without candidates ends at bit-identical weights: scoring them draws no random numbers and changes nothing.
            using var plain = family.Create(folder, seed: 3);
            Trainer.Run(plain.Family, examples, settings with { CheckpointEvery = 0 });
            var a = family.CheckpointTensors(selected.Module);
            var b = family.CheckpointTensors(plain.Module);
            Assert.Equal(a.Keys.Order(), b.Keys.Order());
            foreach (var (name, tensor) in a) Assert.True(tensor.eq(b[name]).all().item<bool>(), $"{name} differs after scoring candidates");
        }
        finally { try { Directory.Delete(root, true); } catch (IOException) { } }
    }

    [Fact]
    public void ACheckpointCallbackComesEveryNStepsAndAfterTheLastAndANegativeIntervalIsRefused()
    {
        string root = TestPaths.NewTempDir();
        TrainingExample example;
        try { example = SyntheticTrainingSet.Examples(SyntheticTrainingSet.Load(root, SyntheticSplit.Train, 1, ["POPE"]), EmbeddedFamily.Parse("llava").PromptFamily)[0]; }
        finally { try { Directory.Delete(root, true); } catch (IOException) { } }
        var steps = new List<int>();
        using var family = new ConstantFamily();
        Trainer.Run(family, [example], new TrainingSettings(Seed: 1, Steps: 7, Accumulate: 1, LearningRate: 1e-3, CheckpointEvery: 3), checkpoint: steps.Add);
        Assert.Equal([3, 6, 7], steps);
        steps.Clear();
        Trainer.Run(family, [example], new TrainingSettings(Seed: 1, Steps: 4, Accumulate: 1, LearningRate: 1e-3), checkpoint: steps.Add);
        Assert.Equal([4], steps);
        var e = Assert.Throws<ArgumentException>(() => Trainer.Run(family, [example], new TrainingSettings(1, 2, 1, 1e-3, CheckpointEvery: -1)));
        Assert.Contains("-1", e.Message);
    }

    /// <summary>A one-parameter family whose loss pulls the weight towards 1.</summary>
    private sealed class ConstantFamily : ITrainingFamily, IDisposable
    {
        private readonly TorchSharp.Modules.Linear linear = TorchSharp.torch.nn.Linear(1, 1, hasBias: false);
        public TorchSharp.torch.nn.Module Module => linear;
        public bool PackSharedImages { get; set; }
        public TorchSharp.torch.Tensor Loss(IReadOnlyList<TrainingExample> batch) => (linear.weight! - 1).square().sum();
        public void Dispose() => linear.Dispose();
    }
}
