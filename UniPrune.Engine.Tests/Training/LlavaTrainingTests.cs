using UniPrune.Engine.Datasets;
using UniPrune.Engine.Imaging;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.Common;
using UniPrune.Engine.Models.Llava15;
using UniPrune.Engine.Synthetic;
using UniPrune.Engine.Training;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Training;

public class LlavaTrainingTests
{
    /// <summary>
    /// A few AdamW steps on a handful of synthetic examples lower the teacher-forced loss; the saved folder loads through the
    /// real LLaVA loader and gives the same loss as the trained module (every tensor saved under the name the loader wants).
    /// </summary>
    [Fact]
    public void TrainingLowersTheLossAndTheSavedFolderReloadsToTheSameLoss()
    {
        string folder = Path.Combine(Path.GetTempPath(), "uniprune-train-test-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var ledger = SceneLedger.Record();
            var samples = SyntheticTrainingSet.Load(Path.Combine(folder, "data"), SyntheticSplit.Train, 2, ["POPE", "OCRBench"]);
            var examples = SyntheticTrainingSet.Examples(samples, ModelFamilies.Llava15, scenes: ledger).Take(6).ToList();
            var corpus = examples.Select(e => Llava15Prompt.Build(e.Plan.Message, LlavaPromptStyle.VlmEvalKit).Replace(Llava15Prompt.ImagePlaceholder, " "))
                .Concat(examples.Select(e => e.Answer));
            string modelFolder = Path.Combine(folder, "model");
            EmbeddedLlava.WriteFolder(modelFolder, corpus);

            using var model = new Llava15Model(Llava15Config.Load(modelFolder), new ParameterFactory(ScalarType.Float32, CPU));
            Trainer.Initialise(model, seed: 3);
            var tokenizer = HfTextTokenizer.FromTokenizerJson(Path.Combine(modelFolder, "tokenizer.json"));
            var processor = ClipImageProcessor.FromPreprocessorConfig(Path.Combine(modelFolder, "preprocessor_config.json"), LlavaImageAspect.PadToSquare);
            var family = new LlavaTrainingFamily(model, tokenizer, processor);
            double Loss(LlavaTrainingFamily f) { using var _ = no_grad(); return examples.Average(e => f.Loss([e]).item<float>()); }

            // One batched pass (images stacked through the tower, prompts right-padded) gives the mean of the one-by-one losses,
            // with the reconstruction and symbol terms too (every LLaVA image has the same 64 tokens).
            var withHead = new LlavaTrainingFamily(model, tokenizer, processor, new AuxiliaryLosses(Reconstruction: 0.5, Symbols: 0.5));
            foreach (var f in new[] { family, withHead })
                using (no_grad())
                {
                    double oneByOne = examples.Average(e => f.Loss([e]).item<float>());
                    double batched = f.Loss(examples).item<float>();
                    Assert.True(Math.Abs(batched - oneByOne) <= 1e-5 * Math.Max(1, oneByOne), $"batched {batched} vs one-by-one {oneByOne}");
                }

            // Packed (each image through the tower once; the questions about it as blocks after one shared prefix): the same
            // loss and the same gradients as the unpacked batch.
            Assert.Contains(examples.GroupBy(e => e.Plan.Images[0].Key), g => g.Count() >= 2);
            var (unpackedLoss, unpackedGrads) = LossAndGradients(family, examples);
            family.PackSharedImages = true;
            var (packedLoss, packedGrads) = LossAndGradients(family, examples);
            family.PackSharedImages = false;
            Assert.True(Math.Abs(packedLoss - unpackedLoss) <= 1e-5 * Math.Max(1, unpackedLoss), $"packed {packedLoss} vs unpacked {unpackedLoss}");
            for (int i = 0; i < unpackedGrads.Count; i++)
                Assert.True(packedGrads[i].allclose(unpackedGrads[i], 1e-4, 1e-6), $"gradient {i}: max difference {(packedGrads[i] - unpackedGrads[i]).abs().max().item<float>()}");

            // --read-pointer: OCRBench answers point at their glyphs, and the loss grows by the weighted pointer term; the term is
            // the same when an image's questions are packed (each block's rows attend under their own mask).
            var reading = SyntheticTrainingSet.Examples(samples, ModelFamilies.Llava15, scenes: ledger).Where(e => e.Dataset == "OCRBench").ToList();
            Assert.NotEmpty(reading);
            reading.Add(reading[0]);   // a second question about the same picture, so packing makes a block after a shared prefix
            AssertPointerTerm(family, new LlavaTrainingFamily(model, tokenizer, processor, new AuxiliaryLosses(ReadPointer: 0.5)), reading, 0.5);

            // --copy-pointer: a multiple-choice answer's tokens point at the option text they copy (prompt rows after the image).
            var choices = SyntheticTrainingSet.Examples(SyntheticTrainingSet.Load(Path.Combine(folder, "choices"), SyntheticSplit.Train, 2, ["ScienceQA_TEST"]),
                ModelFamilies.Llava15).ToList();
            choices.Add(choices[0]);
            AssertPointerTerm(family, new LlavaTrainingFamily(model, tokenizer, processor, new AuxiliaryLosses(CopyPointer: 0.5)), choices, 0.5);

            double before = Loss(family);
            Trainer.Run(family, examples, new TrainingSettings(Seed: 3, Steps: 12, Accumulate: 2, LearningRate: 3e-3, WarmupSteps: 2));
            double after = Loss(family);
            Assert.True(after < before * 0.7, $"loss {before:F3} -> {after:F3}");

            UniPrune.Engine.Core.SafetensorsWriter.Write(Path.Combine(modelFolder, "model.safetensors"),
                model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach()));
            using var loaded = Llava15Model.Load(modelFolder, new ModelLoadOptions(ScalarType.Float32, CPU, HfTextTokenizer.FromTokenizerJson));
            double reloaded = Loss(new LlavaTrainingFamily(loaded, tokenizer, processor));
            Assert.Equal(after, reloaded, 4);
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, true);
        }
    }

    /// <summary>
    /// A family built with a pointer weight adds exactly weight × its pointer loss to the plain family's loss, and the term is
    /// the same packed as unpacked (<paramref name="reading"/> repeats a question, so packing makes a block after a shared prefix).
    /// </summary>
    internal static void AssertPointerTerm(ITrainingFamily plainFamily, ITrainingFamily pointedFamily, IReadOnlyList<TrainingExample> reading, double weight,
        Action<string>? log = null)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var head = Assert.IsType<ReadingPointerLoss>(Assert.Single(pointedFamily.Auxiliary));
        double plain = plainFamily.Loss(reading).item<float>();
        double unpacked = pointedFamily.Loss(reading).item<float>();
        double unpackedHead = head.LastLoss;
        log?.Invoke($"loss {plain:F4}, with the pointer term {unpacked:F4} (head loss {unpackedHead:F4}, mass {head.LastMass:F4})");
        Assert.True(unpackedHead > 0 && head.LastMass is > 0 and < 1, $"pointer loss {unpackedHead}, mass {head.LastMass}");
        Assert.Equal(plain + weight * unpackedHead, unpacked, 4);
        pointedFamily.PackSharedImages = true;
        double packed = pointedFamily.Loss(reading).item<float>();
        pointedFamily.PackSharedImages = false;
        Assert.Equal(unpackedHead, head.LastLoss, 5);
        Assert.Equal(unpacked, packed, 4);
    }

    /// <summary>The loss of one step over <paramref name="examples"/> and every parameter's gradient (zeroed before and after).</summary>
    internal static (double Loss, List<Tensor> Gradients) LossAndGradients(ITrainingFamily family, IReadOnlyList<TrainingExample> examples)
    {
        var parameters = family.Module.parameters().ToList();
        foreach (var p in parameters) { p.requires_grad_(true); p.grad?.zero_(); }
        double loss;
        using (var scope = NewDisposeScope())
        {
            var value = family.Loss(examples);
            value.backward();
            loss = value.item<float>();
        }
        var gradients = parameters.Select(p => p.grad is { } g ? g.clone() : zeros_like(p)).ToList();
        Assert.Contains(gradients, g => g.abs().max().item<float>() > 0);
        foreach (var p in parameters) p.grad?.zero_();
        return (loss, gradients);
    }
}
