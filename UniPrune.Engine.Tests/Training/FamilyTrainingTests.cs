using UniPrune.Engine.Core;
using UniPrune.Engine.Datasets;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.Common;
using UniPrune.Engine.Models.InternVL3;
using UniPrune.Engine.Models.Qwen25VL;
using UniPrune.Engine.Synthetic;
using UniPrune.Engine.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Training;

/// <summary>
/// The Qwen2.5-VL and InternVL3 training paths are the inference code with autograd: the same visual tokens on the golden
/// checkpoints, the same logits as the inference prefill for the same teacher-forced prompt, a loss that AdamW lowers,
/// and a saved folder that the family's real loader reads back to the same loss.
/// </summary>
public class FamilyTrainingTests(ITestOutputHelper log)
{
    [Fact]
    public void QwenTrainingPathGivesTheInferenceVisualTokensOnTheGoldenCheckpointAndReachesTheTower()
    {
        string folder = TestPaths.Golden("qwen2_5_vl");
        using var model = Qwen25VLModel.Load(folder, ModelLoadOptions.Cpu());
        using var inputs = SafetensorsFile.Open(Path.Combine(folder, "inputs.safetensors"));
        using var pixels = inputs.Read("pixel_values");
        var g = inputs.Read("image_grid_thw").data<long>().ToArray();
        var grid = new GridThw((int)g[0], (int)g[1], (int)g[2]);

        using var inference = model.EncodePixels(pixels, grid, VisionExtras.None);
        using var scope = NewDisposeScope();
        foreach (var p in model.Vision.parameters()) p.requires_grad_(true);
        var training = model.EncodePixelsForTraining(pixels, grid);
        AssertSameTokens(inference, training, "Qwen2.5-VL");

        // A gradient reaches the first layer of the tower: no inference_mode on this path.
        training.Embeddings.sum().backward();
        var patchGrad = model.Vision.named_parameters().First(p => p.name.StartsWith("patch_embed")).parameter.grad;
        Assert.NotNull(patchGrad);
        Assert.True(patchGrad!.abs().max().item<float>() > 0, "no gradient at patch_embed");
    }

    [Fact]
    public void InternVLTrainingPathGivesTheInferenceVisualTokensOnTheGoldenCheckpointAndReachesTheTower()
    {
        string folder = TestPaths.Golden("internvl3");
        using var model = InternVL3Model.Load(folder, ModelLoadOptions.Cpu());
        using var inputs = SafetensorsFile.Open(Path.Combine(folder, "inputs.safetensors"));
        using var pixels = inputs.Read("pixel_values");
        int total = (int)inputs.Read("num_patches_list").data<long>().Single();
        var tiles = new InternVLImageTiles(total > 1 ? total - 1 : total, total > 1);

        using var inference = model.EncodePixels(pixels, tiles, VisionExtras.None);
        using var scope = NewDisposeScope();
        foreach (var p in model.parameters()) p.requires_grad_(true);
        var training = model.EncodePixelsForTraining(pixels, tiles);
        AssertSameTokens(inference, training, "InternVL3");

        training.Embeddings.sum().backward();
        var patchGrad = model.named_parameters().First(p => p.name.StartsWith("vision_model.embeddings.patch_embedding")).parameter.grad;
        Assert.NotNull(patchGrad);
        Assert.True(patchGrad!.abs().max().item<float>() > 0, "no gradient at the patch embedding");
    }

    private void AssertSameTokens(EncodedImage inference, EncodedImage training, string family)
    {
        Assert.Equal(inference.Embeddings.shape, training.Embeddings.shape);
        double difference = (inference.Embeddings - training.Embeddings.detach()).abs().max().item<float>();
        log.WriteLine($"{family}: {inference.TokenCount} visual tokens, max |training − inference| = {difference:E2}");
        Assert.True(difference <= 1e-6, $"{family}: training-path visual tokens differ from inference by {difference}");
        Assert.Equal(inference.Units, training.Units);
    }

    [Theory]
    [InlineData("qwen")]
    [InlineData("internvl")]
    public void TeacherForcedLogitsEqualThePrefillLogitsAndTrainingLowersTheLossAndTheFolderReloads(string familyName)
    {
        string root = TestPaths.NewTempDir();
        try
        {
            var family = EmbeddedFamily.Parse(familyName);
            // OCRBench carries the per-dataset image rule (Qwen min_pixels, InternVL 24 tiles); POPE and MMBench the others.
            // A ledger remembers the scenes, so the examples carry them for the symbol head (ignored without one).
            using var ledger = SceneLedger.Record();
            var samples = SyntheticTrainingSet.Load(Path.Combine(root, "data"), SyntheticSplit.Train, 3, ["POPE", "OCRBench", "MMBench_DEV_EN"]);
            // Round-robin over the datasets, so the parity checks below see each of them.
            var examples = SyntheticTrainingSet.Examples(samples, family.PromptFamily, scenes: ledger).GroupBy(e => e.Dataset)
                .SelectMany(g => g.Select((e, i) => (e, i))).OrderBy(x => x.i).Select(x => x.e).Take(8).ToList();
            Assert.Equal(8, examples.Count);
            string folder = Path.Combine(root, "model");
            family.WriteFolder(folder, examples);

            using var trainable = family.Create(folder, seed: 5);
            log.WriteLine($"{familyName}: {trainable.ParameterCount:N0} parameters ({trainable.ParameterCount * 4 / 1e6:F1} MB as float32)");
            Assert.InRange(trainable.ParameterCount * 4, 1, 10_000_000);
            // --tower-lr-scale finds the vision encoder among the module's own names (not only the checkpoint's).
            var tower = trainable.Module.named_parameters().GroupBy(p => Trainer.IsVisionTower(p.name)).ToDictionary(g => g.Key, g => g.Count());
            Assert.True(tower.GetValueOrDefault(true) > 0 && tower.GetValueOrDefault(false) > 0, $"tower/other parameters: {tower.GetValueOrDefault(true)}/{tower.GetValueOrDefault(false)}");
            SaveWeights(family, trainable, folder);

            // The same weights through the real loader: its inference prefill over prompt + answer + turn end ...
            using var loaded = family.Load(folder);
            var trainingOnLoaded = TrainingFamilyOf(loaded);
            foreach (var example in examples.Take(3))
            {
                using var scope = NewDisposeScope();
                using var _ = no_grad();
                var rows = Teacher(trainingOnLoaded, example);
                var images = example.Plan.Images.Select(i => SyntheticEvaluator.EncodeForPlan(loaded, i, example.Plan)).ToList();
                var (ids, run) = Prefill(loaded, example, images, rows.Targets.data<long>().ToArray());
                Assert.Equal(ids, rows.InputIds);
                using (run)
                {
                    int length = ids.Length, answer = (int)rows.Targets.shape[0];
                    var prefill = run.Prefill.Logits![(length - answer - 1)..(length - 1)];
                    double difference = (prefill - rows.AnswerLogits).abs().max().item<float>();
                    log.WriteLine($"{example.Dataset}: {length} tokens, {run.VisualTokens} visual, {answer} answer rows, max |training − prefill| logit = {difference:E2}");
                    Assert.True(difference <= 1e-5, $"{example.Dataset}: teacher-forced logits differ from the prefill by {difference}");
                }
                foreach (var image in images) image.Dispose();
            }

            // The batched loss (prompts of different lengths right-padded into one decoder pass) is the mean of the one-by-one losses.
            using (no_grad())
            using (NewDisposeScope())
            {
                double oneByOne = examples.Average(e => trainingOnLoaded.Loss([e]).item<float>());
                double batched = trainingOnLoaded.Loss(examples).item<float>();
                log.WriteLine($"{familyName}: batched loss {batched:F6}, mean of one-by-one {oneByOne:F6}");
                Assert.True(Math.Abs(batched - oneByOne) <= 1e-5 * Math.Max(1, oneByOne), $"batched {batched} vs one-by-one {oneByOne}");
            }

            // Packed (an image the batch asks about several times encoded once, its prompts as blocks after one shared prefix,
            // each with its own M-RoPE / 1-D positions): the same loss and gradients as the unpacked batch.
            Assert.Contains(examples.GroupBy(e => e.Plan.Images[0].Key), g => g.Count() >= 2);
            var (unpackedLoss, unpackedGrads) = LlavaTrainingTests.LossAndGradients(trainingOnLoaded, examples);
            trainingOnLoaded.PackSharedImages = true;
            var (packedLoss, packedGrads) = LlavaTrainingTests.LossAndGradients(trainingOnLoaded, examples);
            trainingOnLoaded.PackSharedImages = false;
            log.WriteLine($"{familyName}: packed loss {packedLoss:F6}, unpacked {unpackedLoss:F6}");
            Assert.True(Math.Abs(packedLoss - unpackedLoss) <= 1e-5 * Math.Max(1, unpackedLoss), $"packed {packedLoss} vs unpacked {unpackedLoss}");
            for (int i = 0; i < unpackedGrads.Count; i++)
                Assert.True(packedGrads[i].allclose(unpackedGrads[i], 1e-4, 1e-6), $"gradient {i}: max difference {(packedGrads[i] - unpackedGrads[i]).abs().max().item<float>()}");

            // --reconstruction adds the head's term (same seed, same weights: the loss grows by the weighted MSE).
            using (var withHead = family.Create(folder, seed: 5, new AuxiliaryLosses(Reconstruction: 0.5)))
            using (no_grad())
            using (NewDisposeScope())
            {
                Assert.Single(withHead.Family.Auxiliary);
                double plain = trainable.Family.Loss(examples).item<float>();
                double headed = withHead.Family.Loss(examples).item<float>();
                log.WriteLine($"{familyName}: loss {plain:F4}, with the reconstruction term {headed:F4}");
                Assert.True(headed > plain + 1e-3, $"with head {headed} vs {plain}");
            }

            // --symbols adds the symbol head's term on images with known scenes (every example here has them).
            Assert.All(examples, e => Assert.All(e.Scenes!, Assert.NotNull));
            using (var withSymbols = family.Create(folder, seed: 5, new AuxiliaryLosses(Symbols: 0.5)))
            using (no_grad())
            using (NewDisposeScope())
            {
                var head = Assert.IsAssignableFrom<IAuxiliaryHead>(Assert.Single(withSymbols.Family.Auxiliary));
                double plain = trainable.Family.Loss(examples).item<float>();
                double headed = withSymbols.Family.Loss(examples).item<float>();
                log.WriteLine($"{familyName}: loss {plain:F4}, with the symbol term {headed:F4} (head loss {head.LastLoss:F4})");
                Assert.Equal(plain + 0.5 * head.LastLoss, headed, 3);
                Assert.True(head.LastLoss > 1, $"an untrained symbol head's loss {head.LastLoss}");
            }

            // --read-pointer adds the weighted attention term where an answer is written in the picture (OCRBench here), the same
            // packed (a repeated question: a block after the shared prefix, under its own mask) as unpacked.
            var reading = examples.Where(e => e.Dataset == "OCRBench").ToList();
            Assert.NotEmpty(reading);
            reading.Add(reading[0]);
            using (var withPointer = family.Create(folder, seed: 5, new AuxiliaryLosses(ReadPointer: 0.5)))
                LlavaTrainingTests.AssertPointerTerm(trainable.Family, withPointer.Family, reading, 0.5, m => log.WriteLine($"{familyName}: {m}"));
            // --copy-pointer does the same for multiple-choice answers and the option text they copy from the prompt (MMBench here).
            var choices = examples.Where(e => e.Dataset == "MMBench_DEV_EN").ToList();
            choices.Add(choices[0]);
            using (var withCopy = family.Create(folder, seed: 5, new AuxiliaryLosses(CopyPointer: 0.5)))
                LlavaTrainingTests.AssertPointerTerm(trainable.Family, withCopy.Family, choices, 0.5, m => log.WriteLine($"{familyName}: copy {m}"));

            // ... and 30 AdamW steps lower the loss of the trainable copy.
            double Loss(ITrainingFamily f) { using var _ = no_grad(); using var s = NewDisposeScope(); return examples.Average(e => f.Loss([e]).item<float>()); }
            double before = Loss(trainable.Family);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            Trainer.Run(trainable.Family, examples, new TrainingSettings(Seed: 5, Steps: 30, Accumulate: 1, LearningRate: 3e-3, WarmupSteps: 3));
            double after = Loss(trainable.Family);
            log.WriteLine($"{familyName}: loss {before:F3} -> {after:F3} after 30 steps ({clock.Elapsed.TotalSeconds:F1} s)");
            Assert.True(after < before * 0.7, $"loss {before:F3} -> {after:F3}");

            SaveWeights(family, trainable, folder);
            using var reloaded = family.Load(folder);
            Assert.Equal(after, Loss(TrainingFamilyOf(reloaded)), 4);
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    [Fact]
    public void AuxiliaryLossWeightsMustBeNonNegativeAndGlyphClassesNeedTheSymbolHead()
    {
        Assert.Contains("copy pointer", Assert.Throws<ArgumentOutOfRangeException>(() => new AuxiliaryLosses(CopyPointer: -1).Validated()).Message);
        Assert.Contains("reconstruction", Assert.Throws<ArgumentOutOfRangeException>(() => new AuxiliaryLosses(Reconstruction: double.NaN).Validated()).Message);
        Assert.Contains("symbol head", Assert.Throws<ArgumentException>(() => new AuxiliaryLosses(GlyphClasses: 1).Validated()).Message);
        var heads = new AuxiliaryHeads(16, new AuxiliaryLosses(Symbols: 1, GlyphClasses: 2, CopyPointer: 0.5));
        Assert.Equal(["SymbolHead", "ReadingPointerLoss"], heads.Modules.Select(m => m.GetName()));
        Assert.True(heads.NeedTokenBoxes);
        Assert.Empty(new AuxiliaryHeads(16, null).Modules);
    }

    [Fact]
    public void AnUnknownFamilyIsRefusedWithTheKnownOnes()
    {
        var e = Assert.Throws<ArgumentException>(() => EmbeddedFamily.Parse("llama"));
        Assert.Contains("llava, qwen, internvl", e.Message);
    }

    private static void SaveWeights(EmbeddedFamily family, TrainableModel model, string folder) =>
        SafetensorsWriter.Write(Path.Combine(folder, "model.safetensors"), family.CheckpointTensors(model.Module));

    private static ITrainingFamily TrainingFamilyOf(IVisionLanguageModel model) => model switch
    {
        Qwen25VLModel qwen => new QwenTrainingFamily(qwen, qwen.ImageProcessor!),
        InternVL3Model internvl => new InternVLTrainingFamily(internvl),
        _ => throw new ArgumentException(model.GetType().Name),
    };

    private static TeacherForcedRows Teacher(ITrainingFamily family, TrainingExample example) => family switch
    {
        QwenTrainingFamily qwen => qwen.TeacherForced(example),
        InternVLTrainingFamily internvl => internvl.TeacherForced(example),
        _ => throw new ArgumentException(family.GetType().Name),
    };

    /// <summary>The inference path: the model's own tokenisation of the evaluation prompt, the target appended, one unpruned prefill with every row's logits.</summary>
    private static (long[] Ids, PromptRun Run) Prefill(IVisionLanguageModel model, TrainingExample example, IReadOnlyList<EncodedImage> images, long[] target)
    {
        var stops = new HashSet<long>();
        switch (model)
        {
            case Qwen25VLModel qwen:
            {
                long[] ids = [.. qwen.TokenizePrompt(example.Plan.Message, images), .. target];
                var ordered = example.Plan.Message.Segments.OfType<ImageSegment>().Select(s => images[s.ImageIndex]).ToList();
                return (ids, qwen.RunPrompt(ids, ordered, null, 1, stops, LogitsSelection.All));
            }
            case InternVL3Model internvl:
            {
                long[] ids = [.. internvl.TokenizePrompt(example.Plan.Message, images), .. target];
                return (ids, internvl.RunPrompt(ids, InternVL3Model.InOrder(example.Plan.Message, images), null, 1, stops, LogitsSelection.All));
            }
            default: throw new ArgumentException(model.GetType().Name);
        }
    }
}
