using UniPrune.Engine.Datasets;
using UniPrune.Engine.Scoring;
using UniPrune.Engine.Synthetic;
using UniPrune.Engine.Training;

namespace UniPrune.Engine.Tests.Datasets;

/// <summary>
/// The committed TEST split of the synthetic suite (datasets/synthetic/) reads and scores through the dataset classes the
/// harness uses: every sample's target answer (what the embedded models are trained to say) earns full credit from the real
/// scorer, and a wrong answer earns less.
/// </summary>
public class SyntheticSuiteCompatibilityTests
{
    public static TheoryData<string> Names() => new(SyntheticSuite.Generators.Keys);

    private static (VlmDataset Dataset, IReadOnlyList<DatasetSample> Samples) Committed(string name)
    {
        var dataset = DatasetCatalog.Get(SyntheticSuite.BenchmarkOf(name));
        string path = Path.Combine(TestPaths.RepoRoot, SyntheticSuite.CommittedFolder, SyntheticSuite.FileNameOf(name) + ".tsv");
        return (dataset, dataset.LoadFile(path));
    }

    [Theory]
    [MemberData(nameof(Names))]
    public async Task Every_target_answer_scores_full_marks_through_the_real_scorer(string name)
    {
        var (dataset, samples) = Committed(name);
        Assert.NotEmpty(samples);
        Assert.All(samples, s => Assert.NotEmpty(s.Images));
        Assert.Null(dataset.JudgeSkipReason(null)); // scorable offline: the harness runs these cells without a judge
        foreach (string family in ModelFamilies.All)
            Assert.NotEmpty(PromptPolicy.For(family).Build(dataset, samples[0]).Text);

        var predictions = samples.Select(s => new SamplePrediction(s, SyntheticTrainingSet.TargetAnswer(dataset, s))).ToList();
        // Not a subset: a missing MME_SYN category would raise here.
        var report = await dataset.ScoreAsync(predictions, new ScoringContext());
        var missed = report.Samples.Where(s => s.Score != 1).Select(s => $"{s.Index}: '{s.Extracted}' ({s.Log})").ToList();
        Assert.True(missed.Count == 0, $"{name}: target answers not given full credit:\n{string.Join("\n", missed.Take(10))}");
        Assert.Equal(100, report.Score100, 9);
        Assert.False(report.IsLowerBound);
        Assert.Equal(report.Score100, report.ToCellScores().PrimaryValue);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public async Task A_wrong_answer_scores_less_on_every_sample(string name)
    {
        var (dataset, samples) = Committed(name);
        // An answer in none of the expected forms: no option letter or text, no yes/no, no number, no colour, no format.
        // (A sentence is risky here: option texts are as short as three letters, and can_infer matches them as substrings.)
        var predictions = samples.Select(s => new SamplePrediction(s, "?")).ToList();
        var report = await dataset.ScoreAsync(predictions, new ScoringContext());
        Assert.All(report.Samples, s => Assert.True(s.Score < 1, $"{name} {s.Index}: a wrong answer scored {s.Score}"));
        Assert.True(report.Score100 < 50, $"{name}: wrong answers scored {report.Score100}");
    }

    /// <summary>The target of a sample with another answer is wrong where it matters: swapping answers between samples loses credit.</summary>
    [Theory]
    [MemberData(nameof(Names))]
    public async Task Another_samples_target_answer_loses_credit(string name)
    {
        var (dataset, samples) = Committed(name);
        var targets = samples.Select(s => SyntheticTrainingSet.TargetAnswer(dataset, s)).ToList();
        var predictions = samples.Select((s, i) =>
        {
            // The nearest later sample whose target differs (answers repeat, so most samples find one within a few rows).
            int j = Enumerable.Range(1, samples.Count - 1).Select(k => (i + k) % samples.Count).FirstOrDefault(k => targets[k] != targets[i], i);
            return new SamplePrediction(s, targets[j]);
        }).ToList();
        var report = await dataset.ScoreAsync(predictions, new ScoringContext());
        Assert.True(report.Score100 < 90, $"{name}: swapped answers still scored {report.Score100}");
    }

    /// <summary>Multiple choice targets are option texts (letters only where can_infer could not credit the text alone).</summary>
    [Theory]
    [InlineData("MMBench_DEV_EN")]
    [InlineData("SEEDBench2_Plus")]
    [InlineData("ScienceQA_TEST")]
    [InlineData("MathVista_MINI")]
    public void Multiple_choice_targets_are_option_texts(string name)
    {
        var (dataset, samples) = Committed(name);
        var choiceSamples = samples.Where(s => s.Options.Count > 0 || s.Text("question_type") == "multi_choice").ToList();
        Assert.NotEmpty(choiceSamples);
        int letters = choiceSamples.Count(s => SyntheticTrainingSet.TargetAnswer(dataset, s) is { Length: 1 } t && char.IsAsciiLetterUpper(t[0]));
        Assert.True(letters <= choiceSamples.Count / 20, $"{name}: {letters} of {choiceSamples.Count} multiple-choice targets fell back to the letter");
    }

    /// <summary>
    /// With <see cref="ChoiceTargets.LetterUnlessCircular"/> single-pass tables are answered with the gold letter (full credit
    /// from the real scorer) and MMBench, which is circular, keeps the option's text in every rotation.
    /// </summary>
    [Theory]
    [InlineData("SEEDBench2_Plus", true)]
    [InlineData("ScienceQA_TEST", true)]
    [InlineData("MMBench_DEV_EN", false)]
    public async Task Letter_targets_apply_to_single_pass_tables_only(string name, bool letters)
    {
        var (dataset, samples) = Committed(name);
        var targets = samples.Select(s => SyntheticTrainingSet.TargetAnswer(dataset, s, ChoiceTargets.LetterUnlessCircular)).ToList();
        if (letters) Assert.Equal(samples.Select(s => s.Text("answer")), targets);
        else Assert.Equal(samples.Select(s => SyntheticTrainingSet.TargetAnswer(dataset, s)), targets);
        var report = await dataset.ScoreAsync(samples.Zip(targets, (s, t) => new SamplePrediction(s, t)).ToList(), new ScoringContext());
        Assert.Equal(100, report.Score100, 9);
    }

    /// <summary>Training sees as many Yes as No rows of a yes/no table: POPE's majority "No" is thinned evenly, all "Yes" rows stay.</summary>
    [Fact]
    public void Yes_no_training_rows_are_balanced()
    {
        var (_, samples) = Committed("POPE");
        int yes = samples.Count(s => s.Text("answer") == "Yes");
        Assert.True(samples.Count - yes > 2 * yes, $"POPE is expected to be mostly No; {yes} of {samples.Count} are Yes");
        var balanced = SyntheticTrainingSet.BalancedYesNo(samples);
        Assert.Equal(2 * yes, balanced.Count);
        Assert.Equal(yes, balanced.Count(s => s.Text("answer") == "Yes"));
        Assert.Equal(balanced.Count, balanced.Distinct().Count());
        // Evenly thinned: the kept "No" rows span the table, not just its head.
        var order = samples.Select((s, i) => (s, i)).ToDictionary(p => p.s, p => p.i);
        var keptNo = balanced.Where(s => s.Text("answer") == "No").Select(s => order[s]).ToList();
        Assert.True(keptNo.Max() > samples.Count * 9 / 10, $"kept No rows end at {keptNo.Max()} of {samples.Count}");
        var (_, mme) = Committed("MME");
        Assert.Same(mme, SyntheticTrainingSet.BalancedYesNo(mme)); // already balanced: untouched
    }

    /// <summary>No multiple-choice question gives its letter away: for every question wording asked at least 8 times, no letter is the answer more than 60 % of the time.</summary>
    [Theory]
    [InlineData("MMBench_DEV_EN")]
    [InlineData("SEEDBench2_Plus")]
    [InlineData("ScienceQA_TEST")]
    public void The_question_text_does_not_give_the_letter_away(string name)
    {
        var (_, samples) = Committed(name);
        foreach (var group in samples.GroupBy(s => s.Text("question")).Where(g => g.Count() >= 8))
        {
            int top = group.GroupBy(s => s.Text("answer")).Max(g => g.Count());
            Assert.True(top <= group.Count() * 0.6, $"{name}: '{group.Key}' has answer letter share {top} of {group.Count()}");
        }
    }
}
