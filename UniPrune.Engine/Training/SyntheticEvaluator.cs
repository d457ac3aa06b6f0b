using UniPrune.Engine.Datasets;
using UniPrune.Engine.Imaging;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Scoring;

namespace UniPrune.Engine.Training;

/// <param name="Accuracy">The dataset's main score on a 0–100 scale (MME_SYN: normalised over the categories it declares).</param>
/// <param name="PerSample">Mean of the scorer's per-sample scores (×100).</param>
public sealed record DatasetAccuracy(string Dataset, int Samples, double Accuracy, double PerSample, string MainMetric, double MainScore,
    IReadOnlyList<(string Index, string Prediction)> Predictions, IReadOnlyList<SampleScore>? Scores = null);

/// <summary>Vanilla (or pruned) accuracy of a loaded model on synthetic samples, scored by the real scorers.</summary>
public static class SyntheticEvaluator
{
    public static DatasetAccuracy Evaluate(IVisionLanguageModel model, string family, string datasetName, IReadOnlyList<DatasetSample> samples,
        Func<IPruningHooks?>? hooks = null, int maxNewTokens = 24)
    {
        var dataset = DatasetCatalog.Get(datasetName);
        var policy = PromptPolicy.For(family);
        var predictions = new List<SamplePrediction>();
        foreach (var sample in samples)
        {
            var plan = policy.Build(dataset, sample);
            var encoded = plan.Images.Select(i => EncodeForPlan(model, i, plan)).ToList();
            try
            {
                var result = model.Generate(plan.Message, encoded, hooks?.Invoke(), new GenerationOptions(Math.Min(maxNewTokens, plan.MaxNewTokens)));
                predictions.Add(new SamplePrediction(sample, result.Text));
            }
            finally { foreach (var e in encoded) e.Dispose(); }
        }
        var report = dataset.ScoreAsync(predictions, new ScoringContext { AllowPartial = true }).GetAwaiter().GetResult();
        var scored = report.Samples.Where(s => !double.IsNaN(s.Score)).ToList();
        double perSample = scored.Count == 0 ? double.NaN : 100 * scored.Average(s => s.Score);
        return new DatasetAccuracy(datasetName, samples.Count, report.Score100, perSample, report.MainMetric, report.MainScore,
            predictions.Select(p => (p.Sample.Index, p.Prediction)).ToList(), report.Samples);
    }

    /// <summary>
    /// One image encoded with the plan's per-dataset preprocessing, as the benchmark harness applies it (Qwen: the
    /// min_pixels override with the folder's max_pixels; InternVL: VLMEvalKit's max_num tiles, 6 when the plan sets none).
    /// </summary>
    public static EncodedImage EncodeForPlan(IVisionLanguageModel model, SampleImage image, PromptPlan plan)
    {
        var rgb = ImageDecoder.Decode(image.Bytes, image.Origin);
        switch (model)
        {
            case Models.Qwen25VL.Qwen25VLModel qwen when plan.QwenMinPixels is int minPixels:
                return qwen.EncodeImage(rgb, minPixels, qwen.ImageProcessor!.MaxPixels);
            case Models.InternVL3.InternVL3Model internvl:
                internvl.UseMaxTiles(InternVLTrainingFamily.MaxTilesFor(plan));
                return internvl.EncodeImage(rgb);
            default:
                return model.EncodeImage(rgb);
        }
    }
}
