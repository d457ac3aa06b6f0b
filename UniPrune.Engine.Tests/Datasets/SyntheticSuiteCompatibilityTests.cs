using UniPrune.Engine.Datasets;
using UniPrune.Engine.Scoring;
using UniPrune.Engine.Synthetic;

namespace UniPrune.Engine.Tests.Datasets;

/// <summary>The project's synthetic suite (Synthetic/) must read and score through the same dataset classes as the real files.</summary>
public class SyntheticSuiteCompatibilityTests
{
    public static TheoryData<string> Names() => new(SyntheticSuite.Generators.Keys.Where(n => n != "MIA-Bench"));

    /// <summary>An answer that is right by construction: the letter, Yes/No, the first accepted string, the value.</summary>
    private static string PerfectAnswer(VlmDataset dataset, DatasetSample sample) => dataset switch
    {
        OcrBenchDataset => PythonLiteral.ParseStringList(sample.Answer!)[0],
        _ => sample.Answer!,
    };

    [Theory]
    [MemberData(nameof(Names))]
    public async Task Synthetic_tables_load_and_right_answers_score_full_marks(string name)
    {
        string path = Path.Combine(TestPaths.NewTempDir(), SyntheticSuite.FileNameOf(name) + ".tsv");
        SyntheticSuite.Generate(name, SyntheticSplit.Test, 6).WriteTsv(path);
        var dataset = DatasetCatalog.Get(name);
        var samples = dataset.LoadFile(path);
        Assert.NotEmpty(samples);
        Assert.All(samples, s => Assert.NotEmpty(s.Images));
        foreach (string family in ModelFamilies.All)
            Assert.NotEmpty(PromptPolicy.For(family).Build(dataset, samples[0]).Text);

        var predictions = samples.Select(s => new SamplePrediction(s, PerfectAnswer(dataset, s))).ToList();
        var report = await dataset.ScoreAsync(predictions, new ScoringContext { AllowPartial = true });
        if (name == "MME")
        {
            // A subset of the 14 categories: every present one scores the full 200 (acc 100 + acc+ 100).
            var present = report.Categories.Where(c => !c.Key.Contains('/')).ToList();
            Assert.All(present, c => Assert.Equal(200, c.Value));
            Assert.Equal(200 * present.Count, report.MainScore, 9);
        }
        else if (name == "OCRBench") Assert.Equal(samples.Count, report.MainScore);
        else Assert.Equal(100, report.Score100, 9);
        Assert.False(report.IsLowerBound && name != "MathVista_MINI");

        var cell = report.ToCellScores();
        Assert.Equal(report.Score100, cell.PrimaryValue);
    }
}
