using System.Text.Json;
using UniPrune.Engine.Datasets;
using UniPrune.Engine.Scoring;

namespace UniPrune.Engine.Tests.Scoring;

/// <summary>
/// Differential test against VLMEvalKit itself: Fixtures/datasets/reference/extraction_cases.json holds 615 answers run
/// through VLMEvalKit's own can_infer, YOrN_Extraction and process_punctuation (b862cf76; made by make_extraction_cases.py
/// beside it). Every C# result must equal Python's.
/// </summary>
public class ReferenceExtractionTests
{
    private static readonly JsonElement[] Cases = LoadCases();

    private static JsonElement[] LoadCases()
    {
        string path = Path.Combine(TestPaths.Fixtures, "datasets", "reference", "extraction_cases.json");
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        return document.RootElement.GetProperty("cases").EnumerateArray().Select(c => c.Clone()).ToArray();
    }

    private static (string Answer, ChoiceOption[] Choices) Input(JsonElement c) =>
        (c.GetProperty("answer").GetString()!,
         c.GetProperty("choices").EnumerateObject().Select(p => new ChoiceOption(p.Name[0], p.Value.GetString()!)).ToArray());

    [Fact]
    public void Can_infer_matches_vlmevalkit_on_every_reference_case()
    {
        Assert.True(Cases.Length > 600);
        var mismatches = new List<string>();
        foreach (var c in Cases)
        {
            var (answer, choices) = Input(c);
            var expected = c.GetProperty("can_infer");
            string want = expected.ValueKind == JsonValueKind.False ? "False" : expected.GetString()!;
            string got = AnswerExtraction.CanInfer(answer, choices).ToString();
            if (got != want) mismatches.Add($"{JsonSerializer.Serialize(answer)}: python {want}, C# {got}");
        }
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches.Take(20)));
    }

    [Fact]
    public void Yes_no_extraction_and_punctuation_match_vlmevalkit_on_every_reference_case()
    {
        var mismatches = new List<string>();
        foreach (var c in Cases)
        {
            string answer = c.GetProperty("answer").GetString()!;
            if (AnswerExtraction.YesNo(answer) != c.GetProperty("yorn").GetString())
                mismatches.Add($"YOrN {JsonSerializer.Serialize(answer)}: python {c.GetProperty("yorn").GetString()}, C# {AnswerExtraction.YesNo(answer)}");
            string punctuation = AnswerExtraction.ProcessPunctuation(PythonText.Lower(answer));
            if (punctuation != c.GetProperty("punctuation").GetString())
                mismatches.Add($"punct {JsonSerializer.Serialize(answer)}: python {JsonSerializer.Serialize(c.GetProperty("punctuation").GetString())}, C# {JsonSerializer.Serialize(punctuation)}");
        }
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches.Take(20)));
    }
}
