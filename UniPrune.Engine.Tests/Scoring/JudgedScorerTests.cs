using UniPrune.Engine.Datasets;
using UniPrune.Engine.Scoring;
using UniPrune.Engine.Scoring.Judge;
using UniPrune.Engine.Tests.Datasets;

namespace UniPrune.Engine.Tests.Scoring;

public class MathVistaScorerTests
{
    private static readonly string[] Columns = ["index", "question", "answer", "question_type", "answer_type", "choices", "answer_option", "task", "skills"];

    private static List<SamplePrediction> Rows() => TsvBuilder.Predict(TsvBuilder.Samples(Columns,
            ["1", "Q1 fraction", "8/11", "multi_choice", "text", "['3/11', '8/11', '6/11', '3/5']", "B", "figure question answering", "['arithmetic reasoning']"],
            ["2", "Q2 fraction", "8/11", "multi_choice", "text", "['3/11', '8/11', '6/11', '3/5']", "B", "figure question answering", "['arithmetic reasoning']"],
            ["3", "Q3 count", "14", "free_form", "integer", "[]", "", "math word problem", "['arithmetic reasoning', 'numeric commonsense']"],
            ["4", "Q4 zero", "0", "free_form", "integer", "[]", "", "math word problem", "['arithmetic reasoning']"],
            ["5", "Q5 price", "1.5", "free_form", "float", "[]", "", "textbook question answering", "['statistical reasoning']"],
            ["6", "Q6 text", "yes", "free_form", "text", "[]", "", "visual question answering", "['logical reasoning']"]),
        "The answer is (B).", "(C)", "14", "0", "The total is 1.5 dollars", "yes");

    [Fact]
    public async Task Without_a_judge_only_prefetched_rows_count_and_the_report_says_lower_bound()
    {
        var report = await new MathVistaDataset().ScoreAsync(Rows());
        Assert.True(report.IsLowerBound);
        Assert.Contains("lower bound", report.Mode);
        Assert.Equal(100.0 * 2 / 6, report.MainScore, 10);       // rows 1 and 3
        Assert.Equal(50, report.Metrics["prefetch_rate"], 10);    // rows 1, 2 (a wrong letter still prefetches), 3; "0" is falsy
        Assert.Equal(50, report.Categories["arithmetic reasoning"], 10);     // rows 1-4, hits 1 and 3
        Assert.Equal(50, report.Categories["figure question answering"], 10);
        Assert.Contains(report.Notes, n => n.Contains(JudgeSettings.EndpointVariable));
    }

    [Fact]
    public async Task The_judge_extracts_the_rest_and_text_answers_never_match()
    {
        var judge = new ScriptedJudge(r => r.Text.Contains("Q4 zero") ? "0" : r.Text.Contains("Q5 price") ? "1.5" : "yes");
        var report = await new MathVistaDataset().ScoreAsync(Rows(), new ScoringContext { Judge = judge });
        Assert.False(report.IsLowerBound);
        Assert.Equal(100.0 * 4 / 6, report.MainScore, 10); // 1, 3, 4, 5; row 6 is text (upstream compares 'None')
        Assert.Equal(3, judge.Requests.Count);
        Assert.All(judge.Requests, r => Assert.Equal(128, r.MaxTokens));
        Assert.EndsWith("Q5 price\nModel respone: The total is 1.5 dollarsExtracted answer:", judge.Requests[1].Text);
        Assert.StartsWith("\nPlease read the following example.\nThen extract the answer", judge.Requests[1].Text);
    }

    [Fact]
    public async Task Judge_failures_are_retried_five_times_with_rising_temperature()
    {
        var judge = new ScriptedJudge(_ => JudgeSettings.FailureMessage);
        var report = await new MathVistaDataset().ScoreAsync(Rows(), new ScoringContext { Judge = judge });
        Assert.Equal(15, judge.Requests.Count);
        Assert.Equal([0, 0.5, 1, 1.5, 2], judge.Requests.Take(5).Select(r => r.Temperature));
        Assert.Equal("All 5 retries failed.", report.Samples[3].Log);
    }
}

public class MathVisionScorerTests
{
    private static readonly string[] Columns = ["index", "question", "answer", "choices", "category"];

    [Fact]
    public async Task Multiple_choice_and_free_form_rows()
    {
        var samples = TsvBuilder.Samples(Columns,
            ["1", "Q1", "B", "['1', '2', '3']", "algebra"],
            ["2", "Q2", "\\frac{1}{2}", "[]", "algebra"],
            ["3", "Q3", "2\\sqrt{2}", "[]", "metric geometry"],
            ["4", "Q4", "7", "[]", "metric geometry"]);
        var predictions = TsvBuilder.Predict(samples, "B", "0.5", "The length is 2.828427 cm", "7");
        var offline = await new MathVisionDataset(mini: true).ScoreAsync(predictions);
        Assert.Equal("MathVision_MINI", offline.Dataset);
        Assert.Equal(75, offline.MainScore, 10);
        Assert.True(offline.IsLowerBound);
        Assert.Equal(50, offline.Categories["metric geometry"], 10);

        var judge = new ScriptedJudge(_ => "2.8284271");
        var judged = await new MathVisionDataset(mini: true).ScoreAsync(predictions, new ScoringContext { Judge = judge });
        Assert.Equal(100, judged.MainScore, 10);
        Assert.Single(judge.Requests);
        Assert.Contains("Hint: Please answer the question and provide the final answer at the end.", judge.Requests[0].Text);
    }

    [Theory]
    [InlineData("2", "2.0", true)]
    [InlineData("1/2", "0.5", true)]
    [InlineData("0.5", "\\frac{1}{2}", true)]
    [InlineData("\\dfrac{3}{4}", "0.75", true)]
    [InlineData("2.8284271", "2\\sqrt{2}", true)]
    [InlineData("1.41421356", "\\sqrt{2}", true)]
    [InlineData("3.14159265", "\\pi", true)]
    [InlineData("2", "\\sqrt[3]{8}", true)]
    [InlineData("8", "2^{3}", true)]
    [InlineData("1", "2^3", true)]        // Python eval: ^ is XOR
    [InlineData(" A ", "a", true)]
    [InlineData("3", "4", false)]
    [InlineData("b", "a", false)]
    [InlineData("x+1", "1+x", false)]    // documented gap: no symbolic algebra
    [InlineData("007", "7", true)]       // Python eval rejects the leading zeros, the LaTeX step reads 7
    [InlineData("1,000", "1000", false)]
    [InlineData("5 cm", "5", false)]     // documented gap: units
    public void Is_equal_rules(string answer, string truth, bool expected) => Assert.Equal(expected, MathEquality.IsEqual(answer, truth));

    [Fact]
    public void Python_evaluation_rejects_what_python_rejects()
    {
        Assert.False(MathEquality.TryEvaluatePython("007", out _));
        Assert.False(MathEquality.TryEvaluatePython("1/0", out _));
        Assert.True(MathEquality.TryEvaluatePython("-2**2", out double v) && v == -4);
        Assert.True(MathEquality.TryEvaluatePython("7//2 + 7%3", out double w) && w == 4);
    }
}

public class MiaBenchScorerTests
{
    private static readonly string[] Columns = ["index", "question", "components", "component_weight", "component_type", "num_of_component"];

    [Fact]
    public void Raw_score_parsing_reproduces_the_upstream_rule()
    {
        string[] types = ["genre", "length_limit"];
        var parsed = MiaBenchScorer.ParseRawScore(types, "score of component 1: 2/2, score of component 2: 6/8, total score: 8/10. The response...")!;
        Assert.Equal(1.0, parsed["genre"]);
        Assert.Equal(0.75, parsed["length_limit"]);
        Assert.Equal(0.8, parsed["total_score"]);
        Assert.Null(MiaBenchScorer.ParseRawScore(types, "score of component 1: 2/2, score of component 2: 7.5/8, total score: 9.5/10."));
        Assert.Null(MiaBenchScorer.ParseRawScore(types, "The response is great."));
        Assert.Null(MiaBenchScorer.ParseRawScore(types, "a: 1/2, b: 1/2, c: 1/2, total: 3/6"));    // more scores than component types
        Assert.Null(MiaBenchScorer.ParseRawScore(types, "score of component 1:2/2, total score: 8/10")); // the character after ':' is dropped
        Assert.Equal(["genre", "length_limit"], MiaBenchScorer.ComponentTypes("['genre', 'length_limit']"));
    }

    [Fact]
    public void Grading_prompt_matches_upstream_for_two_components()
    {
        string prompt = JudgePrompts.MiaBenchGrading("Write a poem.", ["a poem", "under 20 words"], ["5", "5"], 2, "Roses.");
        Assert.Equal("Here is an instruction for a multimodal LLM: 'Write a poem.'. You need to grade if the response from the model follows each component of the instruction. "
            + "The first component is: 'a poem', and the second component is 'under 20 words'. The response is: 'Roses.'. You need to score the response and be strict. "
            + "The total score ranges from 0 to 10, depending on if the response follows the instruction. The first and second component is each worth 5 and 5 scores. "
            + "List scores of each component, and the total score in one sentence in this format: score of component 1: x/2, score of component 2: y/8, total score: z/10. Then explain your reasons.", prompt);
        string three = JudgePrompts.MiaBenchGrading("q", ["a", "b", "c"], ["2", "3", "5"], 3, "r");
        Assert.Contains("'a', and the second component is 'b', and the third component is 'c'. The response", three);
        Assert.Contains("The first, second, and third component is each worth 2, 3, and 5 scores.List scores", three);
    }

    [Fact]
    public async Task Scores_average_over_parsed_replies_and_the_image_goes_to_the_judge()
    {
        var samples = TsvBuilder.Samples(Columns,
            ["1", "Describe it in one sentence.", "['one sentence', 'describe']", "[4, 6]", "['length_limit', 'description']", "2"],
            ["2", "Write a haiku.", "['haiku']", "[10]", "['genre']", "1"]);
        var judge = new ScriptedJudge(r => r.Text.Contains("haiku")
            ? "score of component 1: 7.5/10, total score: 7.5/10."
            : "score of component 1: 4/4, score of component 2: 3/6, total score: 7/10. Fine.");
        var report = await new MiaBenchDataset().ScoreAsync(TsvBuilder.Predict(samples, "A box.", "Boxes"), new ScoringContext { Judge = judge });
        Assert.Equal(0.7, report.MainScore, 12);
        Assert.Equal(70, report.Score100, 10);
        Assert.Equal(1.0, report.Categories["length_limit"]);
        Assert.Equal(0.5, report.Categories["description"]);
        Assert.Equal(1, report.Metrics["skipped"]);
        Assert.Equal(TsvBuilder.ImageBase64, judge.Requests[0].Images![0].Base64);
        Assert.Contains("worth 4 and 6 scores", judge.Requests[0].Text);
    }

    [Fact]
    public async Task Without_a_judge_mia_cannot_be_scored_and_says_how_to_configure_one()
    {
        var samples = TsvBuilder.Samples(Columns, ["1", "q", "['a']", "[10]", "['genre']", "1"]);
        var e = await Assert.ThrowsAsync<JudgeNotConfiguredException>(() => new MiaBenchDataset().ScoreAsync(TsvBuilder.Predict(samples, "x")));
        Assert.Contains(JudgeSettings.EndpointVariable, e.Message);
        Assert.NotNull(new MiaBenchDataset().JudgeSkipReason(null));
        Assert.Null(new MmeDataset().JudgeSkipReason(null));
        Assert.Contains("lower bound", new MathVistaDataset().JudgeSkipReason(null));
    }
}
