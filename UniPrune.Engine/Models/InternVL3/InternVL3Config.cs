using UniPrune.Engine.Core;

namespace UniPrune.Engine.Models.InternVL3;

/// <summary>Normalisation used inside InternViT (<c>vision_config.norm_type</c>).</summary>
public enum InternVitNorm { LayerNorm, RmsNorm }

/// <summary>InternViT settings (<c>vision_config</c> of the remote-code config, <c>InternVisionConfig</c>).</summary>
public sealed record InternVisionConfig(
    int HiddenSize,
    int IntermediateSize,
    int NumHiddenLayers,
    int NumAttentionHeads,
    int NumChannels,
    int PatchSize,
    int ImageSize,
    InternVitNorm NormType,
    double LayerNormEps,
    bool QkvBias,
    bool QkNormalization)
{
    public int HeadDim => HiddenSize / NumAttentionHeads;
    /// <summary>Patches per side of the tile size the position embedding was trained for.</summary>
    public int GridSize => ImageSize / PatchSize;

    public static InternVisionConfig Read(JsonConfig c)
    {
        string act = c.String("hidden_act");
        if (act != "gelu")
            throw new CheckpointFormatException(c.File, $"key '{c.KeyPath}.hidden_act' is '{act}'; only exact GELU ('gelu') is implemented for InternViT");
        string norm = c.String("norm_type");
        var normType = norm switch
        {
            "layer_norm" => InternVitNorm.LayerNorm,
            "rms_norm" => InternVitNorm.RmsNorm,
            _ => throw new CheckpointFormatException(c.File, $"key '{c.KeyPath}.norm_type' is '{norm}'; expected 'layer_norm' or 'rms_norm'"),
        };
        if (c.Has("use_moe") && c.Bool("use_moe"))
            throw new CheckpointFormatException(c.File, $"key '{c.KeyPath}.use_moe' is true; the MoE InternViT variant is not implemented");
        var config = new InternVisionConfig(
            HiddenSize: c.Int("hidden_size"),
            IntermediateSize: c.Int("intermediate_size"),
            NumHiddenLayers: c.Int("num_hidden_layers"),
            NumAttentionHeads: c.Int("num_attention_heads"),
            NumChannels: c.Int("num_channels"),
            PatchSize: c.Int("patch_size"),
            ImageSize: c.Int("image_size"),
            NormType: normType,
            LayerNormEps: c.Double("layer_norm_eps"),
            QkvBias: c.Bool("qkv_bias"),
            QkNormalization: c.Bool("qk_normalization"));
        if (config.HiddenSize % config.NumAttentionHeads != 0)
            throw new CheckpointFormatException(c.File, $"'{c.KeyPath}.hidden_size' {config.HiddenSize} is not divisible by num_attention_heads {config.NumAttentionHeads}");
        return config;
    }
}

/// <summary>
/// The Qwen2 language model of InternVL3 (<c>llm_config</c>, <c>Qwen2ForCausalLM</c>). Qwen2Config has no
/// <c>head_dim</c> key: it is hidden_size / num_attention_heads.
/// </summary>
public sealed record InternVLLanguageConfig(
    int HiddenSize,
    int IntermediateSize,
    int NumHiddenLayers,
    int NumAttentionHeads,
    int NumKeyValueHeads,
    int VocabSize,
    double RmsNormEps,
    double RopeTheta,
    int MaxPositionEmbeddings,
    /// <summary>Null for plain RoPE; otherwise the dynamic-NTK factor (inert up to <see cref="MaxPositionEmbeddings"/> positions).</summary>
    double? DynamicRopeFactor,
    bool TieWordEmbeddings)
{
    public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>The shared decoder's view: Qwen2 has q/k/v biases, no o bias, SiLU-gated MLP.</summary>
    public Common.DecoderConfig ToDecoderConfig() => new(
        HiddenSize, IntermediateSize, NumHiddenLayers, NumAttentionHeads, NumKeyValueHeads, HeadDim, VocabSize,
        RmsNormEps, RopeTheta, AttentionBias: true, TieWordEmbeddings, Common.Activation.Silu);

    public static InternVLLanguageConfig Read(JsonConfig c)
    {
        string arch = c.Raw.TryGetProperty("architectures", out var a) && a.ValueKind == System.Text.Json.JsonValueKind.Array && a.GetArrayLength() > 0
            ? a[0].GetString() ?? "" : throw new CheckpointFormatException(c.File, $"missing required key '{c.KeyPath}.architectures' (expected [\"Qwen2ForCausalLM\"])");
        if (arch != "Qwen2ForCausalLM")
            throw new CheckpointFormatException(c.File, $"key '{c.KeyPath}.architectures' names '{arch}'; only InternVL3's Qwen2ForCausalLM language model is implemented");
        string act = c.String("hidden_act");
        if (act != "silu")
            throw new CheckpointFormatException(c.File, $"key '{c.KeyPath}.hidden_act' is '{act}'; Qwen2 uses 'silu'");
        if (c.Has("use_sliding_window") && c.Bool("use_sliding_window"))
            throw new CheckpointFormatException(c.File, $"key '{c.KeyPath}.use_sliding_window' is true; sliding-window attention is not implemented");
        return new InternVLLanguageConfig(
            HiddenSize: c.Int("hidden_size"),
            IntermediateSize: c.Int("intermediate_size"),
            NumHiddenLayers: c.Int("num_hidden_layers"),
            NumAttentionHeads: c.Int("num_attention_heads"),
            NumKeyValueHeads: c.Int("num_key_value_heads"),
            VocabSize: c.Int("vocab_size"),
            RmsNormEps: c.Double("rms_norm_eps"),
            RopeTheta: c.Double("rope_theta"),
            MaxPositionEmbeddings: c.Int("max_position_embeddings"),
            DynamicRopeFactor: ReadRopeScaling(c),
            // Qwen2Config's class default is false, and a diff-style dump (print(config)) leaves the default out.
            TieWordEmbeddings: c.BoolOr("tie_word_embeddings", false));
    }

    // transformers accepts both spellings (`rope_type`, legacy `type`); InternVL3 ships {dynamic, factor 2}.
    private static double? ReadRopeScaling(JsonConfig c)
    {
        var scaling = c.OptionalSection("rope_scaling");
        if (scaling is null) return null;
        string type = scaling.Has("rope_type") ? scaling.String("rope_type") : scaling.String("type");
        return type switch
        {
            "default" => null,
            "dynamic" => scaling.Double("factor"),
            _ => throw new CheckpointFormatException(c.File, $"key '{c.KeyPath}.rope_scaling' has type '{type}'; only 'default' and 'dynamic' are implemented"),
        };
    }
}

/// <summary>
/// InternVL3's remote-code config (<c>InternVLChatConfig</c>, model_type <c>internvl_chat</c>) with its nested
/// <c>vision_config</c> and <c>llm_config</c>. Every size comes from the file; a missing key is an error naming the key
/// and the file.
/// </summary>
public sealed record InternVL3Config(
    InternVisionConfig Vision,
    InternVLLanguageConfig Language,
    /// <summary>Tile side in pixels: <c>force_image_size</c>, or the ViT's <c>image_size</c> when that is null (as the reference does).</summary>
    int TileSize,
    double DownsampleRatio,
    int SelectLayer,
    string PixelShuffleVersion,
    /// <summary>Chat template name. The reference always takes the template's own system message
    /// (<c>self.system_message = self.conv_template.system_message</c>); a <c>system_message</c> key in config.json is not read.</summary>
    string Template,
    bool DynamicImageSize,
    bool UseThumbnail,
    int MinDynamicPatch,
    int MaxDynamicPatch,
    string SourceFile)
{
    /// <summary>Visual tokens per tile after pixel shuffle: (tile/patch)² · ratio² (256 for 448-pixel tiles).</summary>
    public int ImageTokensPerTile => (int)((TileSize / Vision.PatchSize) * (TileSize / Vision.PatchSize) * DownsampleRatio * DownsampleRatio);
    /// <summary>Channels entering mlp1: the ViT width times the number of patches merged into one token.</summary>
    public int ProjectorInputSize => (int)(Vision.HiddenSize / (DownsampleRatio * DownsampleRatio));
    /// <summary>Patch rows/cols per tile and merged-token rows/cols per tile.</summary>
    public int PatchGrid => TileSize / Vision.PatchSize;
    public int TokenGrid => (int)(PatchGrid * DownsampleRatio);

    public static InternVL3Config Load(string configPath)
    {
        if (Directory.Exists(configPath)) configPath = Path.Combine(configPath, "config.json");
        return Read(JsonConfig.Load(configPath));
    }

    public static InternVL3Config Read(JsonConfig c)
    {
        string modelType = c.String("model_type");
        if (modelType != "internvl_chat")
            throw new CheckpointFormatException(c.File, $"key 'model_type' is '{modelType}'; expected 'internvl_chat' (the OpenGVLab remote-code layout)");
        var vision = InternVisionConfig.Read(c.Section("vision_config"));
        var language = InternVLLanguageConfig.Read(c.Section("llm_config"));
        // The reference: image_size = config.force_image_size or config.vision_config.image_size.
        int tile = c.Has("force_image_size") ? c.Int("force_image_size") : vision.ImageSize;
        string ps = c.String("ps_version");
        if (ps is not ("v1" or "v2"))
            throw new CheckpointFormatException(c.File, $"key 'ps_version' is '{ps}'; expected 'v1' or 'v2'");
        string template = c.String("template");
        if (template != "internvl2_5")
            throw new CheckpointFormatException(c.File, $"key 'template' is '{template}'; only the 'internvl2_5' chat template (InternVL3) is implemented");
        double ratio = c.Double("downsample_ratio");
        if (ratio != 0.5)
            throw new CheckpointFormatException(c.File, $"key 'downsample_ratio' is {ratio}; only 0.5 (2×2 pixel shuffle) is implemented");
        if (c.Has("pad2square") && c.Bool("pad2square"))
            throw new CheckpointFormatException(c.File, "key 'pad2square' is true; InternVL3 tiles without padding and pad-to-square is not implemented");
        int select = c.Int("select_layer");
        if (select == 0 || select < -vision.NumHiddenLayers || select > vision.NumHiddenLayers)
            throw new CheckpointFormatException(c.File, $"key 'select_layer' is {select}; expected −{vision.NumHiddenLayers}..−1 or 1..{vision.NumHiddenLayers} (index into the ViT hidden states, 0 = embeddings is not a layer output)");
        if (tile % vision.PatchSize != 0 || (tile / vision.PatchSize) % 2 != 0)
            throw new CheckpointFormatException(c.File, $"tile size {tile} gives a patch grid that is not an even number of {vision.PatchSize}-pixel patches");
        return new InternVL3Config(
            Vision: vision,
            Language: language,
            TileSize: tile,
            DownsampleRatio: ratio,
            SelectLayer: select,
            PixelShuffleVersion: ps,
            Template: template,
            DynamicImageSize: c.Bool("dynamic_image_size"),
            UseThumbnail: c.Bool("use_thumbnail"),
            MinDynamicPatch: c.Int("min_dynamic_patch"),
            MaxDynamicPatch: c.Int("max_dynamic_patch"),
            SourceFile: c.File);
    }

    /// <summary>Number of ViT layers that run: hidden_states[select_layer] is the output of that many layers.</summary>
    public int VisionLayersToRun => SelectLayer < 0 ? Vision.NumHiddenLayers + 1 + SelectLayer : SelectLayer;
}
