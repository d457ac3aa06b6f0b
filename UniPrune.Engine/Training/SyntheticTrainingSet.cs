using UniPrune.Engine.Datasets;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Synthetic;

namespace UniPrune.Engine.Training;

/// <summary>One teacher-forced example: the exact prompt the benchmark would send (family policy), its images and the target answer text.</summary>
/// <param name="Sample">The benchmark-format row, or null for a training-only caption example.</param>
public sealed record TrainingExample(string Dataset, DatasetSample? Sample, PromptPlan Plan, string Answer);

/// <summary>
/// A synthetic split read back through the real dataset readers, with each family's evaluation prompt policy, so training
/// sees byte-for-byte the prompts the benchmark asks.
/// </summary>
public static class SyntheticTrainingSet
{
    /// <summary>
    /// The synthetic tables whose columns satisfy the real dataset classes today. MathVista_MINI_SYN lacks "choices" and
    /// MIA-Bench_SYN has instruction/constraint instead of MIA's component columns, so the real readers refuse them.
    /// </summary>
    public static readonly IReadOnlyList<string> ReadableDatasets =
        ["MME", "MMBench_DEV_EN", "SEEDBench2_Plus", "ScienceQA_TEST", "OCRBench", "POPE", "HallusionBench"];

    /// <summary>Writes the split's tables into <paramref name="folder"/> and reads them back as samples per dataset.</summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<DatasetSample>> Load(string folder, SyntheticSplit split, int samplesPerDataset,
        IReadOnlyList<string>? datasets = null)
    {
        Directory.CreateDirectory(folder);
        var result = new Dictionary<string, IReadOnlyList<DatasetSample>>();
        foreach (var name in datasets ?? ReadableDatasets)
        {
            var table = SyntheticSuite.Generate(name, split, samplesPerDataset);
            string path = Path.Combine(folder, $"{SyntheticSuite.FileNameOf(name)}_{split}.tsv");
            table.WriteTsv(path);
            result[name] = DatasetCatalog.Get(name).LoadFile(path);
        }
        return result;
    }

    public static IReadOnlyList<TrainingExample> Examples(IReadOnlyDictionary<string, IReadOnlyList<DatasetSample>> samples, string family)
    {
        var policy = PromptPolicy.For(family);
        var examples = new List<TrainingExample>();
        foreach (var (name, rows) in samples)
        {
            var dataset = DatasetCatalog.Get(name);
            foreach (var sample in rows)
                examples.Add(new TrainingExample(name, sample, policy.Build(dataset, sample), TargetAnswer(name, sample)));
        }
        return examples;
    }

    /// <summary>
    /// Caption examples (see <see cref="CaptionGenerator"/>): the image then "Describe the image.", as a message every
    /// family lays out with its own chat template, target = the caption.
    /// </summary>
    public static IReadOnlyList<TrainingExample> CaptionExamples(int seed, int count) =>
        CaptionGenerator.Generate(seed, count).Select((c, i) => new TrainingExample("caption", null,
            new PromptPlan(new PromptMessage([new ImageSegment(0), new TextSegment(CaptionGenerator.Question)]),
                [SampleImage.FromBase64(c.Base64Png, $"caption {i}")], 64, null, null, "caption"), c.Caption)).ToList();

    /// <summary>The text a perfect model would generate: the gold answer in the form the scorer accepts.</summary>
    public static string TargetAnswer(string dataset, DatasetSample sample)
    {
        string answer = sample.Require("answer", "the gold answer");
        if (dataset == "OCRBench")
        {
            // OCRBench stores a Python list of accepted strings; the first is the one to say.
            var inner = answer.Trim();
            if (inner.StartsWith('[') && inner.EndsWith(']')) inner = inner[1..^1].Split(',')[0].Trim().Trim('\'', '"');
            return inner;
        }
        return answer;
    }
}
