using UniPrune.Engine.Datasets;
using UniPrune.Engine.Imaging;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.Common;
using UniPrune.Engine.Models.InternVL3;
using UniPrune.Engine.Models.Llava15;
using UniPrune.Engine.Models.Qwen25VL;
using static TorchSharp.torch;

namespace UniPrune.Engine.Training;

/// <summary>A freshly initialised model of a family and its teacher-forced loss.</summary>
public sealed record TrainableModel(nn.Module Module, ITrainingFamily Family) : IDisposable
{
    public long ParameterCount => Module.parameters().Sum(p => p.numel());
    public void Dispose() => Module.Dispose();
}

/// <summary>
/// What the train and evaluate verbs need per family: the prompt policy, the folder writer, a fresh trainable model read
/// from that folder, the checkpoint names the family's loader wants, and that loader.
/// </summary>
public abstract class EmbeddedFamily
{
    /// <summary>The --family value: llava, qwen or internvl.</summary>
    public abstract string Name { get; }
    /// <summary>The <see cref="ModelFamilies"/> name whose prompt policy the benchmark (and so training) uses.</summary>
    public abstract string PromptFamily { get; }
    public abstract void WriteFolder(string folder, IReadOnlyList<TrainingExample> examples);
    /// <summary>A model built from the folder's config, tokenizer and preprocessor, initialised from <paramref name="seed"/>.</summary>
    /// <param name="losses">The training-only losses to add (none when null; see <see cref="AuxiliaryLosses"/>).</param>
    public abstract TrainableModel Create(string folder, int seed, AuxiliaryLosses? losses = null);
    /// <summary>Every parameter under the name the family's loader reads (float32, detached).</summary>
    public abstract Dictionary<string, Tensor> CheckpointTensors(nn.Module module);
    /// <summary>The weights file of a model folder, the single-file checkpoint the loaders open.</summary>
    public static string WeightsPath(string folder) => Path.Combine(folder, Core.Checkpoint.SingleFileName);
    /// <summary>Writes the module's weights as the folder's <see cref="WeightsPath"/>, under the names the family's loader reads.</summary>
    public void SaveWeights(string folder, nn.Module module) =>
        Core.SafetensorsWriter.Write(WeightsPath(folder), CheckpointTensors(module), new Dictionary<string, string> { ["format"] = "pt" });
    /// <summary>The folder through the family's real loader, tokenizer attached.</summary>
    public abstract IVisionLanguageModel Load(string folder);

    public static readonly IReadOnlyList<string> Names = ["llava", "qwen", "internvl"];

    public static EmbeddedFamily Parse(string name) => name switch
    {
        "llava" => new Llava(),
        "qwen" => new Qwen(),
        "internvl" => new InternVL(),
        _ => throw new ArgumentException($"--family '{name}': expected one of {string.Join(", ", Names)}"),
    };

    private static ModelLoadOptions LoadOptions => new(ScalarType.Float32, CPU, HfTextTokenizer.FromTokenizerJson);
    private static ITextTokenizer Tokenizer(string folder) => HfTextTokenizer.FromTokenizerJson(Path.Combine(folder, "tokenizer.json"));

    private static Dictionary<string, Tensor> Named(nn.Module module, Func<string, string> rename) =>
        module.named_parameters().ToDictionary(p => rename(p.name), p => p.parameter.detach().to_type(ScalarType.Float32));

    private sealed class Llava : EmbeddedFamily
    {
        public override string Name => "llava";
        public override string PromptFamily => ModelFamilies.Llava15;

        // The placeholder is an added token, never a learned piece: it is cut out of the prompts the vocabulary learns from.
        public override void WriteFolder(string folder, IReadOnlyList<TrainingExample> examples) => EmbeddedLlava.WriteFolder(folder,
            examples.Select(e => Llava15Prompt.Build(e.Plan.Message, LlavaPromptStyle.VlmEvalKit).Replace(Llava15Prompt.ImagePlaceholder, " ")).Concat(examples.Select(e => e.Answer)));

        public override TrainableModel Create(string folder, int seed, AuxiliaryLosses? losses = null)
        {
            var model = new Llava15Model(Llava15Config.Load(folder), new ParameterFactory(ScalarType.Float32, CPU));
            Trainer.Initialise(model, seed);
            var processor = ClipImageProcessor.FromPreprocessorConfig(Path.Combine(folder, "preprocessor_config.json"), LlavaImageAspect.PadToSquare);
            return new TrainableModel(model, new LlavaTrainingFamily(model, Tokenizer(folder), processor, losses));
        }

        public override Dictionary<string, Tensor> CheckpointTensors(nn.Module module) => Named(module, n => n);
        public override IVisionLanguageModel Load(string folder) => Llava15Model.Load(folder, LoadOptions);
    }

    private sealed class Qwen : EmbeddedFamily
    {
        public override string Name => "qwen";
        public override string PromptFamily => ModelFamilies.Qwen25VL;
        public override void WriteFolder(string folder, IReadOnlyList<TrainingExample> examples) => EmbeddedQwen.WriteFolder(folder, EmbeddedQwen.Corpus(examples));

        public override TrainableModel Create(string folder, int seed, AuxiliaryLosses? losses = null)
        {
            var model = new Qwen25VLModel(Qwen25VLConfig.Load(Path.Combine(folder, "config.json")), new ParameterFactory(ScalarType.Float32, CPU));
            QwenTrainingFamily.Initialise(model, seed);
            model.UseTokenizer(Tokenizer(folder));
            var processor = QwenImageProcessor.FromPreprocessorConfig(Path.Combine(folder, "preprocessor_config.json"));
            return new TrainableModel(model, new QwenTrainingFamily(model, processor, losses));
        }

        // The module keeps the LLM under "language."; the hub files name it "model." / "lm_head.".
        public override Dictionary<string, Tensor> CheckpointTensors(nn.Module module) => Named(module, Qwen25VLModel.HubName);
        public override IVisionLanguageModel Load(string folder) => Qwen25VLModel.Load(folder, LoadOptions);
    }

    private sealed class InternVL : EmbeddedFamily
    {
        public override string Name => "internvl";
        public override string PromptFamily => ModelFamilies.InternVL3;
        public override void WriteFolder(string folder, IReadOnlyList<TrainingExample> examples) => EmbeddedInternVL.WriteFolder(folder, EmbeddedInternVL.Corpus(examples));

        public override TrainableModel Create(string folder, int seed, AuxiliaryLosses? losses = null)
        {
            var model = new InternVL3Model(InternVL3Config.Load(folder), new ParameterFactory(ScalarType.Float32, CPU));
            InternVLTrainingFamily.Initialise(model, seed);
            model.UseTokenizer(Tokenizer(folder));
            return new TrainableModel(model, new InternVLTrainingFamily(model, losses));
        }

        public override Dictionary<string, Tensor> CheckpointTensors(nn.Module module) => Named(module, n => n);
        public override IVisionLanguageModel Load(string folder) => InternVL3Model.Load(folder, LoadOptions);
    }
}
