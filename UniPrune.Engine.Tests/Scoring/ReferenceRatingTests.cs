using System.Text.Json;
using UniPrune.Engine.Datasets;
using UniPrune.Engine.Scoring;

namespace UniPrune.Engine.Tests.Scoring;

/// <summary>
/// Differential test against VLMEvalKit's own Y/N ratings: reference/yorn_rating_*.tsv with random predictions were
/// scored by YOrN_Extraction + MME_rating / POPE_rating / Hallusion_rating (b862cf76, pandas 1.5.3; made by
/// make_yorn_rating_cases.py). The C# scorers must give the same numbers (predictions passed raw, as the script did).
/// </summary>
public class ReferenceRatingTests
{
    private static readonly JsonElement Cases = LoadCases();
    private static readonly ScoringContext Raw = new() { Predictions = PredictionSemantics.Raw };

    private static JsonElement LoadCases()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.Fixtures, "datasets", "reference", "yorn_rating_cases.json")));
        return document.RootElement.GetProperty("cases").Clone();
    }

    private static List<SamplePrediction> Predictions(VlmDataset dataset, string file, JsonElement expected)
    {
        var samples = dataset.LoadFile(Path.Combine(TestPaths.Fixtures, "datasets", "reference", file));
        var predictions = expected.GetProperty("predictions").EnumerateArray().Select(p => p.GetString()!).ToList();
        Assert.Equal(predictions.Count, samples.Count);
        return samples.Select((s, i) => new SamplePrediction(s, predictions[i])).ToList();
    }

    [Fact]
    public async Task Mme_matches_mme_rating()
    {
        var expected = Cases.GetProperty("MME");
        var report = await new MmeDataset().ScoreAsync(Predictions(new MmeDataset(), "yorn_rating_mme.tsv", expected), Raw);
        foreach (var metric in expected.GetProperty("metrics").EnumerateObject())
        {
            double actual = metric.Name is "perception" or "reasoning" ? report.Metrics[metric.Name] : report.Categories[metric.Name];
            Assert.True(Math.Abs(metric.Value.GetDouble() - actual) < 1e-9, $"{metric.Name}: python {metric.Value.GetDouble()}, C# {actual}");
        }
    }

    [Fact]
    public async Task Pope_matches_pope_rating()
    {
        var expected = Cases.GetProperty("POPE");
        var report = await new PopeDataset().ScoreAsync(Predictions(new PopeDataset(), "yorn_rating_pope.tsv", expected), Raw);
        foreach (var split in expected.GetProperty("rows").EnumerateObject())
            foreach (var metric in split.Value.EnumerateObject())
            {
                double actual = split.Name == "Overall"
                    ? report.Metrics[metric.Name]
                    : report.Categories[$"{split.Name}/{(metric.Name == "Overall" ? "F1" : metric.Name)}"];
                Assert.True(Math.Abs(metric.Value.GetDouble() - actual) < 1e-9, $"{split.Name}/{metric.Name}: python {metric.Value.GetDouble()}, C# {actual}");
            }
    }

    [Fact]
    public async Task Hallusion_matches_hallusion_rating()
    {
        var expected = Cases.GetProperty("HallusionBench");
        var report = await new HallusionBenchDataset().ScoreAsync(Predictions(new HallusionBenchDataset(), "yorn_rating_hallusion.tsv", expected), Raw);
        foreach (var split in expected.GetProperty("rows").EnumerateObject())
            foreach (var metric in split.Value.EnumerateObject())
            {
                string key = split.Name switch
                {
                    "Overall" => metric.Name,
                    "VD" or "VS" => $"category/{split.Name}/{metric.Name}",
                    _ => $"l2-category/{split.Name}/{metric.Name}",
                };
                double actual = split.Name == "Overall" ? report.Metrics[key] : report.Categories[key];
                Assert.True(Math.Abs(metric.Value.GetDouble() - actual) < 1e-9, $"{split.Name}/{metric.Name}: python {metric.Value.GetDouble()}, C# {actual}");
            }
    }
}
