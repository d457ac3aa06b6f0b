using UniPrune.Engine.Datasets;
using UniPrune.Engine.Scoring.Judge;

namespace UniPrune.Engine.Scoring;

/// <summary>
/// VLMEvalKit's multiple-choice evaluation (<c>mcq_vanilla_eval</c>, <c>mcq_circular_eval</c>, <c>report_acc</c>):
/// <c>can_infer</c> first, the LLM matcher only where it fails and a judge exists, exact matching ('Z' = wrong) otherwise.
/// </summary>
public static class McqScorer
{
    public const long CircularOffset = 1_000_000;

    /// <summary>MMBench's category abbreviations used in report_acc.</summary>
    public static readonly IReadOnlyDictionary<string, string> MmbAbbreviations = new Dictionary<string, string>
    {
        ["coarse_perception"] = "CP",
        ["finegrained_perception (instance-level)"] = "FP-S",
        ["finegrained_perception (cross-instance)"] = "FP-C",
        ["logic_reasoning"] = "LR",
        ["relation_reasoning"] = "RR",
        ["attribute_reasoning"] = "AR",
    };

    private sealed record Item(DatasetSample Sample, string Prediction, string Truth);

    public static async Task<ScoreReport> ScoreAsync(string dataset, IReadOnlyList<SamplePrediction> predictions, bool circular,
        ScoringContext context, CancellationToken ct = default)
    {
        string[] texts = PredictionFile.Texts(predictions, context);
        var items = predictions.Select((p, i) => new Item(p.Sample, texts[i], p.Sample.Require("answer", "the correct option letter"))).ToList();
        var mode = circular ? context.McqMode : McqCircularMode.VanillaAll;
        var hits = new List<(DatasetSample Sample, double Hit)>();
        var samples = new List<SampleScore>();
        if (mode == McqCircularMode.Circular)
        {
            foreach (var item in items)
                if (item.Sample.IntegerIndex is null)
                    throw new ScoringException($"{dataset}: circular evaluation needs integer indices; '{item.Sample.Index}' ({item.Sample.File} line {item.Sample.Line}) is not");
            var ordered = items.OrderBy(i => i.Sample.IntegerIndex).ToList(); // data.sort_values(by='index')
            long GroupOf(Item i) => i.Sample.Text("g_index") is { } g && long.TryParse(g, out long gi) ? gi : i.Sample.IntegerIndex!.Value % CircularOffset;
            var groups = ordered.GroupBy(GroupOf).ToDictionary(g => g.Key, g => g.ToList());
            foreach (var main in ordered.Where(i => i.Sample.IntegerIndex == GroupOf(i)))
            {
                var (hit, log) = await CircularGroupAsync(groups[GroupOf(main)], context, ct);
                hits.Add((main.Sample, hit));
                samples.Add(new SampleScore(main.Sample.Index, hit == 1 ? main.Truth : "-", hit, log));
            }
        }
        else
        {
            var selected = mode == McqCircularMode.Vanilla0 ? items.Where(i => i.Sample.IntegerIndex is { } x && x <= CircularOffset).ToList() : items;
            foreach (var item in selected)
            {
                var (option, log) = await ExtractAsync(item, context, ct);
                double hit = option == item.Truth ? 1 : 0;
                hits.Add((item.Sample, hit));
                samples.Add(new SampleScore(item.Sample.Index, option, hit, log));
            }
        }
        return Report(dataset, hits, samples, predictions.Count, mode, circular, context);
    }

    /// <summary>extract_answer_from_item: can_infer, else (with a judge) 3 matcher calls, then a seeded random pick; without a judge 'Z'.</summary>
    private static async Task<(string Option, string Log)> ExtractAsync(Item item, ScoringContext context, CancellationToken ct)
    {
        var choices = item.Sample.Options;
        var inferred = AnswerExtraction.CanInfer(item.Prediction, choices);
        if (inferred.Found) return (inferred.ToString(), "prefetch");
        if (context.Judge is null) return ("Z", "exact matching: no option found");
        string prompt = JudgePrompts.McqMatch(item.Sample.Require("question", "the question text"), choices, item.Prediction);
        for (int attempt = 0; attempt < 3; attempt++)
        {
            string output = await context.Judge.CompleteAsync(new JudgeRequest(prompt), ct);
            if (output.Contains(AnswerExtraction.ApiFailureMessage, StringComparison.Ordinal)) continue;
            var matched = AnswerExtraction.CanInfer(output, choices);
            if (matched.Found) return (matched.ToString(), $"judge (try {attempt})");
        }
        // Upstream picks at random among the options and Z; seeded by the index so reruns agree.
        var pool = choices.Select(c => c.Letter.ToString()).Append("Z").ToList();
        var random = new Random(StableSeed(item.Sample.Index));
        return (pool[random.Next(pool.Count)], "judge failed 3 times: seeded random pick (upstream: unseeded)");
    }

    private static async Task<(double Hit, string Log)> CircularGroupAsync(List<Item> group, ScoringContext context, CancellationToken ct)
    {
        var predicted = new InferredOption[group.Count];
        for (int i = 0; i < group.Count; i++)
        {
            predicted[i] = AnswerExtraction.CanInfer(group[i].Prediction, group[i].Sample.Options);
            if (predicted[i].Found && predicted[i].ToString() != group[i].Truth)
                return (0, $"rotation {i} ({group[i].Sample.Index}): answer {group[i].Truth}, prefetched {predicted[i]}");
        }
        if (predicted.All(p => p.Found)) return (1, "all rotations prefetched");
        if (context.Judge is null) return (0, "exact matching: a rotation had no option");
        for (int i = 0; i < group.Count; i++)
        {
            if (predicted[i].Found) continue;
            var (option, log) = await ExtractAsync(group[i], context, ct);
            if (option != group[i].Truth) return (0, $"rotation {i} ({group[i].Sample.Index}): answer {group[i].Truth}, matched {option} ({log})");
        }
        return (1, "all rotations matched (judge used)");
    }

    private static ScoreReport Report(string dataset, List<(DatasetSample Sample, double Hit)> hits, List<SampleScore> samples, int count,
        McqCircularMode mode, bool circularDataset, ScoringContext context)
    {
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
        var categories = new Dictionary<string, double>(StringComparer.Ordinal);
        double overall = hits.Count > 0 ? hits.Average(h => h.Hit) : double.NaN;
        metrics["Overall"] = overall;
        metrics["questions"] = hits.Count;
        // report_acc: Overall per split; then per l2-category and category (sorted, MMBench abbreviations).
        foreach (var split in hits.GroupBy(h => h.Sample.Split ?? "none").OrderBy(g => g.Key, StringComparer.Ordinal))
            metrics[$"Overall/{split.Key}"] = split.Average(h => h.Hit);
        foreach (var (group, key) in new (string, Func<DatasetSample, string?>)[] { ("l2-category", s => s.L2Category), ("category", s => s.Category) })
            foreach (var ability in hits.Where(h => key(h.Sample) is not null).GroupBy(h => key(h.Sample)!).OrderBy(g => g.Key, StringComparer.Ordinal))
                categories[$"{group}/{MmbAbbreviations.GetValueOrDefault(ability.Key, ability.Key)}"] = ability.Average(h => h.Hit);
        string modeText = (circularDataset ? mode switch
        {
            McqCircularMode.Circular => "circular",
            McqCircularMode.Vanilla0 => "vanilla_0",
            _ => "vanilla_all",
        } : "vanilla") + ", " + (context.Judge is null ? "exact_matching" : $"judge:{context.Judge.Model}");
        return new ScoreReport(dataset, "Overall", overall, overall * 100, metrics, categories, count, modeText, false, samples,
            circularDataset && mode == McqCircularMode.Circular ? ["one hit per question group (index mod 1e6); categories from the base row"] : []);
    }

    internal static int StableSeed(string text)
    {
        uint h = 2166136261;
        foreach (char c in text) h = (h ^ c) * 16777619;
        return (int)(h & 0x7fffffff);
    }
}
