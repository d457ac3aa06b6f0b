using UniPrune.Engine.Core;

namespace UniPrune.Engine.Models.Llava15;

/// <summary>
/// Module parameter names (= llava-hf's keys) → the key a checkpoint actually uses, per layout (models.md §1.2).
/// </summary>
public static class Llava15CheckpointKeys
{
    /// <summary>llava-hf as published (identity), or re-saved by transformers ≥ 4.52 (model.language_model.*, model.vision_tower.*, lm_head).</summary>
    public static Func<string, string> ForHfCheckpoint(Checkpoint checkpoint) =>
        checkpoint.Contains("model.language_model.embed_tokens.weight") ? NewTransformersKey : name => name;

    public static string NewTransformersKey(string name) =>
        name.StartsWith("language_model.model.") ? "model.language_model." + name["language_model.model.".Length..]
        : name == "language_model.lm_head.weight" ? "lm_head.weight"
        : "model." + name;

    /// <summary>liuhaotian's LLM checkpoint: model.* / lm_head.weight, projector as model.mm_projector.{0,2}.</summary>
    public static string OriginalLlmKey(string name) =>
        name.StartsWith("language_model.") ? name["language_model.".Length..]
        : name.StartsWith("multi_modal_projector.linear_1.") ? "model.mm_projector.0." + name["multi_modal_projector.linear_1.".Length..]
        : name.StartsWith("multi_modal_projector.linear_2.") ? "model.mm_projector.2." + name["multi_modal_projector.linear_2.".Length..]
        : throw new ArgumentException($"'{name}' is not stored in the original LLaVA checkpoint");

    /// <summary>openai/clip-vit-large-patch14-336 (full CLIP or vision-only): vision_model.*.</summary>
    public static string ClipKey(string name) =>
        name.StartsWith("vision_tower.") ? name["vision_tower.".Length..] : throw new ArgumentException($"'{name}' is not a CLIP tensor");

    public static bool IgnorableInHf(string key) => key.EndsWith(".position_ids") || key.EndsWith(".rotary_emb.inv_freq");

    public static bool IgnorableInOriginalLlm(string key) => key.EndsWith(".rotary_emb.inv_freq");

    /// <summary>CLIP's text tower and joint projections are not used by LLaVA.</summary>
    public static bool IgnorableInClip(string key) => !key.StartsWith("vision_model.") || key.EndsWith(".position_ids");
}
