using System.Diagnostics;
using static TorchSharp.torch;
using UniPrune.Engine.Datasets;
using UniPrune.Engine.Synthetic;

namespace UniPrune.Engine.Training;

/// <summary>One candidate checkpoint: its step and mean score over the validation tables.</summary>
public sealed record CheckpointScore(int Step, double ValidationMean, double Seconds);

/// <summary>
/// Keeps the checkpoint that scores best on the synthetic VALIDATION split (disjoint from TRAIN and TEST): a candidate is
/// saved into the model folder, loaded back through the family's real loader and scored by the real scorers, and the best
/// file so far is kept aside. Why: whether a small model binds its yes/no answers to the image appears late in a run and
/// can vanish again (the same seed bound at 4400 steps and answered every POPE question "No" at 6000), so the last step is a
/// lottery ticket; the validation split picks among a run's own checkpoints without ever reading TEST.
/// Training draws no random numbers after initialisation, so scoring candidates leaves the trajectory unchanged.
/// </summary>
public sealed class CheckpointSelector
{
    private readonly EmbeddedFamily family;
    private readonly string folder;
    private readonly string bestPath;
    private readonly IReadOnlyDictionary<string, IReadOnlyList<DatasetSample>> validation;
    private readonly List<CheckpointScore> history = [];

    /// <param name="folder">The model folder being trained (config and tokenizer already written).</param>
    /// <param name="work">A scratch folder for the validation tables and the best weights so far.</param>
    /// <param name="tables">The validation tables (real names); default every table of the suite.</param>
    public CheckpointSelector(EmbeddedFamily family, string folder, string work, int validationSamples, IReadOnlyList<string>? tables = null)
    {
        if (validationSamples <= 0) throw new ArgumentException($"--validation-samples {validationSamples}: expected a positive sample count per table");
        this.family = family;
        this.folder = folder;
        Directory.CreateDirectory(work);
        bestPath = Path.Combine(work, "best-model.safetensors");
        validation = SyntheticTrainingSet.Load(Path.Combine(work, "validation"), SyntheticSplit.Validation, validationSamples, tables);
    }

    public IReadOnlyList<CheckpointScore> History => history;
    public CheckpointScore? Best => history.Count == 0 ? null : history.MaxBy(h => h.ValidationMean);

    /// <summary>Scores the module's current weights; keeps them if they beat every earlier candidate (ties keep the earlier).</summary>
    public CheckpointScore Consider(int step, nn.Module module)
    {
        var clock = Stopwatch.StartNew();
        family.SaveWeights(folder, module);
        double mean;
        using (var model = family.Load(folder))
            mean = validation.Select(t => SyntheticEvaluator.Evaluate(model, family.PromptFamily, t.Key, t.Value).Accuracy).Average();
        var previous = Best;
        var score = new CheckpointScore(step, mean, clock.Elapsed.TotalSeconds);
        history.Add(score);
        bool better = previous is null || mean > previous.ValidationMean;
        if (better) File.Copy(EmbeddedFamily.WeightsPath(folder), bestPath, overwrite: true);
        Console.WriteLine($"[select] step {step,5}  validation mean {mean:F1}{(better ? "  (best so far)" : "")}  {score.Seconds:F0} s");
        return score;
    }

    /// <summary>Puts the best candidate's weights into the model folder (the last candidate written may be another).</summary>
    public CheckpointScore Restore()
    {
        var best = Best ?? throw new InvalidOperationException("no checkpoint was scored: nothing to select");
        File.Copy(bestPath, EmbeddedFamily.WeightsPath(folder), overwrite: true);
        return best;
    }
}
