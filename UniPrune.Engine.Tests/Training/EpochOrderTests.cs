using UniPrune.Engine.Datasets;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Synthetic;
using UniPrune.Engine.Training;

namespace UniPrune.Engine.Tests.Training;

public class EpochOrderTests
{
    /// <summary>
    /// MME asks two questions per image and POPE several: grouping keeps each image's yes/no questions adjacent, while
    /// MMBench's circular copies (one image, one answer) stay spread like any other example.
    /// </summary>
    [Fact]
    public void GroupingKeepsEachImagesYesNoQuestionsAdjacentAndVisitsEveryExampleOnce()
    {
        string folder = Path.Combine(Path.GetTempPath(), "uniprune-epoch-test-" + Guid.NewGuid().ToString("N"));
        try
        {
            var samples = SyntheticTrainingSet.Load(folder, SyntheticSplit.Train, 12, ["MME", "POPE", "MMBench_DEV_EN"]);
            var examples = SyntheticTrainingSet.Examples(samples, ModelFamilies.Llava15).ToList();
            bool YesNo(int i) => examples[i].Dataset is SyntheticBenchmarks.Mme or "POPE";
            string KeyOf(int i) => examples[i].Plan.Images[0].Key;
            var yesNoImages = Enumerable.Range(0, examples.Count).Where(YesNo).Select(KeyOf).Distinct().ToList();
            int yesNoQuestions = Enumerable.Range(0, examples.Count).Count(YesNo);
            Assert.True(yesNoImages.Count < yesNoQuestions / 1.5, $"{yesNoQuestions} yes/no questions over {yesNoImages.Count} images: too few shared images to test grouping");
            Assert.Contains(Enumerable.Range(0, examples.Count).Where(i => !YesNo(i)).GroupBy(KeyOf), g => g.Count() > 1); // MMBench's copies

            // Each image's yes/no questions occupy one contiguous stretch of the order; MMBench's copies of a question do not.
            static bool Contiguous(IReadOnlyList<int> positions) => positions.Max() - positions.Min() + 1 == positions.Count;
            var grouped = Trainer.Epoch(examples, new Random(5), groupByImage: true).ToList();
            Assert.Equal(Enumerable.Range(0, examples.Count), grouped.Order());
            var position = grouped.Select((example, k) => (example, k)).ToDictionary(p => p.example, p => p.k);
            foreach (var image in Enumerable.Range(0, examples.Count).Where(YesNo).GroupBy(KeyOf))
                Assert.True(Contiguous(image.Select(i => position[i]).ToList()), $"the yes/no questions of image {image.Key} were split apart");
            Assert.Contains(Enumerable.Range(0, examples.Count).Where(i => !YesNo(i)).GroupBy(KeyOf),
                copies => copies.Count() > 1 && !Contiguous(copies.Select(i => position[i]).ToList()));

            // The groups themselves are shuffled, and the shuffle follows the seed.
            Assert.NotEqual(Enumerable.Range(0, examples.Count), grouped);
            Assert.Equal(grouped, Trainer.Epoch(examples, new Random(5), groupByImage: true));
            Assert.NotEqual(grouped, Trainer.Epoch(examples, new Random(6), groupByImage: true));

            // Ungrouped: the example-level shuffle, in which an image's questions mostly land apart.
            var plain = Trainer.Epoch(examples, new Random(5), groupByImage: false).ToList();
            Assert.Equal(Enumerable.Range(0, examples.Count), plain.Order());
            var plainPosition = plain.Select((example, k) => (example, k)).ToDictionary(p => p.example, p => p.k);
            Assert.Contains(Enumerable.Range(0, examples.Count).Where(YesNo).GroupBy(KeyOf),
                image => image.Count() > 1 && !Contiguous(image.Select(i => plainPosition[i]).ToList()));
        }
        finally { try { Directory.Delete(folder, true); } catch (IOException) { } }
    }

    /// <summary>Records the examples of every step; its loss is a parameter times zero, so optimizer steps change nothing.</summary>
    private sealed class RecordingFamily : ITrainingFamily
    {
        private readonly TorchSharp.Modules.Linear _linear = TorchSharp.torch.nn.Linear(1, 1);
        public TorchSharp.torch.nn.Module Module => _linear;
        public bool PackSharedImages { get; set; }
        public List<string[]> Steps { get; } = [];

        public TorchSharp.torch.Tensor Loss(IReadOnlyList<TrainingExample> batch)
        {
            Steps.Add(batch.Select(e => e.Dataset).ToArray());
            return _linear.weight!.sum().mul(0.0);
        }
    }

    [Fact]
    public void AFirstPhaseDrawsOnlyItsExamplesForItsStepsAndThenEveryExample()
    {
        string folder = Path.Combine(Path.GetTempPath(), "uniprune-epoch-test-" + Guid.NewGuid().ToString("N"));
        try
        {
            var samples = SyntheticTrainingSet.Load(folder, SyntheticSplit.Train, 6, ["POPE", "MMBench_DEV_EN"]);
            var examples = SyntheticTrainingSet.Examples(samples, ModelFamilies.Llava15).ToList();
            var choices = Enumerable.Range(0, examples.Count).Where(i => examples[i].Dataset == "MMBench_DEV_EN").ToList();
            var family = new RecordingFamily();
            Trainer.Run(family, examples, new TrainingSettings(Seed: 2, Steps: 12, Accumulate: 4, LearningRate: 1e-3, WarmupSteps: 1, FirstPhaseSteps: 5),
                firstPhase: choices);

            Assert.Equal(12 * 4, family.Steps.Sum(s => s.Length));
            Assert.All(family.Steps.Take(5), step => Assert.All(step, d => Assert.Equal("MMBench_DEV_EN", d)));
            Assert.Contains(family.Steps.Skip(5).SelectMany(s => s), d => d == "POPE");
            Assert.Throws<ArgumentException>(() => Trainer.Run(family, examples,
                new TrainingSettings(Seed: 2, Steps: 2, Accumulate: 1, LearningRate: 1e-3, FirstPhaseSteps: 1)));
            Assert.Throws<ArgumentException>(() => Trainer.Run(family, examples,
                new TrainingSettings(Seed: 2, Steps: 2, Accumulate: 1, LearningRate: 1e-3, FirstPhaseSteps: 1), firstPhase: [examples.Count]));
        }
        finally { try { Directory.Delete(folder, true); } catch (IOException) { } }
    }
}
