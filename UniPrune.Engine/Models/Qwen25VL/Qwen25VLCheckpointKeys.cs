using UniPrune.Engine.Core;

namespace UniPrune.Engine.Models.Qwen25VL;

/// <summary>
/// Tensor names of Qwen2.5-VL checkpoints (models.md §2.2). Our modules are named after the hub files
/// (<c>visual.*</c>, <c>model.*</c>, <c>lm_head.weight</c>); checkpoints re-saved by transformers ≥ 4.52 use
/// <c>model.visual.*</c> and <c>model.language_model.*</c> instead, and both spellings are accepted.
/// </summary>
public static class Qwen25VLCheckpointKeys
{
    public const string LmHead = "lm_head.weight";
    public const string EmbedTokens = "model.embed_tokens.weight";

    private static readonly (string From, string To)[] Renames =
    [
        ("model.visual.", "visual."),
        ("model.language_model.", "model."),
    ];

    /// <summary>Buffers some exporters write that carry no weights (recomputed here).</summary>
    public static bool IsIgnorable(string key) => key.EndsWith(".inv_freq", StringComparison.Ordinal);

    /// <summary>The hub name of a checkpoint key (identity for hub-layout files).</summary>
    public static string ToHubName(string key)
    {
        foreach (var (from, to) in Renames)
            if (key.StartsWith(from, StringComparison.Ordinal)) return to + key[from.Length..];
        return key;
    }

    /// <summary>Hub name → checkpoint key, for every tensor in the checkpoint (fails on two keys mapping to one name).</summary>
    public static Dictionary<string, string> Index(Checkpoint checkpoint)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var key in checkpoint.Keys)
        {
            if (IsIgnorable(key)) continue;
            string hub = ToHubName(key);
            if (!map.TryAdd(hub, key))
                throw new CheckpointFormatException(checkpoint.Source, $"tensors '{map[hub]}' and '{key}' both map to '{hub}' (mixed old and new transformers names)");
        }
        return map;
    }
}
