using UniPrune.Engine.Datasets;
using UniPrune.Engine.Scoring;
using UniPrune.Engine.Tests.Datasets;

namespace UniPrune.Engine.Tests.Scoring;

/// <summary>The judge-free scoring modes of the synthetic benchmark kinds: MME over declared categories, MathVista by rule, MIA by constraint.</summary>
public class SyntheticScorerTests
{
    private static readonly string[] MmeColumns = ["index", "question", "answer", "category", "image_path"];

    private static IReadOnlyList<DatasetSample> MmeRows(params (string Category, string Image, string Answer)[] rows) =>
        TsvBuilder.Samples(MmeColumns, rows.Select((r, i) => new[] { i.ToString(), $"Q{i}? Please answer yes or no.", r.Answer, r.Category, r.Image }).ToArray());

    [Fact]
    public async Task Mme_over_declared_categories_normalises_by_the_categories_present()
    {
        var samples = MmeRows(("color", "a", "Yes"), ("color", "a", "No"), ("count", "b", "Yes"), ("count", "b", "No"));
        var set = MmeCategorySet.Subset("MME_TEST", ["color", "count"]);
        // color: both right (acc 100, acc+ 100); count: one right (acc 50, acc+ 0).
        var report = await new MmeDataset(set).ScoreAsync(TsvBuilder.Predict(samples, "Yes", "No", "Yes", "Yes"));
        Assert.Equal("MME_TEST", report.Dataset);
        Assert.Equal(200 + 50, report.MainScore, 9);
        Assert.Equal(250 / 400.0 * 100, report.Score100, 9);
        Assert.Equal(50, report.Metrics["acc+"], 9);
        Assert.Equal(75, report.Metrics["acc"], 9);
        Assert.Equal(2, report.Metrics["categories"]);
    }

    [Fact]
    public async Task Mme_subset_refuses_an_undeclared_category_and_a_missing_declared_one_unless_partial()
    {
        var set = MmeCategorySet.Subset("MME_TEST", ["color", "count"]);
        var stray = MmeRows(("color", "a", "Yes"), ("color", "a", "No"), ("scene", "c", "Yes"), ("scene", "c", "No"));
        var e = await Assert.ThrowsAsync<ScoringException>(() => new MmeDataset(set).ScoreAsync(TsvBuilder.Predict(stray, "Yes", "No", "Yes", "No")));
        Assert.Contains("'scene'", e.Message);

        var colorOnly = MmeRows(("color", "a", "Yes"), ("color", "a", "No"));
        var predictions = TsvBuilder.Predict(colorOnly, "Yes", "No");
        var missing = await Assert.ThrowsAsync<ScoringException>(() => new MmeDataset(set).ScoreAsync(predictions));
        Assert.Contains("count", missing.Message);
        var partial = await new MmeDataset(set).ScoreAsync(predictions, new ScoringContext { AllowPartial = true });
        Assert.Equal(100, partial.Score100, 9);
        Assert.Contains(partial.Notes, n => n.StartsWith("partial"));
    }

    [Fact]
    public void Mme_subset_must_name_real_mme_categories()
    {
        Assert.Throws<ArgumentException>(() => MmeCategorySet.Subset("X", ["colour"]));
        Assert.Throws<ArgumentException>(() => MmeCategorySet.Subset("X", []));
        Assert.Null(new MmeDataset().Categories.Declared);
        Assert.Equal("MME", new MmeDataset().Name);
    }

    private static readonly string[] MathColumns = ["index", "question", "answer", "question_type", "answer_type", "choices", "answer_option", "precision", "task", "skills"];

    [Fact]
    public async Task MathVista_by_rule_extracts_the_final_value_and_compares_with_post_check()
    {
        var samples = TsvBuilder.Samples(MathColumns,
            ["1", "Q1", "blue", "multi_choice", "text", "['red', 'blue', 'green']", "B", "", "figure question answering", "['statistical reasoning']"],
            ["2", "Q2", "blue", "multi_choice", "text", "['red', 'blue', 'green']", "B", "", "figure question answering", "['statistical reasoning']"],
            ["3", "Q3", "blue", "multi_choice", "text", "['red', 'blue', 'green']", "B", "", "figure question answering", "['statistical reasoning']"],
            ["4", "Q4", "3", "free_form", "integer", "", "", "", "visual question answering", "['arithmetic reasoning']"],
            ["5", "Q5", "0", "free_form", "integer", "", "", "", "visual question answering", "['arithmetic reasoning']"],
            ["6", "Q6", "7", "free_form", "integer", "", "", "", "math word problem", "['arithmetic reasoning']"],
            ["7", "Q7", "1.5", "free_form", "float", "", "", "1.0", "math word problem", "['arithmetic reasoning']"],
            ["8", "Q8", "1.5", "free_form", "float", "", "", "1.0", "math word problem", "['arithmetic reasoning']"]);
        var report = await new MathVistaSyntheticDataset().ScoreAsync(TsvBuilder.Predict(samples,
            "B", "blue", "(C)",                         // letter, option text (can_infer), a wrong letter
            "There are 3 circles.", "0", "8",          // last number; a zero is an answer here (no prefetch truthiness); wrong
            "about 1.53", "2.5"));                      // rounded to the row's precision; wrong
        Assert.Equal(new double[] { 1, 1, 0, 1, 1, 0, 1, 0 }, report.Samples.Select(s => s.Score));
        Assert.Equal(100.0 * 5 / 8, report.Score100, 9);
        Assert.False(report.IsLowerBound);
        Assert.StartsWith("rule", report.Mode);
        Assert.Equal("MathVista_MINI_SYN", report.Dataset);
        Assert.Equal(100.0 * 2 / 3, report.Categories["figure question answering"], 9);
        Assert.Null(new MathVistaSyntheticDataset().JudgeSkipReason(null));
    }

    [Theory]
    [InlineData(FormatConstraints.OneWordUppercase, "RED", "", true)]
    [InlineData(FormatConstraints.OneWordUppercase, "Red", "", false)]
    [InlineData(FormatConstraints.OneWordUppercase, "RED.", "", false)]
    [InlineData(FormatConstraints.OneWordUppercase, "DARK RED", "", false)]
    [InlineData(FormatConstraints.PrefixAnswer, "Answer: red", "", true)]
    [InlineData(FormatConstraints.PrefixAnswer, "answer: red", "", false)]
    [InlineData(FormatConstraints.LowercasePeriod, "red.", "", true)]
    [InlineData(FormatConstraints.LowercasePeriod, "Red.", "", false)]
    [InlineData(FormatConstraints.LowercasePeriod, "red", "", false)]
    [InlineData(FormatConstraints.TwoWordsKeyword, "red circle", "circle", true)]
    [InlineData(FormatConstraints.TwoWordsKeyword, "Red circle.", "circle", true)]
    [InlineData(FormatConstraints.TwoWordsKeyword, "red square", "circle", false)]
    [InlineData(FormatConstraints.TwoWordsKeyword, "the red circle", "circle", false)]
    public void Each_format_constraint_is_checked_by_rule(string constraint, string response, string keyword, bool holds) =>
        Assert.Equal(holds, FormatConstraints.FormatHolds(constraint, response, ["red"], keyword));

    [Fact]
    public void A_comma_list_needs_exactly_the_answers_item_count()
    {
        string[] two = ["red", "blue"];
        Assert.True(FormatConstraints.FormatHolds(FormatConstraints.CommaList, "red, blue", two, null));
        Assert.True(FormatConstraints.FormatHolds(FormatConstraints.CommaList, "red,blue.", two, null));
        Assert.False(FormatConstraints.FormatHolds(FormatConstraints.CommaList, "red and blue", two, null));
        Assert.False(FormatConstraints.FormatHolds(FormatConstraints.CommaList, "red, blue, green", two, null));
        Assert.Throws<ArgumentException>(() => FormatConstraints.FormatHolds("shout", "RED", two, null));
    }

    [Fact]
    public void Content_is_the_answers_own_words_so_naming_every_colour_fails()
    {
        const string instruction = "What color is the circle? Start your answer with \"Answer:\".";
        Assert.True(FormatConstraints.ContentHolds("Answer: red", ["red"], instruction));
        Assert.True(FormatConstraints.ContentHolds("The circle is RED.", ["red"], instruction));
        Assert.False(FormatConstraints.ContentHolds("Answer: red or blue", ["red"], instruction));
        Assert.False(FormatConstraints.ContentHolds("Answer: blue", ["red"], instruction));
        Assert.True(FormatConstraints.ContentHolds("red, blue", ["red", "blue"], "Name the colors of the circle and the square, separated by a comma."));
        Assert.False(FormatConstraints.ContentHolds("blue, red", ["red", "blue"], "Name the colors of the circle and the square, separated by a comma."));
    }

    [Fact]
    public async Task MiaBench_synthetic_gives_half_for_content_and_half_for_format()
    {
        var samples = TsvBuilder.Samples(["index", "question", "answer", "constraint", "keyword"],
            ["1", "What color is the circle? Answer with one word in capital letters.", "red", FormatConstraints.OneWordUppercase, ""],
            ["2", "What color is the circle? Answer with one word in capital letters.", "red", FormatConstraints.OneWordUppercase, ""],
            ["3", "What color is the circle? Answer with one word in capital letters.", "red", FormatConstraints.OneWordUppercase, ""],
            ["4", "What color is the square? Answer in exactly two words, the second being \"square\".", "blue", FormatConstraints.TwoWordsKeyword, "square"]);
        var report = await new MiaBenchSyntheticDataset().ScoreAsync(TsvBuilder.Predict(samples, "RED", "red", "BLUE", "blue square"));
        Assert.Equal(new[] { 1, 0.5, 0.5, 1 }, report.Samples.Select(s => s.Score));
        Assert.Equal(0.75, report.MainScore, 9);
        Assert.Equal(75, report.Score100, 9);
        Assert.Equal(0.75, report.Metrics["content"], 9);
        Assert.Equal(0.75, report.Metrics["format"], 9);
        Assert.Equal(2.0 / 3, report.Categories[$"constraint/{FormatConstraints.OneWordUppercase}"], 9);

        var bad = TsvBuilder.Samples(["index", "question", "answer", "constraint", "keyword"], ["1", "Say it.", "red", "shout", ""]);
        var e = await Assert.ThrowsAsync<ScoringException>(() => new MiaBenchSyntheticDataset().ScoreAsync(TsvBuilder.Predict(bad, "RED")));
        Assert.Contains("'shout'", e.Message);
    }

    [Fact]
    public void The_synthetic_kinds_are_in_the_catalog_next_to_the_papers_twelve()
    {
        Assert.Equal(["MME_SYN", "MathVista_MINI_SYN", "MIA-Bench_SYN"], DatasetCatalog.Synthetic.Select(d => d.Name));
        Assert.All(DatasetCatalog.Synthetic, d => Assert.Same(d, DatasetCatalog.Get(d.Name)));
        Assert.All(DatasetCatalog.Synthetic, d => Assert.Null(d.Md5));
        Assert.Equal(12, DatasetCatalog.All.Count);
    }
}
