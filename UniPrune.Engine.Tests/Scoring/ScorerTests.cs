using UniPrune.Engine.Datasets;
using UniPrune.Engine.Scoring;
using UniPrune.Engine.Scoring.Judge;
using UniPrune.Engine.Tests.Datasets;

namespace UniPrune.Engine.Tests.Scoring;

/// <summary>A judge that answers from a rule and records the prompts it saw.</summary>
internal sealed class ScriptedJudge(Func<JudgeRequest, string> answer) : IJudge
{
    public string Model => "scripted-judge";
    public List<JudgeRequest> Requests { get; } = [];

    public Task<string> CompleteAsync(JudgeRequest request, CancellationToken cancellationToken = default)
    {
        Requests.Add(request);
        return Task.FromResult(answer(request));
    }
}

public class MmeScorerTests
{
    private static readonly string[] Columns = ["index", "image_path", "question", "answer", "category"];

    /// <summary>One image (two questions) per category; predictions right unless overridden.</summary>
    private static List<SamplePrediction> Build(Dictionary<string, (string, string)> wrongPredictions, IEnumerable<string>? categories = null)
    {
        var rows = new List<string[]>();
        var predictions = new List<string>();
        int index = 0;
        foreach (string category in categories ?? MmeScorer.Perception.Concat(MmeScorer.Reasoning))
        {
            rows.Add([(index++).ToString(), $"{category}/1.jpg", "Is it? Please answer yes or no.", "Yes", category]);
            rows.Add([(index++).ToString(), $"{category}/1.jpg", "Is it not? Please answer yes or no.", "No", category]);
            var (first, second) = wrongPredictions.GetValueOrDefault(category, ("Yes", "No"));
            predictions.Add(first);
            predictions.Add(second);
        }
        return TsvBuilder.Predict(TsvBuilder.Samples(Columns, [.. rows]), [.. predictions]);
    }

    [Fact]
    public async Task Acc_plus_needs_both_questions_and_categories_sum_into_perception_and_reasoning()
    {
        var report = await MmeScorer.ScoreAsync(Build(new()
        {
            ["existence"] = ("Yes", "Yes, it is."),      // one right: acc 50, acc+ 0
            ["code_reasoning"] = ("No", "I cannot tell"), // both wrong (Unknown is wrong)
        }), ScoringContext.Default);
        Assert.Equal(50, report.Categories["existence"]);
        Assert.Equal(50, report.Categories["acc/existence"]);
        Assert.Equal(0, report.Categories["acc+/existence"]);
        Assert.Equal(0, report.Categories["code_reasoning"]);
        Assert.Equal(200, report.Categories["scene"]);
        Assert.Equal(1850, report.Metrics["perception"]);
        Assert.Equal(600, report.Metrics["reasoning"]);
        Assert.Equal(2450, report.MainScore);
        Assert.Equal(87.5, report.Score100, 10);
        Assert.Equal(92.5, report.Metrics["perception_norm100"], 10);
        Assert.Equal(28, report.SampleCount);
    }

    [Fact]
    public async Task Missing_categories_raise_unless_partial_scoring_is_asked_for()
    {
        var subset = Build(new(), ["color", "OCR"]);
        await Assert.ThrowsAsync<ScoringException>(() => MmeScorer.ScoreAsync(subset, ScoringContext.Default));
        var report = await MmeScorer.ScoreAsync(subset, new ScoringContext { AllowPartial = true });
        Assert.Equal(400, report.Metrics["perception"]);
        Assert.Contains(report.Notes, n => n.Contains("partial"));
    }

    [Fact]
    public async Task An_image_with_a_single_scored_row_raises_like_upstream()
    {
        var all = Build(new());
        var e = await Assert.ThrowsAsync<ScoringException>(() => MmeScorer.ScoreAsync(all.Skip(1).ToList(), ScoringContext.Default));
        Assert.Contains("OCR/1.jpg", e.Message);
    }

    [Fact]
    public async Task The_judge_is_asked_only_about_unknown_extractions()
    {
        var judge = new ScriptedJudge(_ => "Yes");
        var report = await MmeScorer.ScoreAsync(Build(new() { ["existence"] = ("It is there", "No") }), new ScoringContext { Judge = judge });
        Assert.Single(judge.Requests);
        Assert.EndsWith("Question: Is it? Please answer yes or no.?\nAnswer: It is there\nYour output: ", judge.Requests[0].Text);
        Assert.Equal(200, report.Categories["existence"]);
        Assert.Equal("judge:scripted-judge", report.Mode);
    }
}

public class McqScorerTests
{
    private static readonly IReadOnlyList<DatasetSample> Circular =
        VlmTsvReader.Read(Path.Combine(TestPaths.Fixtures, "datasets", "mcq_circular.tsv"));

    /// <summary>Group 0 all right; group 1 has an unparsable rotation; group 2 has a wrong rotation.</summary>
    private static List<SamplePrediction> Predictions()
    {
        var byIndex = new Dictionary<string, string>
        {
            ["0"] = "A", ["1000000"] = "The answer is D.", ["2000000"] = "C", ["3000000"] = "B",
            ["1"] = "C", ["1000001"] = "square", ["2000001"] = "I don't know",
            ["2"] = "B", ["1000002"] = "B",
        };
        return Circular.Select(s => new SamplePrediction(s, byIndex[s.Index])).ToList();
    }

    [Fact]
    public async Task Circular_counts_a_question_only_when_every_rotation_is_right()
    {
        var report = await new MmBenchDataset("EN").ScoreAsync(Predictions());
        Assert.Equal(1.0 / 3, report.MainScore, 12);
        Assert.Equal(100.0 / 3, report.Score100, 10);
        Assert.Equal(3, report.Metrics["questions"]);
        Assert.Equal(1.0 / 3, report.Metrics["Overall/dev"], 12);
        Assert.Equal(0.5, report.Categories["l2-category/FP-S"]);
        Assert.Equal(0, report.Categories["l2-category/CP"]);
        Assert.Equal(0.5, report.Categories["category/color_recognition"]);
        Assert.StartsWith("circular, exact_matching", report.Mode);
    }

    [Fact]
    public async Task Vanilla_modes_score_rows_independently()
    {
        var all = await McqScorer.ScoreAsync("MMBench_DEV_EN", Predictions(), circular: true, new ScoringContext { McqMode = McqCircularMode.VanillaAll });
        Assert.Equal(7.0 / 9, all.MainScore, 12);
        var first = await McqScorer.ScoreAsync("MMBench_DEV_EN", Predictions(), circular: true, new ScoringContext { McqMode = McqCircularMode.Vanilla0 });
        Assert.Equal(1.0, first.MainScore);
        // Upstream selects index <= 1e6, so the first rotation of question 0 (index 1000000) is included.
        Assert.Equal(4, first.Metrics["questions"]);
        Assert.StartsWith("vanilla_0", first.Mode);
    }

    [Fact]
    public async Task A_judge_only_decides_rotations_the_rules_could_not_parse()
    {
        var judge = new ScriptedJudge(_ => "A");
        var report = await new MmBenchDataset("EN").ScoreAsync(Predictions(), new ScoringContext { Judge = judge });
        Assert.Equal(2.0 / 3, report.MainScore, 12);
        Assert.Single(judge.Requests);
        Assert.Contains("Options: There are several options: \nA. square\nB. blue\n\nAnswer: I don't know\nYour output: ", judge.Requests[0].Text);
    }

    [Fact]
    public async Task Vanilla_datasets_give_z_without_a_judge_and_report_by_category()
    {
        var samples = TsvBuilder.Samples(["index", "question", "A", "B", "answer", "category"],
            ["1", "q1", "red", "blue", "A", "chart"], ["2", "q2", "red", "blue", "B", "map"], ["3", "q3", "red", "blue", "B", "map"]);
        var report = await new SeedBench2PlusDataset().ScoreAsync(TsvBuilder.Predict(samples, "A", "purple", "blue"));
        Assert.Equal(2.0 / 3, report.MainScore, 12);
        Assert.Equal(1, report.Categories["category/chart"]);
        Assert.Equal(0.5, report.Categories["category/map"]);
        Assert.Equal("Z", report.Samples[1].Extracted);
        Assert.Equal(2.0 / 3, report.Metrics["Overall/none"], 12);
    }

    [Fact]
    public async Task Failed_judge_calls_end_in_a_seeded_pick()
    {
        var samples = TsvBuilder.Samples(["index", "question", "A", "B", "answer"], ["1", "q", "red", "blue", "A"]);
        var judge = new ScriptedJudge(_ => JudgeSettings.FailureMessage);
        var first = await new ScienceQaDataset().ScoreAsync(TsvBuilder.Predict(samples, "purple"), new ScoringContext { Judge = judge });
        var second = await new ScienceQaDataset().ScoreAsync(TsvBuilder.Predict(samples, "purple"), new ScoringContext { Judge = judge });
        Assert.Equal(6, judge.Requests.Count);
        Assert.Equal(first.Samples[0].Extracted, second.Samples[0].Extracted);
        Assert.Contains("seeded random", first.Samples[0].Log);
    }
}

public class PopeAndHallusionTests
{
    [Fact]
    public async Task Pope_explodes_splits_and_counts_unknown_as_a_no_prediction()
    {
        var samples = TsvBuilder.Samples(["index", "question", "answer", "category"],
            ["1", "q", "Yes", "adversarial,popular,random"], ["2", "q", "No", "adversarial,random"], ["3", "q", "Yes", "popular"], ["4", "q", "No", "random"]);
        var report = await new PopeDataset().ScoreAsync(TsvBuilder.Predict(samples, "Yes", "Yes, there is.", "I am not sure", "No"));
        Assert.Equal(7, report.Metrics["records"]);
        Assert.Equal(60, report.Metrics["precision"], 10);
        Assert.Equal(75, report.Metrics["recall"], 10);
        Assert.Equal(200.0 / 3, report.MainScore, 10);
        Assert.Equal(400.0 / 7, report.Metrics["acc"], 10);
        Assert.Equal(50, report.Categories["random/precision"], 10);
        Assert.Equal(200.0 / 3, report.Categories["random/acc"], 10);
        Assert.Equal(50, report.Categories["popular/recall"], 10);
        Assert.Equal(50, report.Categories["adversarial/acc"], 10);
        Assert.Equal(4, report.SampleCount);
    }

    [Fact]
    public async Task Pope_f1_is_zero_when_nothing_is_predicted_yes()
    {
        var samples = TsvBuilder.Samples(["index", "question", "answer", "category"], ["1", "q", "Yes", "random"]);
        Assert.Equal(0, (await new PopeDataset().ScoreAsync(TsvBuilder.Predict(samples, "No"))).MainScore);
    }

    private static readonly string[] HallusionColumns = ["index", "question", "answer", "category", "l2-category"];

    [Fact]
    public async Task Hallusion_groups_figures_and_questions_without_the_vd_vs_split()
    {
        var samples = TsvBuilder.Samples(HallusionColumns,
            ["VD_chart_x_1_0_0", "q", "Yes", "VD", "chart"], ["VD_chart_x_1_0_1", "q", "No", "VD", "chart"],
            ["VS_chart_x_1_1_0", "q", "Yes", "VS", "chart"], ["VD_map_x_2_0_0", "q", "No", "VD", "map"]);
        var report = await new HallusionBenchDataset().ScoreAsync(TsvBuilder.Predict(samples, "Yes", "Yes", "yes", "no"));
        Assert.Equal(75, report.Metrics["aAcc"], 10);
        Assert.Equal(200.0 / 3, report.Metrics["fAcc"], 10);  // chart_1_0 has a wrong row
        Assert.Equal(200.0 / 3, report.Metrics["qAcc"], 10);  // chart_1_0 = {VD row, VS row}, both right
        Assert.Equal((75 + 400.0 / 3) / 3, report.MainScore, 10);
        Assert.Equal(100, report.Categories["category/VS/aAcc"]);
        Assert.Equal(100, report.Categories["l2-category/map/fAcc"]);

        // The VS row wrong instead: the merged question group chart_1_0 fails too.
        var other = await new HallusionBenchDataset().ScoreAsync(TsvBuilder.Predict(samples, "Yes", "No", "no", "no"));
        Assert.Equal(200.0 / 3, other.Metrics["qAcc"], 10);
        Assert.Equal(200.0 / 3, other.Metrics["fAcc"], 10);
    }

    [Fact]
    public async Task Hallusion_index_must_have_six_fields()
    {
        var samples = TsvBuilder.Samples(HallusionColumns, ["VD_chart_1", "q", "Yes", "VD", "chart"]);
        var e = await Assert.ThrowsAsync<ScoringException>(() => new HallusionBenchDataset().ScoreAsync(TsvBuilder.Predict(samples, "Yes")));
        Assert.Contains("VD_chart_1", e.Message);
    }
}

public class OcrBenchScorerTests
{
    private static readonly string[] Columns = ["index", "question", "answer", "category"];

    [Fact]
    public async Task Substring_hits_case_folding_and_hme_space_removal()
    {
        var samples = TsvBuilder.Samples(Columns,
            ["1", "q", "['Hello']", "Regular Text Recognition"],
            ["2", "q", "['x^2+1', 'x^{2}+1']", OcrBenchScorer.Hme],
            ["3", "q", "['STOP']", "Scene Text-centric VQA"],
            ["4", "q", "['12']", "Digit String Recognition"],
            ["5", "q", "['Total']", "Key Information Extraction"]);
        var report = await new OcrBenchDataset().ScoreAsync(TsvBuilder.Predict(samples, "the word is hello.", "x ^ 2 + 1", "stop sign", "1 2", "TOTAL"));
        Assert.Equal([1, 1, 1, 0, 1], report.Samples.Select(s => s.Score));
        Assert.Equal(1, report.Metrics["Text Recognition"]);
        Assert.Equal(4, report.MainScore);
        Assert.Equal(0.4, report.Metrics["Final Score Norm"], 10); // VLMEvalKit's Final/10, out of 1000 rows
        Assert.Equal(80, report.Score100, 10);                        // the hit rate: equal to Final/10 on the official 1000 rows
        Assert.Equal(1, report.Categories[OcrBenchScorer.Hme]);
    }

    [Fact]
    public void Hme_is_case_sensitive_and_others_are_not()
    {
        Assert.False(OcrBenchScorer.IsHit(OcrBenchScorer.Hme, "X^2", ["x^2"]));
        Assert.True(OcrBenchScorer.IsHit("Doc-oriented VQA", "X^2", ["x^2"]));
        Assert.True(OcrBenchScorer.IsHit("Doc-oriented VQA", "line one\nline two", ["one line"]));
    }

    [Fact]
    public async Task An_empty_prediction_is_scored_as_nan_like_upstream_unless_raw()
    {
        var samples = TsvBuilder.Samples(Columns, ["1", "q", "['a']", "Regular Text Recognition"], ["2", "q", "['b']", "Regular Text Recognition"]);
        var parity = await new OcrBenchDataset().ScoreAsync(TsvBuilder.Predict(samples, "", "NA"));
        Assert.Equal(1, parity.MainScore); // "nan" contains "a"
        var raw = await new OcrBenchDataset().ScoreAsync(TsvBuilder.Predict(samples, "", "NA"), new ScoringContext { Predictions = PredictionSemantics.Raw });
        Assert.Equal(0, raw.MainScore);
    }

    [Fact]
    public async Task Bad_answer_literals_and_unknown_categories_are_errors()
    {
        var bad = TsvBuilder.Samples(Columns, ["1", "q", "Hello", "Regular Text Recognition"]);
        Assert.Contains("list literal", (await Assert.ThrowsAsync<ScoringException>(() => new OcrBenchDataset().ScoreAsync(TsvBuilder.Predict(bad, "x")))).Message);
        var unknown = TsvBuilder.Samples(Columns, ["1", "q", "['a']", "Poetry"]);
        Assert.Contains("Poetry", (await Assert.ThrowsAsync<ScoringException>(() => new OcrBenchDataset().ScoreAsync(TsvBuilder.Predict(unknown, "x")))).Message);
    }
}

public class PredictionFileTests
{
    [Fact]
    public void Na_strings_become_nan_and_numeric_columns_are_retyped()
    {
        Assert.Equal(["nan", "nan", "x"], PredictionFile.RoundTrip(["", "null", "x"], PredictionSemantics.VlmEvalKitFile, PandasNaBehavior.Pandas2).Texts);
        var (numeric, isNumeric) = PredictionFile.RoundTrip(["12.30", "0451278"], PredictionSemantics.VlmEvalKitFile, PandasNaBehavior.Pandas2);
        Assert.Equal(["12.3", "451278.0"], numeric);
        Assert.True(isNumeric);
        Assert.Equal(["451278"], PredictionFile.RoundTrip(["0451278"], PredictionSemantics.VlmEvalKitFile, PandasNaBehavior.Pandas2).Texts);
        Assert.Equal(["12.30", "a"], PredictionFile.RoundTrip(["12.30", "a"], PredictionSemantics.VlmEvalKitFile, PandasNaBehavior.Pandas2).Texts);
        Assert.Equal(["None"], PredictionFile.RoundTrip(["None"], PredictionSemantics.VlmEvalKitFile, PandasNaBehavior.Pandas15).Texts);
        Assert.Equal(["", "null"], PredictionFile.RoundTrip(["", "null"], PredictionSemantics.Raw, PandasNaBehavior.Pandas2).Texts);
    }
}

public class PaperSummaryTests
{
    [Fact]
    public void Avg_and_relative_scores()
    {
        // Table 1, LLaVA-v1.5-7B vanilla row: the printed Avg. 53.2 is the plain mean of the seven 0–100 scores.
        Assert.Equal(53.2, Math.Round(PaperSummary.Average([48.1, 43.5, 63.6, 38.8, 30.2, 68.2, 80.1]), 1));
        Assert.Equal(80, PaperSummary.RelativeScore(40, 50), 10);
        Assert.Equal(20, PaperSummary.RelativeDrop(40, 50), 10);
        Assert.Equal(-10, PaperSummary.RelativeDrop(55, 50), 10);
        Assert.Throws<ArgumentException>(() => PaperSummary.RelativeScore(1, 0));
        Assert.Throws<ArgumentException>(() => PaperSummary.Average([1, double.NaN]));
    }
}
