using System.Text.Json;
using UniPrune.Engine.Datasets;
using UniPrune.Engine.Scoring;

namespace UniPrune.Engine.Tests.Scoring;

/// <summary>
/// Differential test against VLMEvalKit's own mcq_circular_eval, mcq_vanilla_eval and report_acc (b862cf76, exact
/// matching): 30 random MMBench-style questions with 2-4 rotations each and noisy predictions
/// (reference/make_mcq_cases.py). Overall and every l2-category/category accuracy must agree.
/// </summary>
public class ReferenceMcqTests
{
    [Theory]
    [InlineData("circular", McqCircularMode.Circular)]
    [InlineData("vanilla_all", McqCircularMode.VanillaAll)]
    public async Task Mcq_evaluation_matches_vlmevalkit(string name, McqCircularMode mode)
    {
        string folder = Path.Combine(TestPaths.Fixtures, "datasets", "reference");
        var samples = new MmBenchDataset("EN").LoadFile(Path.Combine(folder, "mcq_circular.tsv"), PandasNaBehavior.Pandas15);
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "mcq_cases.json")));
        var predictions = document.RootElement.GetProperty("predictions").EnumerateArray().Select(p => p.GetString()!).ToList();
        Assert.Equal(predictions.Count, samples.Count);
        var report = await new MmBenchDataset("EN").ScoreAsync(samples.Select((s, i) => new SamplePrediction(s, predictions[i])).ToList(),
            new ScoringContext { McqMode = mode, Predictions = PredictionSemantics.Raw, NaBehavior = PandasNaBehavior.Pandas15 });
        foreach (var metric in document.RootElement.GetProperty("results").GetProperty(name).EnumerateObject())
        {
            double actual = metric.Name == "Overall" ? report.MainScore
                : report.Categories.TryGetValue($"l2-category/{metric.Name}", out double l2) ? l2 : report.Categories[$"category/{metric.Name}"];
            Assert.True(Math.Abs(metric.Value.GetDouble() - actual) < 1e-12, $"{name} {metric.Name}: python {metric.Value.GetDouble()}, C# {actual}");
        }
    }
}
