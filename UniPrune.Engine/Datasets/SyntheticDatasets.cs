using UniPrune.Engine.Scoring;

namespace UniPrune.Engine.Datasets;

/// <summary>The benchmark kinds of the project's synthetic suite that differ from their real counterparts.</summary>
public static class SyntheticBenchmarks
{
    public const string Mme = "MME_SYN";
    public const string MathVista = "MathVista_MINI_SYN";
    public const string MiaBench = "MIA-Bench_SYN";

    /// <summary>The MME categories the synthetic MME table covers (the generator's; a row outside them fails scoring).</summary>
    public static MmeCategorySet MmeCategories { get; } =
        MmeCategorySet.Subset(Mme, ["existence", "count", "color", "position", "OCR", "numerical_calculation"]);
}

/// <summary>
/// MathVista_MINI_SYN: the MathVista file format (the official query with its hint in <c>question</c>, choices, answer_option,
/// question_type, answer_type, precision, task, skills) and prompt (the question unchanged), scored without a judge by
/// <see cref="MathVistaScorer.ScoreByRule"/>: a rule-extracted answer through VLMEvalKit's post_check.
/// </summary>
public sealed class MathVistaSyntheticDataset : VlmDataset
{
    public override string Name => SyntheticBenchmarks.MathVista;
    public override string? Md5 => null;
    public override int? ExpectedSampleCount => null;
    public override DatasetKind Kind => DatasetKind.Vqa;
    public override IReadOnlyList<string> RequiredColumns => ["index", "question", "answer", "question_type", "answer_type", "choices", "task", "skills"];
    public override Task<ScoreReport> ScoreAsync(IReadOnlyList<SamplePrediction> predictions, ScoringContext? context = null, CancellationToken cancellationToken = default) =>
        Task.FromResult(MathVistaScorer.ScoreByRule(Name, predictions, context ?? ScoringContext.Default));
}

/// <summary>
/// MIA-Bench_SYN: instruction following under format constraints, scored by rule (<see cref="InstructionConstraintScorer"/>).
/// The prompt is the instruction unchanged, as for MIA-Bench; each row names its constraint, content and keyword.
/// </summary>
public sealed class MiaBenchSyntheticDataset : VlmDataset
{
    public override string Name => SyntheticBenchmarks.MiaBench;
    public override string? Md5 => null;
    public override int? ExpectedSampleCount => null;
    public override DatasetKind Kind => DatasetKind.Vqa;
    public override IReadOnlyList<string> RequiredColumns => ["index", "question", "answer", "constraint", "keyword"];
    public override Task<ScoreReport> ScoreAsync(IReadOnlyList<SamplePrediction> predictions, ScoringContext? context = null, CancellationToken cancellationToken = default) =>
        Task.FromResult(InstructionConstraintScorer.Score(Name, predictions, context ?? ScoringContext.Default));
}
