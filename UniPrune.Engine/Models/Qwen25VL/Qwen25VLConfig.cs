using UniPrune.Engine.Core;

namespace UniPrune.Engine.Models.Qwen25VL;

/// <summary>The Qwen2.5-VL vision transformer (models.md §2.1, §2.4).</summary>
public sealed record Qwen25VLVisionConfig(
    int Depth,
    int HiddenSize,
    int NumHeads,
    int IntermediateSize,
    string HiddenAct,
    int PatchSize,
    int TemporalPatchSize,
    int SpatialMergeSize,
    int WindowSize,
    IReadOnlyList<int> FullAttentionBlockIndexes,
    int OutHiddenSize,
    int InChannels,
    int TokensPerSecond)
{
    public int HeadDim => HiddenSize / NumHeads;
    /// <summary>Patches per merged token (2×2 = 4).</summary>
    public int MergeUnit => SpatialMergeSize * SpatialMergeSize;
    /// <summary>Flattened length of one patch row in pixel_values: C·T·P·P (3·2·14·14 = 1176).</summary>
    public int PatchVectorLength => InChannels * TemporalPatchSize * PatchSize * PatchSize;
    /// <summary>Window side in merged cells: 112 px / 14 / 2 = 4.</summary>
    public int WindowCells => WindowSize / SpatialMergeSize / PatchSize;
}

/// <summary>The Qwen2 language model inside Qwen2.5-VL (models.md §2.1, §2.7).</summary>
public sealed record Qwen25VLTextConfig(
    int HiddenSize,
    int IntermediateSize,
    int NumLayers,
    int NumHeads,
    int NumKeyValueHeads,
    int VocabSize,
    double RmsNormEps,
    double RopeTheta,
    IReadOnlyList<int> MropeSection,
    bool TieWordEmbeddings,
    string HiddenAct)
{
    public int HeadDim => HiddenSize / NumHeads;
}

/// <summary>Special token ids the model itself needs (splicing, M-RoPE, stopping).</summary>
public sealed record Qwen25VLTokenIds(
    long ImageToken,
    long VideoToken,
    long VisionStart,
    long VisionEnd,
    IReadOnlyList<long> StopTokens);

/// <summary>
/// A Qwen2.5-VL checkpoint config read from its config.json. LLM sizes are required (a missing one names key and file).
/// The vision_config on the hub is often written only in part; its missing keys are completed from the documented
/// class defaults below (models.md §2.1), and every completed key is listed in <see cref="CompletedVisionKeys"/>.
/// </summary>
public sealed record Qwen25VLConfig(
    Qwen25VLTextConfig Text,
    Qwen25VLVisionConfig Vision,
    Qwen25VLTokenIds Tokens,
    string SourceFile,
    IReadOnlyList<string> CompletedVisionKeys)
{
    public const string ModelType = "qwen2_5_vl";

    /// <summary>
    /// Class defaults of the released ViT (transformers' Qwen2_5_VLVisionConfig, except hidden_size and
    /// out_hidden_size, whose class defaults (3584) fit no released checkpoint: models.md §2.1 fixes the ViT width at
    /// 1280 and the merger output at the LLM width). Weight shapes are checked on load, so a wrong completion fails there.
    /// </summary>
    public static class VisionDefaults
    {
        public const int Depth = 32;
        public const int HiddenSize = 1280;
        public const int NumHeads = 16;
        public const int IntermediateSize = 3420;
        public const string HiddenAct = "silu";
        public const int PatchSize = 14;
        public const int TemporalPatchSize = 2;
        public const int SpatialMergeSize = 2;
        public const int WindowSize = 112;
        public static readonly IReadOnlyList<int> FullAttentionBlockIndexes = [7, 15, 23, 31];
        public const int InChannels = 3;
        public const int TokensPerSecond = 2;
    }

    public static Qwen25VLConfig Load(string configJsonPath) => FromJson(JsonConfig.Load(configJsonPath));

    public static Qwen25VLConfig FromJson(JsonConfig root)
    {
        string modelType = root.String("model_type");
        if (modelType != ModelType)
            throw new CheckpointFormatException(root.File, $"key 'model_type' is '{modelType}' (expected '{ModelType}')");

        // Newer re-saves move the LLM keys under text_config; older files keep them at the top level.
        var text = root.OptionalSection("text_config") is { } tc && tc.Has("hidden_size") ? tc : root;
        var textConfig = ReadText(text, root);
        var (vision, completed) = ReadVision(root.Section("vision_config"), textConfig.HiddenSize);

        var stops = new List<long>();
        // generation_config.json lists {151645, 151643}; config.json carries eos (and bos, which Qwen also stops at).
        if (root.Has("eos_token_id")) stops.Add(root.Long("eos_token_id"));
        else if (text.Has("eos_token_id")) stops.Add(text.Long("eos_token_id"));
        else throw new CheckpointFormatException(root.File, "missing required key 'eos_token_id' (expected an integer)");
        long? endOfText = root.Has("bos_token_id") ? root.Long("bos_token_id") : text.Has("bos_token_id") ? text.Long("bos_token_id") : null;
        if (endOfText is { } eot && !stops.Contains(eot)) stops.Add(eot);

        var tokens = new Qwen25VLTokenIds(
            ImageToken: root.Long("image_token_id"),
            VideoToken: root.Long("video_token_id"),
            VisionStart: root.Long("vision_start_token_id"),
            VisionEnd: root.Long("vision_end_token_id"),
            StopTokens: stops);

        return new Qwen25VLConfig(textConfig, vision, tokens, root.File, completed);
    }

    private static Qwen25VLTextConfig ReadText(JsonConfig text, JsonConfig root)
    {
        int hidden = text.Int("hidden_size");
        int heads = text.Int("num_attention_heads");
        if (hidden % heads != 0)
            throw new CheckpointFormatException(text.File, $"hidden_size {hidden} is not divisible by num_attention_heads {heads}");
        int kvHeads = text.Int("num_key_value_heads");
        if (heads % kvHeads != 0)
            throw new CheckpointFormatException(text.File, $"num_attention_heads {heads} is not a multiple of num_key_value_heads {kvHeads}");

        var rope = text.OptionalSection("rope_scaling") ?? root.OptionalSection("rope_scaling")
            ?? throw new CheckpointFormatException(root.File, "missing required section 'rope_scaling' (expected an object with 'mrope_section')");
        // Older files say type "mrope"; transformers rewrites it to plain "default" RoPE (golden README, config quirk).
        string ropeType = rope.Has("rope_type") ? rope.String("rope_type") : rope.StringOr("type", "default");
        if (ropeType is not ("mrope" or "default"))
            throw new CheckpointFormatException(root.File, $"key '{rope.KeyPath}.type' is '{ropeType}' (expected 'mrope' or 'default'; scaled RoPE is not supported)");
        int[] section = rope.IntArray("mrope_section");
        int headDim = hidden / heads;
        if (section.Length != 3 || section.Sum() * 2 != headDim)
            throw new CheckpointFormatException(root.File,
                $"key '{rope.KeyPath}.mrope_section' is [{string.Join(",", section)}] (expected 3 integers summing to head_dim/2 = {headDim / 2})");

        // Every released Qwen2.5-VL attends over the full context; sliding-window layers are not implemented, so refuse them.
        if ((text.Has("use_sliding_window") ? text.Bool("use_sliding_window") : root.BoolOr("use_sliding_window", false)))
            throw new CheckpointFormatException(text.File, "key 'use_sliding_window' is true (expected false: sliding-window attention is not supported)");

        string act = text.String("hidden_act");
        if (act != "silu") throw new CheckpointFormatException(text.File, $"key 'hidden_act' is '{act}' (expected 'silu')");

        return new Qwen25VLTextConfig(
            HiddenSize: hidden,
            IntermediateSize: text.Int("intermediate_size"),
            NumLayers: text.Int("num_hidden_layers"),
            NumHeads: heads,
            NumKeyValueHeads: kvHeads,
            VocabSize: text.Int("vocab_size"),
            RmsNormEps: text.Double("rms_norm_eps"),
            RopeTheta: text.Double("rope_theta"),
            MropeSection: section,
            // tie_word_embeddings decides whether an lm_head tensor must exist: never guess it.
            TieWordEmbeddings: root.Has("tie_word_embeddings") ? root.Bool("tie_word_embeddings") : text.Bool("tie_word_embeddings"),
            HiddenAct: act);
    }

    private static (Qwen25VLVisionConfig, IReadOnlyList<string>) ReadVision(JsonConfig v, int llmHidden)
    {
        var completed = new List<string>();
        int I(string key, int fallback) { if (!v.Has(key)) completed.Add(key); return v.IntOr(key, fallback); }

        int hidden = I("hidden_size", VisionDefaults.HiddenSize);
        int heads = I("num_heads", VisionDefaults.NumHeads);
        if (hidden % heads != 0)
            throw new CheckpointFormatException(v.File, $"key '{v.KeyPath}.hidden_size' {hidden} is not divisible by num_heads {heads}");
        if ((hidden / heads) % 4 != 0)
            throw new CheckpointFormatException(v.File, $"vision head_dim {hidden / heads} must be a multiple of 4 (2-D rotary halves)");

        string act = v.Has("hidden_act") ? v.String("hidden_act") : Complete("hidden_act", VisionDefaults.HiddenAct);
        if (act != "silu") throw new CheckpointFormatException(v.File, $"key '{v.KeyPath}.hidden_act' is '{act}' (expected 'silu')");
        IReadOnlyList<int> fullAtt = v.IntArrayOrNull("fullatt_block_indexes") ?? CompleteList("fullatt_block_indexes", VisionDefaults.FullAttentionBlockIndexes);

        // The hub writes 'in_chans'; the transformers class reads 'in_channels' (and ignores in_chans).
        int inChannels = v.Has("in_channels") ? v.Int("in_channels") : v.Has("in_chans") ? v.Int("in_chans") : I("in_channels", VisionDefaults.InChannels);
        int patch = v.Has("patch_size") ? v.Int("patch_size") : v.Has("spatial_patch_size") ? v.Int("spatial_patch_size") : I("patch_size", VisionDefaults.PatchSize);

        var config = new Qwen25VLVisionConfig(
            Depth: I("depth", VisionDefaults.Depth),
            HiddenSize: hidden,
            NumHeads: heads,
            IntermediateSize: I("intermediate_size", VisionDefaults.IntermediateSize),
            HiddenAct: act,
            PatchSize: patch,
            TemporalPatchSize: I("temporal_patch_size", VisionDefaults.TemporalPatchSize),
            SpatialMergeSize: I("spatial_merge_size", VisionDefaults.SpatialMergeSize),
            WindowSize: I("window_size", VisionDefaults.WindowSize),
            FullAttentionBlockIndexes: fullAtt,
            // The merger must emit LLM-width vectors; that is the only value a released checkpoint can have.
            OutHiddenSize: I("out_hidden_size", llmHidden),
            InChannels: inChannels,
            TokensPerSecond: I("tokens_per_second", VisionDefaults.TokensPerSecond));

        if (config.OutHiddenSize != llmHidden)
            throw new CheckpointFormatException(v.File, $"key '{v.KeyPath}.out_hidden_size' is {config.OutHiddenSize} but the LLM hidden_size is {llmHidden} (they must match)");
        if (config.WindowCells < 1 || config.WindowSize % (config.SpatialMergeSize * config.PatchSize) != 0)
            throw new CheckpointFormatException(v.File, $"key '{v.KeyPath}.window_size' {config.WindowSize} must be a positive multiple of spatial_merge_size·patch_size = {config.SpatialMergeSize * config.PatchSize}");
        foreach (int b in fullAtt)
            if (b < 0 || b >= config.Depth)
                throw new CheckpointFormatException(v.File, $"key '{v.KeyPath}.fullatt_block_indexes' names block {b}, outside 0..{config.Depth - 1}");
        return (config, completed);

        string Complete(string key, string value) { completed.Add(key); return value; }
        IReadOnlyList<int> CompleteList(string key, IReadOnlyList<int> value) { completed.Add(key); return value; }
    }
}
