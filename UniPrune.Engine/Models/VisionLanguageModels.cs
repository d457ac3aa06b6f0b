using UniPrune.Engine.Core;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.Common;
using UniPrune.Engine.Models.InternVL3;
using UniPrune.Engine.Models.Llava15;
using UniPrune.Engine.Models.Qwen25VL;

namespace UniPrune.Engine.Models;

/// <summary>Loads any supported model folder as an <see cref="IVisionLanguageModel"/>, choosing the family from config.json.</summary>
public static class VisionLanguageModels
{
    /// <summary>The family name ("llava15", "qwen25vl", "internvl3") of a model folder, from config.json's model_type.</summary>
    public static string FamilyOf(string folder)
    {
        var config = JsonConfig.Load(Path.Combine(folder, "config.json"));
        string modelType = config.String("model_type");
        return modelType switch
        {
            "llava" => "llava15",
            "qwen2_5_vl" => "qwen25vl",
            "internvl_chat" => "internvl3",
            _ => throw new CheckpointFormatException(config.File, $"model_type '{modelType}' is not a supported family (expected llava, qwen2_5_vl or internvl_chat)"),
        };
    }

    /// <summary>
    /// Loads a folder with the family's defaults. Without a <see cref="ModelLoadOptions.TokenizerLoader"/> the folder's
    /// tokenizer.json is read through Text's HfTokenizer.
    /// </summary>
    public static IVisionLanguageModel Load(string folder, ModelLoadOptions options)
    {
        var withTokenizer = options.TokenizerLoader is null ? options with { TokenizerLoader = HfTextTokenizer.FromTokenizerJson } : options;
        return FamilyOf(folder) switch
        {
            "llava15" => Llava15Model.Load(folder, withTokenizer),
            "qwen25vl" => Qwen25VLModel.Load(folder, withTokenizer),
            _ => InternVL3Model.Load(folder, withTokenizer),
        };
    }
}
