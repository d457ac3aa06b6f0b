using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;
using UniPrune.Engine.Models.Common;
using UniPrune.Engine.Datasets;

namespace UniPrune.Engine.Training;

/// <summary>A model that can score a batch of examples with a differentiable loss.</summary>
public interface ITrainingFamily
{
    nn.Module Module { get; }

    /// <summary>The mean over the examples of each one's mean answer-token cross-entropy (plus any auxiliary term).</summary>
    Tensor Loss(IReadOnlyList<TrainingExample> batch);

    /// <summary>Training-only modules (auxiliary heads) optimised with the model and never saved with it.</summary>
    IReadOnlyList<nn.Module> Auxiliary => [];

    /// <summary>
    /// Whether <see cref="Loss"/> encodes an image the batch asks about several times once and packs those prompts into one
    /// sequence (<see cref="PackedPrompt"/>): the same loss, the shared prefix computed once.
    /// </summary>
    bool PackSharedImages { get; set; }
}

/// <param name="Steps">Optimizer steps.</param>
/// <param name="Accumulate">Examples per optimizer step (loss averaged over them).</param>
/// <param name="MicroBatch">Examples per forward pass (one padded batch; gradients summed over the passes); null = all of a step's.</param>
/// <param name="GroupByImage">Visit the yes/no questions that share an image one after another (groups shuffled), so a question
/// and its counterpart about the same picture (MME's yes/no pair, POPE's positive and negatives) land in the same step: their
/// question-prior gradients cancel and what is left is the part that depends on the image. Other examples stay single
/// (MMBench's circular copies share an image and an answer: grouping them only makes a step less varied).</param>
/// <param name="FirstPhaseSteps">For this many optimizer steps only the first-phase examples given to <see cref="Trainer.Run"/> are
/// visited (a curriculum: e.g. image-grounded captions before the benchmark questions); the learning-rate schedule runs over all steps.</param>
/// <param name="Pack">Visit every image's examples one after another (all tables; groups shuffled) and have the family pack
/// the prompts of a step that share an image into one sequence (<see cref="ITrainingFamily.PackSharedImages"/>), so the
/// chat prefix and the image tokens are computed once per image rather than once per question.</param>
/// <param name="CheckpointEvery">Call <see cref="Trainer.Run"/>'s checkpoint callback after every this many steps
/// and after the last (0 = only after the last, and only when a callback is given).</param>
public sealed record TrainingSettings(int Seed, int Steps, int Accumulate, double LearningRate, double WeightDecay = 0.01, int WarmupSteps = 50,
    double ClipNorm = 1.0, int? MicroBatch = null, bool GroupByImage = false, bool Pack = false, double TowerLearningRateScale = 1.0,
    int FirstPhaseSteps = 0, int CheckpointEvery = 0);

/// <param name="Heads">Running mean of each auxiliary head's own (unweighted) loss, by head name.</param>
public sealed record TrainingLog(int Step, double Loss, double Seconds, IReadOnlyDictionary<string, double>? Heads = null)
{
    public override string ToString() => $"step {Step,5}  loss {Loss:F4}" + string.Concat((Heads ?? new Dictionary<string, double>()).Select(h => $"  {h.Key} {h.Value:F4}")) + $"  {Seconds:F0} s";
}

/// <summary>An auxiliary head that remembers its last loss, so training can log it apart from the answer loss.</summary>
public interface IAuxiliaryHead
{
    string HeadName { get; }
    double LastLoss { get; }

    /// <summary>Diagnostics of the last batch besides the loss (logged as head.name; NaN = not measured in that batch).</summary>
    IReadOnlyDictionary<string, double> LastMetrics => new Dictionary<string, double>();
}

/// <summary>AdamW with linear warm-up and cosine decay to a tenth; examples visited in a seeded shuffled order, epoch after epoch.</summary>
public static class Trainer
{
    /// <summary>Makes every parameter trainable and fills it from the seed: norms 1, biases 0, everything else N(0, 0.02).</summary>
    public static void Initialise(nn.Module module, int seed)
    {
        random.manual_seed(seed);
        using var _ = no_grad();
        foreach (var (name, parameter) in module.named_parameters())
        {
            if (name.EndsWith(".bias")) parameter.zero_();
            else if (parameter.dim() == 1 && (name.Contains("norm") || name.Contains("layrnorm"))) parameter.FillInPlace(1.0);
            else parameter.normal_(0, 0.02);
            parameter.requires_grad_(true);
        }
    }

    /// <summary>
    /// Whether a parameter belongs to the vision encoder (LLaVA's vision_tower, Qwen's visual incl. its merger, InternVL's
    /// vision_model); the auxiliary heads, which read the visual tokens, train at the tower's rate too.
    /// </summary>
    public static bool IsVisionTower(string name) =>
        name.StartsWith("vision_tower.", StringComparison.Ordinal) || name.StartsWith("vision_model.", StringComparison.Ordinal)
        || name.StartsWith("visual.", StringComparison.Ordinal) || name.StartsWith("model.visual.", StringComparison.Ordinal);

    /// <param name="firstPhase">Indices into <paramref name="examples"/> the first <see cref="TrainingSettings.FirstPhaseSteps"/> steps draw from.</param>
    /// <param name="checkpoint">Called with the step count after every <see cref="TrainingSettings.CheckpointEvery"/> steps and after
    /// the last (e.g. to score the weights on a validation split); it must not change the module.</param>
    public static IReadOnlyList<TrainingLog> Run(ITrainingFamily family, IReadOnlyList<TrainingExample> examples, TrainingSettings settings,
        Action<TrainingLog>? progress = null, IReadOnlyList<int>? firstPhase = null, Action<int>? checkpoint = null)
    {
        if (examples.Count == 0) throw new ArgumentException("no training examples");
        if (settings.CheckpointEvery < 0) throw new ArgumentException($"a checkpoint every {settings.CheckpointEvery} steps: expected a step count ≥ 0");
        if (settings.FirstPhaseSteps > 0 && (firstPhase is not { Count: > 0 } || firstPhase.Any(i => i < 0 || i >= examples.Count)))
            throw new ArgumentException($"a first phase of {settings.FirstPhaseSteps} steps needs first-phase examples: indices into the {examples.Count} examples");
        IReadOnlyList<TrainingExample> phaseExamples = firstPhase?.Select(i => examples[i]).ToList() ?? [];
        var phaseQueue = new Queue<int>();
        var named = family.Module.named_parameters().Select(p => (Tower: IsVisionTower(p.name), p.parameter))
            .Concat(family.Auxiliary.SelectMany(h => h.parameters()).Select(p => (Tower: true, parameter: p))).ToList();
        var parameters = named.Select(p => p.parameter).ToList();
        using var optimizer = new HeldScalarAdamW(parameters, settings.WeightDecay,
            learningRateScales: named.Select(p => p.Tower ? settings.TowerLearningRateScale : 1.0).ToList());
        var order = new Random(settings.Seed);
        var queue = new Queue<int>();
        var logs = new List<TrainingLog>();
        var clock = Stopwatch.StartNew();
        double running = double.NaN;
        var heads = new Dictionary<string, double>();
        family.PackSharedImages = settings.Pack;
        family.Module.train();
        foreach (var head in family.Auxiliary) head.train();
        for (int step = 0; step < settings.Steps; step++)
        {
            double lr = settings.LearningRate * (step < settings.WarmupSteps ? (step + 1.0) / settings.WarmupSteps
                : 0.1 + 0.9 * 0.5 * (1 + Math.Cos(Math.PI * (step - settings.WarmupSteps) / Math.Max(1, settings.Steps - settings.WarmupSteps))));
            optimizer.ZeroGrad();
            double total = 0;
            var picked = new List<TrainingExample>();
            for (int k = 0; k < settings.Accumulate; k++)
            {
                var (pool, pending) = step < settings.FirstPhaseSteps ? (phaseExamples, phaseQueue) : (examples, queue);
                if (pending.Count == 0) foreach (var i in Epoch(pool, order, settings.GroupByImage, settings.Pack)) pending.Enqueue(i);
                picked.Add(pool[pending.Dequeue()]);
            }
            foreach (var chunk in picked.Chunk(Math.Max(1, settings.MicroBatch ?? settings.Accumulate)))
            {
                for (int attempt = 1; ; attempt++)
                {
                    try
                    {
                        using var scope = NewDisposeScope();
                        var loss = family.Loss(chunk).Times((double)chunk.Length / picked.Count);
                        loss.backward();
                        total += loss.item<float>();
                        break;
                    }
                    catch (System.Runtime.InteropServices.ExternalException e) when (attempt < 3)
                    {
                        // Seen once in ~6000 forwards: libtorch rejected a Scalar operand of an addition ("toFloat ... Expected
                        // false to be true"), a transient native failure before backward; the same examples are simply run again,
                        // so the gradient sum is unchanged. The cause (a GC-finalised temporary Scalar) is fixed by HeldScalars;
                        // the retry stays as a safety net.
                        Console.Error.WriteLine($"[train] step {step + 1}: retrying a batch after a native error: {e.Message.Split('\n')[0]}");
                    }
                }
            }
            nn.utils.clip_grad_norm_(parameters, settings.ClipNorm);
            optimizer.Step(lr);
            running = double.IsNaN(running) ? total : 0.95 * running + 0.05 * total;
            foreach (var head in family.Auxiliary.OfType<IAuxiliaryHead>())
            {
                Smooth(head.HeadName, head.LastLoss);
                foreach (var (name, value) in head.LastMetrics) Smooth($"{head.HeadName}.{name}", value);
            }
            if ((step + 1) % 10 == 0 || step + 1 == settings.Steps)
            {
                var log = new TrainingLog(step + 1, running, clock.Elapsed.TotalSeconds, new Dictionary<string, double>(heads));
                logs.Add(log);
                progress?.Invoke(log);
            }
            if (checkpoint is not null && (step + 1 == settings.Steps || settings.CheckpointEvery > 0 && (step + 1) % settings.CheckpointEvery == 0))
                using (no_grad()) checkpoint(step + 1);
        }
        family.Module.eval();
        return logs;

        void Smooth(string name, double value)
        {
            if (double.IsNaN(value)) return;
            heads[name] = heads.TryGetValue(name, out var h) ? 0.95 * h + 0.05 * value : value;
        }
    }

    /// <summary>
    /// One epoch's visiting order: a seeded shuffle of the examples, or of groups in which each image's yes/no questions stay
    /// together (members in table order; every other example a group of its own).
    /// </summary>
    /// <param name="everyImage">Group every example by its first image, whatever its table (for packing).</param>
    public static IEnumerable<int> Epoch(IReadOnlyList<TrainingExample> examples, Random order, bool groupByImage, bool everyImage = false)
    {
        if (!groupByImage && !everyImage) return Enumerable.Range(0, examples.Count).OrderBy(_ => order.Next()).ToList();
        var groups = Enumerable.Range(0, examples.Count)
            .GroupBy(i => examples[i].FirstImageKey is { } key && (everyImage || examples[i].Sample is not null && DatasetCatalog.Get(examples[i].Dataset) is YesNoDataset)
                ? key : $"single {i}")
            .Select(g => g.ToList())
            .ToList();
        return groups.OrderBy(_ => order.Next()).SelectMany(g => g).ToList();
    }
}
