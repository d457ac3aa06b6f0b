using System.Text;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Scoring;
using UniPrune.Engine.Scoring.Judge;

namespace UniPrune.Engine.Datasets;

/// <summary>VLMEvalKit's dataset TYPE, which decides the default prompt and the wrappers' custom prompts.</summary>
public enum DatasetKind { YesNo, MultipleChoice, Vqa }

/// <summary>What a dataset needs from an LLM judge to reproduce VLMEvalKit's number.</summary>
public enum JudgeNeed
{
    /// <summary>Rule-based; VLMEvalKit's fallback without an API key (exact matching) is the reference.</summary>
    Optional,
    /// <summary>Judge extraction needed for the full score; without one a rule-based lower bound is reported.</summary>
    RequiredWithLowerBound,
    /// <summary>Only a judge can score it (MIA-Bench).</summary>
    Required,
}

/// <summary>
/// One benchmark as VLMEvalKit defines it: file name and MD5, expected size, type, default prompt, and scorer.
/// Model-specific prompts come from <see cref="PromptPolicy"/>.
/// </summary>
public abstract class VlmDataset
{
    /// <summary>VLMEvalKit's dataset name (also the TSV's base name).</summary>
    public abstract string Name { get; }
    public virtual string FileName => Name + ".tsv";
    /// <summary>The MD5 VLMEvalKit checks the downloaded file against; null for the project's own synthetic tables (no upstream file).</summary>
    public abstract string? Md5 { get; }
    /// <summary>Rows evaluated (after rows without an image are dropped), where known.</summary>
    public abstract int? ExpectedSampleCount { get; }
    public abstract DatasetKind Kind { get; }
    public virtual JudgeNeed Judge => JudgeNeed.Optional;
    /// <summary>VLMEvalKit's default judge model for this dataset (when UNIPRUNE_JUDGE_MODEL is not set).</summary>
    public virtual string DefaultJudgeModel => "gpt-3.5-turbo-0125";
    /// <summary>The folder VLMEvalKit dumps images into (MMBench EN and CN share one).</summary>
    public virtual string ImageRoot => Name;
    /// <summary>Columns a file must have for this dataset's prompt and scorer.</summary>
    public virtual IReadOnlyList<string> RequiredColumns => ["index", "question", "answer"];

    /// <summary>Loads {LMUData}/{FileName}, verifies its MD5 (unless UNIPRUNE_SKIP_MD5=1) and its row count.</summary>
    public IReadOnlyList<DatasetSample> Load(string? root = null, PandasNaBehavior na = PandasNaBehavior.Pandas2)
    {
        string path = LmuData.Locate(FileName, root);
        if (Md5 is { } md5) LmuData.VerifyMd5(path, md5);
        var samples = LoadFile(path, na);
        if (!LmuData.SkipMd5 && ExpectedSampleCount is { } expected && samples.Count != expected)
            throw new DatasetFormatException(path, $"{samples.Count} rows with an image, expected {expected} for {Name}");
        return samples;
    }

    /// <summary>Reads any file in this dataset's format (fixtures, synthetic suites) without the MD5 and count checks.</summary>
    public IReadOnlyList<DatasetSample> LoadFile(string path, PandasNaBehavior na = PandasNaBehavior.Pandas2) =>
        VlmTsvReader.Read(path, na, RequiredColumns);

    /// <summary>The dataset's own <c>build_prompt</c>, used when the model wrapper has no custom prompt for it.</summary>
    public virtual PromptMessage BuildDefaultPrompt(DatasetSample sample) =>
        PromptPolicy.ImagesThenText(sample, sample.Require("question", "the question text"));

    public abstract Task<ScoreReport> ScoreAsync(IReadOnlyList<SamplePrediction> predictions, ScoringContext? context = null, CancellationToken cancellationToken = default);

    /// <summary>Why this dataset cannot be fully scored right now, or null: for cells to skip with a reason.</summary>
    public string? JudgeSkipReason(JudgeSettings? settings) => Judge switch
    {
        JudgeNeed.Optional => null,
        _ when settings is not null => null,
        JudgeNeed.RequiredWithLowerBound => $"{Name} needs an LLM judge ({DefaultJudgeModel}) for VLMEvalKit's score; only the prefetch lower bound is computed. {JudgeSettings.NotConfiguredReason}",
        _ => $"{Name} can only be scored by an LLM judge ({DefaultJudgeModel}). {JudgeSettings.NotConfiguredReason}",
    };

    public override string ToString() => Name;
}

/// <summary>Y/N datasets: the base prompt (image, then the question as-is).</summary>
public abstract class YesNoDataset : VlmDataset
{
    public override DatasetKind Kind => DatasetKind.YesNo;
}

/// <summary>MCQ datasets: images, then "Hint: …\nQuestion: …\nOptions:\nA. …\nPlease select the correct answer from the options above. \n".</summary>
public abstract class MultipleChoiceDataset : VlmDataset
{
    public override DatasetKind Kind => DatasetKind.MultipleChoice;
    /// <summary>MMBench-style circular evaluation (switched on by the name in VLMEvalKit).</summary>
    public virtual bool Circular => false;

    public override PromptMessage BuildDefaultPrompt(DatasetSample sample)
    {
        var prompt = new StringBuilder();
        if (sample.Hint is { } hint) prompt.Append("Hint: ").Append(hint).Append('\n');
        prompt.Append("Question: ").Append(sample.Require("question", "the question text")).Append('\n');
        if (sample.Options.Count > 0)
        {
            prompt.Append("Options:\n");
            foreach (var option in sample.Options) prompt.Append(option.Letter).Append(". ").Append(option.Text).Append('\n');
            prompt.Append("Please select the correct answer from the options above. \n");
        }
        return PromptPolicy.ImagesThenText(sample, prompt.ToString());
    }

    public override Task<ScoreReport> ScoreAsync(IReadOnlyList<SamplePrediction> predictions, ScoringContext? context = null, CancellationToken cancellationToken = default) =>
        McqScorer.ScoreAsync(Name, predictions, Circular, context ?? ScoringContext.Default, cancellationToken);
}

/// <summary>MME; with a declared category subset (the synthetic MME_SYN) it scores only those categories (see <see cref="MmeCategorySet"/>).</summary>
public sealed class MmeDataset(MmeCategorySet? categories = null) : YesNoDataset
{
    public MmeCategorySet Categories { get; } = categories ?? MmeCategorySet.Official;
    private bool Official => Categories.Declared is null;
    public override string Name => Categories.Dataset;
    public override string? Md5 => Official ? "b36b43c3f09801f5d368627fb92187c3" : null;
    public override int? ExpectedSampleCount => Official ? 2374 : null;
    public override IReadOnlyList<string> RequiredColumns => ["index", "question", "answer", "category", "image_path"];
    public override Task<ScoreReport> ScoreAsync(IReadOnlyList<SamplePrediction> predictions, ScoringContext? context = null, CancellationToken cancellationToken = default) =>
        MmeScorer.ScoreAsync(predictions, context ?? ScoringContext.Default, Categories, cancellationToken);
}

public sealed class PopeDataset : YesNoDataset
{
    public override string Name => "POPE";
    public override string Md5 => "c12f5acb142f2ef1f85a26ba2fbe41d5";
    public override int? ExpectedSampleCount => 5127;
    public override IReadOnlyList<string> RequiredColumns => ["index", "question", "answer", "category"];
    public override Task<ScoreReport> ScoreAsync(IReadOnlyList<SamplePrediction> predictions, ScoringContext? context = null, CancellationToken cancellationToken = default) =>
        PopeScorer.ScoreAsync(predictions, context ?? ScoringContext.Default, cancellationToken);
}

public sealed class HallusionBenchDataset : YesNoDataset
{
    public override string Name => "HallusionBench";
    public override string Md5 => "0c23ac0dc9ef46832d7a24504f2a0c7c";
    public override int? ExpectedSampleCount => 951;
    public override IReadOnlyList<string> RequiredColumns => ["index", "question", "answer", "category", "l2-category"];
    public override Task<ScoreReport> ScoreAsync(IReadOnlyList<SamplePrediction> predictions, ScoringContext? context = null, CancellationToken cancellationToken = default) =>
        HallusionBenchScorer.ScoreAsync(predictions, context ?? ScoringContext.Default, cancellationToken);
}

public sealed class MmBenchDataset(string language) : MultipleChoiceDataset
{
    public string Language { get; } = language is "EN" or "CN" ? language : throw new ArgumentException($"MMBench language must be EN or CN, not '{language}'");
    public override string Name => $"MMBench_DEV_{Language}";
    public override string Md5 => Language == "EN" ? "b6caf1133a01c6bb705cf753bb527ed8" : "08b8fc3324a5ed74155350f57be69fbd";
    // CN's 4329 is the lmms-lab copy's count; VLMEvalKit's copy is assumed to match but unverified, so it is not enforced.
    public override int? ExpectedSampleCount => Language == "EN" ? 4329 : null;
    public override string ImageRoot => "MMBench";
    public override bool Circular => true;
}

public sealed class SeedBench2PlusDataset : MultipleChoiceDataset
{
    public override string Name => "SEEDBench2_Plus";
    public override string Md5 => "e32d3216dc4f452b0fe497a52015d1fd";
    public override int? ExpectedSampleCount => 2277;
}

public sealed class ScienceQaDataset : MultipleChoiceDataset
{
    public override string Name => "ScienceQA_TEST";
    public override string Md5 => "e42e9e00f9c59a80d8a5db35bc32b71f";
    public override int? ExpectedSampleCount => 2017;
}

public sealed class OcrBenchDataset : VlmDataset
{
    public override string Name => "OCRBench";
    public override string Md5 => "e953d98a987cc6e26ef717b61260b778";
    public override int? ExpectedSampleCount => 1000;
    public override DatasetKind Kind => DatasetKind.Vqa;
    public override IReadOnlyList<string> RequiredColumns => ["index", "question", "answer", "category"];
    public override Task<ScoreReport> ScoreAsync(IReadOnlyList<SamplePrediction> predictions, ScoringContext? context = null, CancellationToken cancellationToken = default) =>
        Task.FromResult(OcrBenchScorer.Score(predictions, context ?? ScoringContext.Default));
}

public sealed class MathVistaDataset : VlmDataset
{
    public override string Name => "MathVista_MINI";
    public override string Md5 => "f199b98e178e5a2a20e7048f5dcb0464";
    public override int? ExpectedSampleCount => 1000;
    public override DatasetKind Kind => DatasetKind.Vqa;
    public override JudgeNeed Judge => JudgeNeed.RequiredWithLowerBound;
    public override string DefaultJudgeModel => MathVistaScorer.DefaultJudge;
    // "choices" and "answer_option" are read only for multi_choice rows (and required there).
    public override IReadOnlyList<string> RequiredColumns => ["index", "question", "answer", "question_type", "answer_type", "task"];
    public override Task<ScoreReport> ScoreAsync(IReadOnlyList<SamplePrediction> predictions, ScoringContext? context = null, CancellationToken cancellationToken = default) =>
        MathVistaScorer.ScoreAsync(predictions, context ?? ScoringContext.Default, cancellationToken);
}

public sealed class MathVisionDataset(bool mini) : VlmDataset
{
    public bool Mini { get; } = mini;
    public override string Name => Mini ? "MathVision_MINI" : "MathVision";
    public override string Md5 => Mini ? "060fe4fa5d868987ce179307bd5f8a33" : "93f6de14f7916e598aa1b7165589831e";
    public override int? ExpectedSampleCount => Mini ? 304 : 3040;
    public override DatasetKind Kind => DatasetKind.Vqa;
    public override JudgeNeed Judge => JudgeNeed.RequiredWithLowerBound;
    public override string DefaultJudgeModel => MathVisionScorer.DefaultJudge;
    public override IReadOnlyList<string> RequiredColumns => ["index", "question", "answer", "choices", "category"];
    public override Task<ScoreReport> ScoreAsync(IReadOnlyList<SamplePrediction> predictions, ScoringContext? context = null, CancellationToken cancellationToken = default) =>
        MathVisionScorer.ScoreAsync(Name, predictions, context ?? ScoringContext.Default, cancellationToken);
}

public sealed class MiaBenchDataset : VlmDataset
{
    public override string Name => "MIA-Bench";
    public override string Md5 => "0b9de595f4dd40af18a69b94d89aba82";
    public override int? ExpectedSampleCount => 400;
    public override DatasetKind Kind => DatasetKind.Vqa;
    public override JudgeNeed Judge => JudgeNeed.Required;
    public override string DefaultJudgeModel => MiaBenchScorer.DefaultJudge;
    public override IReadOnlyList<string> RequiredColumns => ["index", "question", "components", "component_weight", "component_type", "num_of_component"];
    public override Task<ScoreReport> ScoreAsync(IReadOnlyList<SamplePrediction> predictions, ScoringContext? context = null, CancellationToken cancellationToken = default) =>
        MiaBenchScorer.ScoreAsync(predictions, context ?? ScoringContext.Default, cancellationToken);
}

/// <summary>The paper's datasets by VLMEvalKit name, and the project's synthetic benchmark kinds.</summary>
public static class DatasetCatalog
{
    /// <summary>The paper's twelve VLMEvalKit datasets.</summary>
    public static IReadOnlyList<VlmDataset> All { get; } =
    [
        new MmeDataset(), new MmBenchDataset("EN"), new MmBenchDataset("CN"), new SeedBench2PlusDataset(), new OcrBenchDataset(),
        new ScienceQaDataset(), new PopeDataset(), new HallusionBenchDataset(), new MathVistaDataset(), new MathVisionDataset(mini: false),
        new MathVisionDataset(mini: true), new MiaBenchDataset(),
    ];

    /// <summary>
    /// Benchmark kinds that exist only for the synthetic suite, where the real class cannot score the synthetic table as it
    /// is: MME over a declared category subset, MathVista and MIA-Bench by rule instead of an LLM judge.
    /// </summary>
    public static IReadOnlyList<VlmDataset> Synthetic { get; } =
    [
        new MmeDataset(SyntheticBenchmarks.MmeCategories), new MathVistaSyntheticDataset(), new MiaBenchSyntheticDataset(),
    ];

    public static VlmDataset Get(string name) =>
        All.Concat(Synthetic).FirstOrDefault(d => d.Name == name)
        ?? throw new ArgumentException($"unknown dataset '{name}'; known: {string.Join(", ", All.Concat(Synthetic).Select(d => d.Name))}");
}
