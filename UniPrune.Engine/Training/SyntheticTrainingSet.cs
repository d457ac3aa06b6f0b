using UniPrune.Engine.Datasets;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Scoring;
using UniPrune.Engine.Synthetic;

namespace UniPrune.Engine.Training;

/// <summary>One teacher-forced example: the exact prompt the benchmark would send (family policy), its images and the target answer text.</summary>
/// <param name="Sample">The benchmark-format row, or null for a training-only caption example.</param>
/// <param name="Scenes">What each of the plan's images shows, where a <see cref="SceneLedger"/> knew it (for <see cref="SymbolTargets"/>).</param>
public sealed record TrainingExample(string Dataset, DatasetSample? Sample, PromptPlan Plan, string Answer, IReadOnlyList<Scene?>? Scenes = null)
{
    /// <summary>The scene of the plan's image <paramref name="index"/>, if known.</summary>
    public Scene? SceneOf(int index) => Scenes is { } s && index < s.Count ? s[index] : null;

    /// <summary>The key of the example's first image (null without one): what image grouping and packing group by.</summary>
    public string? FirstImageKey => Plan.Images.Count > 0 ? Plan.Images[0].Key : null;
}

/// <summary>
/// A synthetic split read back through the real dataset readers, with each family's evaluation prompt policy, so training
/// sees byte-for-byte the prompts the benchmark asks.
/// </summary>
public static class SyntheticTrainingSet
{
    /// <summary>Every table of the synthetic suite, by its real dataset name; each is read and scored by <see cref="SyntheticSuite.BenchmarkOf"/>'s class.</summary>
    public static readonly IReadOnlyList<string> Tables = SyntheticSuite.Generators.Keys.ToList();

    /// <summary>
    /// Writes the split's tables (real names; default all) into <paramref name="folder"/> and reads them back as samples,
    /// keyed by the benchmark kind that reads and scores them (MME_SYN, MMBench_DEV_EN, ..., MIA-Bench_SYN).
    /// </summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<DatasetSample>> Load(string folder, SyntheticSplit split, int samplesPerDataset,
        IReadOnlyList<string>? datasets = null)
    {
        Directory.CreateDirectory(folder);
        var result = new Dictionary<string, IReadOnlyList<DatasetSample>>();
        foreach (var name in datasets ?? Tables)
        {
            var table = SyntheticSuite.Generate(name, split, samplesPerDataset);
            string path = Path.Combine(folder, $"{SyntheticSuite.FileNameOf(name)}_{split}.tsv");
            table.WriteTsv(path);
            string benchmark = SyntheticSuite.BenchmarkOf(name);
            result[benchmark] = DatasetCatalog.Get(benchmark).LoadFile(path);
        }
        return result;
    }

    /// <param name="scenes">When given, each example carries the scenes of its images (null where the ledger has none).</param>
    /// <param name="targets">How multiple-choice answers are said (see <see cref="ChoiceTargets"/>).</param>
    public static IReadOnlyList<TrainingExample> Examples(IReadOnlyDictionary<string, IReadOnlyList<DatasetSample>> samples, string family, bool balanceYesNo = false,
        SceneLedger? scenes = null, ChoiceTargets targets = ChoiceTargets.OptionText)
    {
        var policy = PromptPolicy.For(family);
        var examples = new List<TrainingExample>();
        foreach (var (name, rows) in samples)
        {
            var dataset = DatasetCatalog.Get(name);
            foreach (var sample in balanceYesNo && dataset is YesNoDataset ? BalancedYesNo(rows) : rows)
            {
                var plan = policy.Build(dataset, sample);
                examples.Add(new TrainingExample(name, sample, plan, TargetAnswer(dataset, sample, targets), scenes is null ? null : plan.Images.Select(scenes.Find).ToList()));
            }
        }
        return examples;
    }

    /// <summary>
    /// As many "Yes" as "No" rows: the majority answer is thinned evenly over the table. POPE's rows are 73 % "No" (its
    /// three negative sets share one positive set), and a from-scratch model learns that prior long before it learns to
    /// look; at 50/50 only the image lowers the loss. Optional (<c>--balance-yes-no true</c>): it also drops most of POPE's
    /// adversarial negatives, and LLaVA trained with it lost the binding it learned without (POPE F1 81 → 12).
    /// </summary>
    public static IReadOnlyList<DatasetSample> BalancedYesNo(IReadOnlyList<DatasetSample> rows)
    {
        var yes = rows.Where(r => r.Require("answer", "Yes or No") == "Yes").ToList();
        var no = rows.Where(r => r.Require("answer", "Yes or No") != "Yes").ToList();
        var (major, minor) = yes.Count >= no.Count ? (yes, no) : (no, yes);
        if (minor.Count == 0 || major.Count == minor.Count) return rows;
        var kept = new HashSet<DatasetSample>(minor);
        for (int k = 0; k < minor.Count; k++) kept.Add(major[(int)((long)k * major.Count / minor.Count)]);
        return rows.Where(kept.Contains).ToList();
    }

    /// <summary>
    /// Caption examples (see <see cref="CaptionGenerator"/>): the image then "Describe the image.", as a message every
    /// family lays out with its own chat template, target = the caption.
    /// </summary>
    public static IReadOnlyList<TrainingExample> CaptionExamples(int seed, int count, bool withScenes = false) =>
        CaptionExamples(CaptionGenerator.Generate(seed, count), withScenes);

    public static IReadOnlyList<TrainingExample> CaptionExamples(IReadOnlyList<CaptionedImage> pictures, bool withScenes = false) =>
        pictures.Select((c, i) => new TrainingExample("caption", null,
            new PromptPlan(new PromptMessage([new ImageSegment(0), new TextSegment(CaptionGenerator.Question)]),
                [SampleImage.FromBase64(c.Base64Png, $"caption {i}")], 64, null, null, "caption"), c.Caption, withScenes ? [c.Scene] : null)).ToList();

    /// <summary>
    /// <paramref name="perImage"/> existence questions per caption picture (see <see cref="VerifyQuestions"/>), written as a
    /// POPE table into <paramref name="folder"/> and read back by the POPE reader, so each family's POPE prompt lays them out.
    /// Their pictures are the caption pictures byte for byte: the same image keys, so image grouping and packing see them together.
    /// </summary>
    public static IReadOnlyList<TrainingExample> VerifyExamples(IReadOnlyList<CaptionedImage> pictures, int perImage, int seed, string folder, string family,
        SceneLedger? scenes = null) =>
        ReadBack(VerifyQuestions.PopeStyle(pictures, perImage, seed), "POPE", Path.Combine(folder, "POPE_VERIFY_train.tsv"), family, scenes);

    /// <summary>
    /// Count, colour and position question pairs about the caption pictures (see <see cref="VerifyQuestions.MmeStyle"/>), written
    /// as an MME table and read back by the MME reader, so they reach each family in its MME prompt; same image keys as the captions.
    /// </summary>
    public static IReadOnlyList<TrainingExample> AttributeExamples(IReadOnlyList<CaptionedImage> pictures, int seed, string folder, string family,
        SceneLedger? scenes = null) =>
        ReadBack(VerifyQuestions.MmeStyle(pictures, seed), "MME", Path.Combine(folder, "MME_VERIFY_train.tsv"), family, scenes);

    /// <summary>
    /// One reading question per caption picture with a single run of text (see <see cref="VerifyQuestions.OcrStyle"/>), written
    /// as an OCRBench table and read back by the OCRBench reader; the pictures keep the caption pictures' image keys.
    /// </summary>
    public static IReadOnlyList<TrainingExample> ReadingExamples(IReadOnlyList<CaptionedImage> pictures, string folder, string family, SceneLedger? scenes = null,
        string tableName = "OCRBench_READ") =>
        ReadBack(VerifyQuestions.OcrStyle(pictures), "OCRBench", Path.Combine(folder, $"{tableName}_train.tsv"), family, scenes);

    /// <summary>Writes a training-only table to <paramref name="path"/> and reads it back through <paramref name="benchmark"/>'s reader and prompts.</summary>
    private static IReadOnlyList<TrainingExample> ReadBack(SyntheticTable table, string benchmark, string path, string family, SceneLedger? scenes)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        table.WriteTsv(path);
        var rows = DatasetCatalog.Get(benchmark).LoadFile(path);
        return Examples(new Dictionary<string, IReadOnlyList<DatasetSample>> { [benchmark] = rows }, family, balanceYesNo: false, scenes);
    }

    /// <summary>The text a perfect model would generate: the gold answer in the form the dataset's scorer gives full credit.</summary>
    public static string TargetAnswer(string benchmark, DatasetSample sample, ChoiceTargets targets = ChoiceTargets.OptionText) =>
        TargetAnswer(DatasetCatalog.Get(benchmark), sample, targets);

    public static string TargetAnswer(VlmDataset dataset, DatasetSample sample, ChoiceTargets targets = ChoiceTargets.OptionText)
    {
        string answer = sample.Require("answer", "the gold answer");
        return dataset switch
        {
            // OCRBench stores a Python list of accepted strings; the first is the one to say.
            OcrBenchDataset => PythonLiteral.ParseStringList(answer) is [var first, ..] ? first
                : throw new DatasetFormatException(sample.File, $"line {sample.Line}, column 'answer': expected a non-empty list literal, got {answer}"),
            // Multiple choice is answered with the option's text where can_infer credits that text alone (it does when
            // no other option's text occurs in it): a from-scratch model learns "say what you see" long before "map what
            // you see to a letter" (letter targets left MMBench circular at 0), and VLMEvalKit scores both the same.
            MathVistaSyntheticDataset when sample.Require("question_type", "multi_choice or free_form") == "multi_choice"
                => OptionTextOrLetter(MathVistaScorer.Choices(sample), answer, sample.Require("answer_option", "the correct option letter")[0]),
            MultipleChoiceDataset { Circular: false } when targets == ChoiceTargets.LetterUnlessCircular => answer,
            MultipleChoiceDataset => OptionTextOrLetter(sample.Options, sample.Options.FirstOrDefault(o => o.Letter.ToString() == answer).Text, answer[0]),
            MiaBenchSyntheticDataset => Scoring.FormatConstraints.ReferenceResponse(sample.Require("constraint", "a format constraint"),
                Scoring.FormatConstraints.ContentItems(answer), sample.Text("keyword")),
            _ => answer, // Yes/No as stored
        };
    }

    private static string OptionTextOrLetter(IReadOnlyList<ChoiceOption> options, string? text, char letter) =>
        !string.IsNullOrEmpty(text) && AnswerExtraction.CanInfer(text, options).Letter == letter ? text : letter.ToString();
}

/// <summary>How a multiple-choice training target is said; VLMEvalKit's can_infer credits the letter and the option's text alike.</summary>
public enum ChoiceTargets
{
    /// <summary>The option's text wherever can_infer credits it alone, else the letter.</summary>
    OptionText,
    /// <summary>
    /// The letter for single-pass tables (SEED-Bench-2-Plus, ScienceQA), the option's text for circular ones (MMBench).
    /// A letter is always one of the options, so an unsure model still scores the table's chance level; a from-scratch model
    /// that has not learned to copy an option's words instead says words of its own that match no option, which scored
    /// below chance (ScienceQA 5 %, SEED2+ 3 %). Circular tables keep the text: it is the same answer in every rotation.
    /// </summary>
    LetterUnlessCircular,
}
