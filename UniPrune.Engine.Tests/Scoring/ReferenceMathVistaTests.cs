using System.Text.Json;
using UniPrune.Engine.Datasets;
using UniPrune.Engine.Scoring;

namespace UniPrune.Engine.Tests.Scoring;

/// <summary>
/// Differential test against VLMEvalKit's MathVista post_check (b862cf76): 120 random rows of every question/answer type
/// with awkward predictions (" 14 ", "14.0", "+14", "1_4", "inf", "0"...), prefetch and final verdicts from Python
/// (reference/make_mathvista_cases.py, pandas 1.5.3, so an answer "None" stays a string there).
/// </summary>
public class ReferenceMathVistaTests
{
    [Fact]
    public void Post_check_matches_vlmevalkit()
    {
        string folder = Path.Combine(TestPaths.Fixtures, "datasets", "reference");
        var samples = new MathVistaDataset().LoadFile(Path.Combine(folder, "mathvista_postcheck.tsv"), PandasNaBehavior.Pandas15);
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "mathvista_postcheck_cases.json")));
        var cases = document.RootElement.GetProperty("cases").EnumerateArray().ToList();
        Assert.Equal(cases.Count, samples.Count);
        var mismatches = new List<string>();
        for (int i = 0; i < cases.Count; i++)
        {
            string prediction = cases[i].GetProperty("prediction").GetString()!;
            var prefetch = MathVistaScorer.PostCheckPrefetch(samples[i], PyValue.FromText(prediction));
            bool truthy = prefetch is { Truthy: true };
            string? value = truthy ? prefetch!.Value.Text : null;
            bool final = MathVistaScorer.PostCheckFinal(samples[i], truthy ? prefetch!.Value : PyValue.FromText(prediction));
            if (truthy != cases[i].GetProperty("prefetch").GetBoolean() || value != cases[i].GetProperty("prefetch_value").GetString()
                || final != cases[i].GetProperty("final").GetBoolean())
                mismatches.Add($"row {i} {samples[i].Text("answer_type")} answer {samples[i].Text("answer")} prediction {JsonSerializer.Serialize(prediction)}: "
                    + $"python prefetch {cases[i].GetProperty("prefetch_value")} final {cases[i].GetProperty("final")}, C# prefetch {value} final {final}");
        }
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches.Take(20)));
    }
}
