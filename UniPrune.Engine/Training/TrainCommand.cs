using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Synthetic;
using static TorchSharp.torch;

namespace UniPrune.Engine.Training;

/// <summary>
/// The train verb: builds a small model's folder, trains it on the synthetic TRAIN split with teacher forcing on the
/// answer tokens (the benchmark's own prompts), saves model.safetensors, reloads the folder through the family's real
/// loader and scores it on the TEST split with the real scorers.
/// <code>
/// train    --family llava|qwen|internvl --out DIR [--seed 1] [--steps 1500] [--accumulate 4] [--lr 0.001] [--train-samples 400] [--captions 0] [--verify 0] [--verify-attributes false] [--read-captions false] [--text-pages 0] [--glyph-strips 0] [--glyph-max-scale 3] [--tower-lr-scale 1] [--reconstruction 0] [--symbols 0] [--read-pointer 0] [--glyph-classes 0] [--copy-pointer 0] [--balance-yes-no false] [--group-by-image false] [--pack false] [--choice-targets text|letter-unless-circular] [--first-steps 0 --first-on captions] [--select-every 0] [--validation-samples 24] [--test-samples 60] [--threads 1]
/// evaluate --family llava|qwen|internvl --model DIR [--test-samples 60] [--threads 1]
/// </code>
/// </summary>
public static class TrainCommand
{
    public const string Usage = """
        usage:
          train    --family llava|qwen|internvl --out DIR [--seed 1] [--steps 1500] [--accumulate 4] [--lr 0.001] [--train-samples 400] [--captions 0] [--verify 0] [--verify-attributes false] [--read-captions false] [--text-pages 0] [--glyph-strips 0] [--glyph-max-scale 3] [--tower-lr-scale 1] [--reconstruction 0] [--symbols 0] [--read-pointer 0] [--glyph-classes 0] [--copy-pointer 0] [--balance-yes-no false] [--group-by-image false] [--pack false] [--choice-targets text|letter-unless-circular] [--first-steps 0 --first-on captions] [--select-every 0] [--validation-samples 24] [--test-samples 60] [--threads 1]
          evaluate --family llava|qwen|internvl --model DIR [--test-samples 60] [--threads 1] [--predictions FILE] [--methods divprune,fastv] [--retentions 0.333,0.222,0.111] [--pruning-test-samples 20]
          generate-suite --out DIR [--split test|train|validation] [--samples 120]
        """;

    /// <summary>--choice-targets values, also what training.json records (and what --predictions reads back for the target column).</summary>
    private static readonly Dictionary<string, ChoiceTargets> ChoiceTargetNames = new()
    {
        ["text"] = ChoiceTargets.OptionText, ["letter-unless-circular"] = ChoiceTargets.LetterUnlessCircular,
    };

    public static int Run(string[] args)
    {
        if (args.Length == 0) { Console.Error.WriteLine(Usage); return 2; }
        var options = ParseOptions(args[1..]);
        if (args[0] == "generate-suite") return SyntheticSuite.GenerateCommand(options);
        // One intra-op thread by default: on a shared, oversubscribed 2-core machine libtorch's thread barriers made a step
        // ~20x slower with 2 threads (measured: no 10 steps in 3 min vs 10 steps in 5 s with 1).
        set_num_threads(Int(options, "threads", 1));
        return args[0] switch
        {
            "train" => Train(options),
            "evaluate" => Evaluate(options, Required(options, "model")),
            _ => throw new ArgumentException($"unknown verb '{args[0]}'\n{Usage}"),
        };
    }

    private static int Train(Dictionary<string, string> options)
    {
        var family = EmbeddedFamily.Parse(Required(options, "family"));
        string folder = Required(options, "out");
        int seed = Int(options, "seed", 1);
        var settings = new TrainingSettings(seed, Int(options, "steps", 1500), Int(options, "accumulate", 4), Double(options, "lr", 1e-3),
            MicroBatch: options.ContainsKey("micro-batch") ? Int(options, "micro-batch", 0) : null, GroupByImage: Bool(options, "group-by-image", false), Pack: Bool(options, "pack", false),
            TowerLearningRateScale: Double(options, "tower-lr-scale", 1.0), FirstPhaseSteps: Int(options, "first-steps", 0),
            CheckpointEvery: Int(options, "select-every", 0));
        if (!(settings.TowerLearningRateScale > 0)) throw new ArgumentException($"--tower-lr-scale '{settings.TowerLearningRateScale}' must be a positive factor");
        int trainSamples = Int(options, "train-samples", 400);

        var clock = Stopwatch.StartNew();
        var work = Path.Combine(Path.GetTempPath(), $"uniprune-train-{Environment.ProcessId}");
        // --datasets none trains on captions only (a diagnostic: the prompt is then constant, so only the image can lower the loss).
        var datasetList = options.TryGetValue("datasets", out var d)
            ? d == "none" ? [] : d.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToList()
            : null;
        // --reconstruction, --symbols, --read-pointer, --glyph-classes, --copy-pointer: training-only losses (see AuxiliaryLosses).
        var losses = new AuxiliaryLosses(Double(options, "reconstruction", 0), Double(options, "symbols", 0), Double(options, "read-pointer", 0),
            Double(options, "glyph-classes", 0), Double(options, "copy-pointer", 0)).Validated();
        // The symbol head and the reading pointer need the scenes: the generators then remember them, so every training image carries them.
        using var ledger = losses.Symbols > 0 || losses.ReadPointer > 0 ? SceneLedger.Record() : null;
        var train = SyntheticTrainingSet.Load(work, SyntheticSplit.Train, trainSamples, datasetList);
        bool balanceYesNo = Bool(options, "balance-yes-no", false);
        string choiceName = options.TryGetValue("choice-targets", out var ct) ? ct : "text";
        var choiceTargets = ChoiceTargetNames.TryGetValue(choiceName, out var parsed) ? parsed
            : throw new ArgumentException($"--choice-targets '{choiceName}' must be {string.Join(" or ", ChoiceTargetNames.Keys)}\n{Usage}");
        var examples = SyntheticTrainingSet.Examples(train, family.PromptFamily, balanceYesNo, ledger, choiceTargets).ToList();
        // Where each source's examples lie in the list, for --first-on (benchmark tables are also named one by one).
        var sources = new Dictionary<string, (int Start, int End)> { ["benchmark"] = (0, examples.Count) };
        int captions = Int(options, "captions", 0);
        int verify = Int(options, "verify", 0);
        bool reading = Bool(options, "read-captions", false);
        bool attributes = Bool(options, "verify-attributes", false);
        if ((verify > 0 || reading || attributes) && captions == 0)
            throw new ArgumentException("--verify, --verify-attributes and --read-captions ask questions about the caption pictures: they need --captions N");
        if (captions > 0)
        {
            var pictures = CaptionGenerator.Generate(seed, captions);
            examples.AddRange(SyntheticTrainingSet.CaptionExamples(pictures, withScenes: ledger is not null));
            if (verify > 0) examples.AddRange(SyntheticTrainingSet.VerifyExamples(pictures, verify, seed, work, family.PromptFamily, ledger));
            if (attributes) examples.AddRange(SyntheticTrainingSet.AttributeExamples(pictures, seed, work, family.PromptFamily, ledger));
            if (reading) examples.AddRange(SyntheticTrainingSet.ReadingExamples(pictures, work, family.PromptFamily, ledger));
            sources["captions"] = (sources["benchmark"].End, examples.Count);
        }
        int textPages = Int(options, "text-pages", 0);
        if (textPages > 0)
        {
            int start = examples.Count;
            examples.AddRange(SyntheticTrainingSet.CaptionExamples(CaptionGenerator.TextPages(seed, textPages), withScenes: ledger is not null));
            sources["text-pages"] = (start, examples.Count);
        }
        // --glyph-strips N: N reading questions about one to three characters (the decoder's first step towards reading words).
        int glyphStrips = Int(options, "glyph-strips", 0);
        int glyphMaxScale = Int(options, "glyph-max-scale", 3);
        if (glyphMaxScale < 2) throw new ArgumentException($"--glyph-max-scale {glyphMaxScale}: the font's smallest suite scale is 2");
        if (glyphStrips > 0)
        {
            int start = examples.Count;
            examples.AddRange(SyntheticTrainingSet.ReadingExamples(CaptionGenerator.GlyphStrips(seed, glyphStrips, glyphMaxScale), work, family.PromptFamily, ledger, "OCRBench_GLYPHS"));
            sources["glyph-strips"] = (start, examples.Count);
        }
        var firstPhase = FirstPhase(options, examples, sources, settings.FirstPhaseSteps);
        int withScenes = examples.Count(e => e.Scenes is { } s && s.Any(x => x is not null));
        family.WriteFolder(folder, examples);
        Console.WriteLine($"[train] {examples.Count} examples from {train.Count} datasets ({withScenes} with known scenes), tokenizer built ({clock.Elapsed.TotalSeconds:F0} s)");

        using var model = family.Create(folder, seed, losses);
        long parameterCount = model.ParameterCount;
        Console.WriteLine($"[train] {family.Name}: {parameterCount:N0} parameters, {settings.Steps} steps x {settings.Accumulate} examples, lr {settings.LearningRate}");
        // --select-every N: score the weights on the VALIDATION split every N steps and after the last, keep the best (CheckpointSelector).
        int validationSamples = Int(options, "validation-samples", 24);
        if (settings.CheckpointEvery == 0 && options.ContainsKey("validation-samples"))
            throw new ArgumentException("--validation-samples sizes the split --select-every scores checkpoints on: it needs --select-every N");
        var selector = settings.CheckpointEvery > 0 ? new CheckpointSelector(family, folder, work, validationSamples) : null;
        var logs = Trainer.Run(model.Family, examples, settings, log => Console.WriteLine($"[train] {log}"), firstPhase,
            selector is null ? null : step => selector.Consider(step, model.Module));
        CheckpointScore? selected = selector?.Restore();
        if (selected is not null) Console.WriteLine($"[select] kept step {selected.Step} (validation mean {selected.ValidationMean:F1})");
        double trainSeconds = clock.Elapsed.TotalSeconds;

        if (selector is null) family.SaveWeights(folder, model.Module);
        var record = new Dictionary<string, object>
        {
            ["family"] = family.Name, ["seed"] = seed, ["steps"] = settings.Steps, ["accumulate"] = settings.Accumulate,
            ["learning_rate"] = settings.LearningRate, ["train_samples_per_dataset"] = trainSamples, ["caption_examples"] = captions, ["verify_per_caption"] = verify, ["verify_attributes"] = attributes, ["read_captions"] = reading, ["text_pages"] = textPages, ["glyph_strips"] = glyphStrips, ["glyph_max_scale"] = glyphMaxScale, ["reconstruction_weight"] = losses.Reconstruction, ["symbol_weight"] = losses.Symbols, ["read_pointer_weight"] = losses.ReadPointer, ["glyph_class_weight"] = losses.GlyphClasses, ["copy_pointer_weight"] = losses.CopyPointer, ["balance_yes_no"] = balanceYesNo, ["group_by_image"] = settings.GroupByImage, ["pack"] = settings.Pack, ["tower_lr_scale"] = settings.TowerLearningRateScale, ["first_steps"] = settings.FirstPhaseSteps, ["first_on"] = options.GetValueOrDefault("first-on", ""), ["choice_targets"] = choiceName, ["examples"] = examples.Count,
            ["parameters"] = parameterCount, ["train_seconds"] = Math.Round(trainSeconds), ["final_loss"] = logs.Count > 0 ? Math.Round(logs[^1].Loss, 4) : double.NaN,
            ["threads"] = get_num_threads(),
        };
        if (selector is not null)
        {
            record["select_every"] = settings.CheckpointEvery;
            record["validation_samples"] = validationSamples;
            record["selected_step"] = selected!.Step;
            record["validation"] = selector.History.Select(h => new Dictionary<string, object> { ["step"] = h.Step, ["mean"] = Math.Round(h.ValidationMean, 2) }).ToList();
        }
        File.WriteAllText(Path.Combine(folder, "training.json"), JsonSerializer.Serialize(record, new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"[train] saved {folder} after {trainSeconds:F0} s");
        try { Directory.Delete(work, true); } catch (IOException) { }
        return Evaluate(options, folder);
    }

    /// <summary>
    /// --first-steps N --first-on a,b: the examples the first N steps draw from — sources (benchmark, captions, text-pages,
    /// glyph-strips) or benchmark tables by name (OCRBench); null without a first phase.
    /// </summary>
    private static List<int>? FirstPhase(Dictionary<string, string> options, IReadOnlyList<TrainingExample> examples,
        IReadOnlyDictionary<string, (int Start, int End)> sources, int steps)
    {
        bool named = options.TryGetValue("first-on", out var list);
        if (steps < 0) throw new ArgumentException($"--first-steps {steps}: expected a step count ≥ 0");
        if (steps == 0) return named ? throw new ArgumentException("--first-on names the examples of a first phase: it needs --first-steps N") : null;
        if (!named) throw new ArgumentException("--first-steps N needs --first-on with the sources or tables the first phase draws from");
        var indices = new List<int>();
        foreach (var name in list!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var picked = sources.TryGetValue(name, out var range) ? Enumerable.Range(range.Start, range.End - range.Start)
                : Enumerable.Range(0, sources["benchmark"].End).Where(i => examples[i].Dataset == name).ToList();
            if (!picked.Any())
                throw new ArgumentException($"--first-on '{name}': no such examples; expected one of {string.Join(", ", sources.Keys)} or a benchmark table trained on");
            indices.AddRange(picked);
        }
        Console.WriteLine($"[train] first {steps} steps on {list} ({indices.Count} examples)");
        return indices;
    }

    private static int Evaluate(Dictionary<string, string> options, string folder)
    {
        var family = EmbeddedFamily.Parse(Required(options, "family"));
        int testSamples = Int(options, "test-samples", 60);
        var work = Path.Combine(Path.GetTempPath(), $"uniprune-eval-{Environment.ProcessId}");
        var test = SyntheticTrainingSet.Load(work, SyntheticSplit.Test, testSamples);
        using var model = family.Load(folder);
        if (Int(options, "probe-captions", 0) is int probes and > 0) ProbeCaptions(model, probes);
        var scores = new List<double>();
        // --predictions FILE: every test prediction next to its target, extraction and score (a TSV for reading failures).
        using var dump = options.TryGetValue("predictions", out var dumpPath) ? new StreamWriter(dumpPath) : null;
        dump?.WriteLine("dataset\tindex\tscore\textracted\ttarget\tprediction\tquestion");
        var dumpTargets = dump is null ? ChoiceTargets.OptionText : RecordedChoiceTargets(folder);
        foreach (var (name, samples) in test)
        {
            var clock = Stopwatch.StartNew();
            var accuracy = SyntheticEvaluator.Evaluate(model, family.PromptFamily, name, samples);
            scores.Add(accuracy.Accuracy);
            if (dump is not null) WritePredictions(dump, name, samples, accuracy, dumpTargets);
            var examples = string.Join(" | ", accuracy.Predictions.Take(3).Select(p => p.Prediction));
            Console.WriteLine($"[eval] {name,-16} {accuracy.Accuracy,6:F1}  (per-sample {accuracy.PerSample:F1}, {accuracy.MainMetric} {accuracy.MainScore:F2}; {samples.Count} samples, {clock.Elapsed.TotalSeconds:F0} s)  e.g. {examples}");
        }
        Console.WriteLine($"[eval] mean {scores.Average():F1} over {scores.Count} datasets");

        // Pruned runs: each method at each retention on (a prefix of) the same test samples, with fresh hooks per request.
        if (options.TryGetValue("methods", out var methodList))
        {
            int pruningSamples = Int(options, "pruning-test-samples", testSamples);
            var pruningTest = SyntheticTrainingSet.Load(work, SyntheticSplit.Test, pruningSamples);
            var retentions = (options.TryGetValue("retentions", out var r) ? r : "0.333,0.222,0.111").Split(',')
                .Select(x => double.Parse(x, NumberStyles.Float, CultureInfo.InvariantCulture)).ToList();
            foreach (var method in methodList.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                foreach (var retention in retentions)
                {
                    var row = new List<string>();
                    var values = new List<double>();
                    foreach (var (name, samples) in pruningTest)
                    {
                        var accuracy = SyntheticEvaluator.Evaluate(model, family.PromptFamily, name, samples,
                            () => Pruning.PruningRegistry.CreateHooks(method, new Pruning.Abstractions.PruningSettings(retention)));
                        values.Add(accuracy.Accuracy);
                        row.Add($"{name} {accuracy.Accuracy:F1}");
                    }
                    Console.WriteLine($"[prune] {method,-10} r={retention:F3}  mean {values.Average():F1}  | {string.Join("  ", row)}  ({pruningSamples} samples/table)");
                }
        }
        try { Directory.Delete(work, true); } catch (IOException) { }
        return 0;
    }

    /// <summary>
    /// Diagnostic: captions the model writes for held-out caption images next to the truth — whether the model looks at
    /// the image at all, which the benchmark scores alone cannot tell apart from a question prior.
    /// </summary>
    private static void ProbeCaptions(IVisionLanguageModel model, int count)
    {
        foreach (var e in SyntheticTrainingSet.CaptionExamples(seed: 987_654, count))
        {
            var encoded = e.Plan.Images.Select(i => SyntheticEvaluator.EncodeForPlan(model, i, e.Plan)).ToList();
            try
            {
                var result = model.Generate(e.Plan.Message, encoded, null, new GenerationOptions(40));
                Console.WriteLine($"[probe] truth: {e.Answer}\n[probe] model: {result.Text}");
            }
            finally { foreach (var x in encoded) x.Dispose(); }
        }
    }

    /// <summary>The multiple-choice target form a model folder was trained with (training.json), text where it records none.</summary>
    private static ChoiceTargets RecordedChoiceTargets(string folder)
    {
        string path = Path.Combine(folder, "training.json");
        if (!File.Exists(path)) return ChoiceTargets.OptionText;
        using var record = JsonDocument.Parse(File.ReadAllText(path));
        if (!record.RootElement.TryGetProperty("choice_targets", out var value)) return ChoiceTargets.OptionText;
        return ChoiceTargetNames.TryGetValue(value.GetString() ?? "", out var targets) ? targets
            : throw new FormatException($"{path}: field 'choice_targets' is '{value}', expected {string.Join(" or ", ChoiceTargetNames.Keys)}");
    }

    private static void WritePredictions(StreamWriter dump, string name, IReadOnlyList<Datasets.DatasetSample> samples, DatasetAccuracy accuracy, ChoiceTargets targets)
    {
        static string Cell(string? s) => (s ?? "").Replace('\t', ' ').Replace('\n', '|');
        var byIndex = samples.ToDictionary(s => s.Index);
        var scoreOf = (accuracy.Scores ?? []).GroupBy(s => s.Index).ToDictionary(g => g.Key, g => g.First());
        foreach (var (index, prediction) in accuracy.Predictions)
        {
            var sample = byIndex[index];
            scoreOf.TryGetValue(index, out var score);
            string options = string.Join(" ", sample.Options.Select(o => $"{o.Letter}. {o.Text}"));
            dump.WriteLine(string.Join('\t', name, index, score is null ? "" : score.Score.ToString("F2", CultureInfo.InvariantCulture), Cell(score?.Extracted),
                Cell(SyntheticTrainingSet.TargetAnswer(name, sample, targets)), Cell(prediction), Cell(sample.Text("question") + (options.Length > 0 ? " || " + options : ""))));
        }
    }

    private static Dictionary<string, string> ParseOptions(string[] args)
    {
        var options = new Dictionary<string, string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--") || i + 1 >= args.Length) throw new ArgumentException($"expected '--name value' pairs, got '{args[i]}'\n{Usage}");
            options[args[i][2..]] = args[++i];
        }
        return options;
    }

    private static string Required(Dictionary<string, string> o, string key) =>
        o.TryGetValue(key, out var v) ? v : throw new ArgumentException($"missing --{key}\n{Usage}");
    private static int Int(Dictionary<string, string> o, string key, int fallback) =>
        o.TryGetValue(key, out var v) ? int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) ? i : throw new ArgumentException($"--{key} '{v}' is not an integer") : fallback;
    private static bool Bool(Dictionary<string, string> o, string key, bool fallback) =>
        o.TryGetValue(key, out var v) ? bool.TryParse(v, out var b) ? b : throw new ArgumentException($"--{key} '{v}' is not true or false") : fallback;
    private static double Double(Dictionary<string, string> o, string key, double fallback) =>
        o.TryGetValue(key, out var v) ? double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : throw new ArgumentException($"--{key} '{v}' is not a number") : fallback;
}
