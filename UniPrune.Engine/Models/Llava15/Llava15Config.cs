using UniPrune.Engine.Core;
using UniPrune.Engine.Models.Common;

namespace UniPrune.Engine.Models.Llava15;

/// <summary>Which of the two published checkpoint layouts a folder holds (models.md §1.1–1.2).</summary>
public enum LlavaCheckpointLayout
{
    /// <summary>llava-hf/llava-1.5-*-hf: <c>LlavaForConditionalGeneration</c>, CLIP inside the file.</summary>
    LlavaHf,
    /// <summary>liuhaotian/llava-v1.5-*: <c>LlavaLlamaForCausalLM</c> (LLM + mm_projector); CLIP in a separate folder.</summary>
    Original,
}

/// <summary>CLIP vision tower sizes. hidden_act and layer_norm_eps are absent from the OpenAI config and default to CLIP's class values.</summary>
public sealed record ClipVisionConfig(int HiddenSize, int IntermediateSize, int NumLayers, int NumHeads, int PatchSize, int ImageSize,
    int NumChannels, Activation HiddenAct, double LayerNormEps)
{
    public int HeadDim => HiddenSize / NumHeads;
    public int PatchesPerSide => ImageSize / PatchSize;
    public int NumPatches => PatchesPerSide * PatchesPerSide;
    /// <summary>Patches plus the CLS token.</summary>
    public int NumPositions => NumPatches + 1;

    /// <summary>Reads a CLIP vision section (<c>vision_config</c> of a LLaVA-hf or full CLIP config, or a clip_vision_model config itself).</summary>
    public static ClipVisionConfig Read(JsonConfig c)
    {
        var config = new ClipVisionConfig(
            c.Int("hidden_size"), c.Int("intermediate_size"), c.Int("num_hidden_layers"), c.Int("num_attention_heads"),
            c.Int("patch_size"), c.Int("image_size"),
            // CLIPVisionConfig class defaults; the OpenAI and llava-hf files leave these three out.
            c.IntOr("num_channels", 3),
            Activations.Parse(c.StringOr("hidden_act", "quick_gelu"), c.File, Key(c, "hidden_act")),
            c.DoubleOr("layer_norm_eps", 1e-5));
        if (config.HiddenSize % config.NumHeads != 0)
            throw new CheckpointFormatException(c.File, $"'{Key(c, "hidden_size")}' ({config.HiddenSize}) is not a multiple of '{Key(c, "num_attention_heads")}' ({config.NumHeads})");
        if (config.ImageSize % config.PatchSize != 0)
            throw new CheckpointFormatException(c.File, $"'{Key(c, "image_size")}' ({config.ImageSize}) is not a multiple of '{Key(c, "patch_size")}' ({config.PatchSize})");
        return config;
    }

    private static string Key(JsonConfig c, string key) => c.KeyPath.Length == 0 ? key : $"{c.KeyPath}.{key}";
}

/// <summary>
/// A LLaVA-1.5 checkpoint's configuration from its config.json (and, for the original layout, the CLIP folder's).
/// Missing keys fail naming key and file, except the documented class defaults below.
/// </summary>
/// <param name="ImageTokenIndex">The placeholder id that fills one row per visual token (llava-hf); the original layout
/// has none (its prompts carry the −200 sentinel), and uses <see cref="ImageSentinel"/> here.</param>
/// <param name="VisionFeatureLayer">Index into CLIP's hidden_states (−2 = output of the penultimate layer).</param>
/// <param name="DropClsToken">"default"/"patch" strategy: the CLS row is dropped before the projector.</param>
/// <param name="CompletedTextKeys">text_config keys the file left out and LlamaConfig's class defaults supplied (llava-hf).</param>
public sealed record Llava15Config(
    LlavaCheckpointLayout Layout,
    ClipVisionConfig Vision,
    DecoderConfig Text,
    long ImageTokenIndex,
    Activation ProjectorActivation,
    int VisionFeatureLayer,
    bool DropClsToken,
    long BosTokenId,
    long EosTokenId,
    string ImageAspectRatio,
    string ConfigFile,
    string? VisionConfigFile,
    IReadOnlyList<string> CompletedTextKeys)
{
    /// <summary>Original layout: LLaVA cuts every spliced sequence to tokenizer_model_max_length (2048); llava-hf does not.</summary>
    public int? MaxSplicedLength { get; init; }

    /// <summary>LLaVA's tokenizer_image_token placeholder id (not a vocabulary id).</summary>
    public const long ImageSentinel = -200;

    /// <summary>Visual tokens per image (one per patch, plus CLS when it is kept).</summary>
    public int TokensPerImage => Vision.NumPatches + (DropClsToken ? 0 : 1);

    /// <summary>How many CLIP layers must run to reach the selected hidden state (hidden_states[0] is the embedding output).</summary>
    public int VisionLayersToRun => VisionFeatureLayer < 0 ? Vision.NumLayers + 1 + VisionFeatureLayer : VisionFeatureLayer;

    /// <summary>
    /// Reads a model folder's config.json. For the original layout the CLIP tower's config comes from
    /// <paramref name="visionTowerFolder"/> (default: a "vision_tower" folder inside the model folder).
    /// </summary>
    public static Llava15Config Load(string folder, string? visionTowerFolder = null)
    {
        string file = Path.Combine(folder, "config.json");
        var root = JsonConfig.Load(file);
        return IsOriginalLayout(root) ? ReadOriginal(root, ResolveVisionFolder(root, folder, visionTowerFolder)) : ReadHf(root);
    }

    public static bool IsOriginalLayout(JsonConfig root) =>
        root.Has("mm_vision_tower") || ArchitecturesContain(root, "LlavaLlamaForCausalLM");

    private static bool ArchitecturesContain(JsonConfig root, string name) =>
        root.Raw.TryGetProperty("architectures", out var a) && a.ValueKind == System.Text.Json.JsonValueKind.Array
        && a.EnumerateArray().Any(e => e.ValueKind == System.Text.Json.JsonValueKind.String && e.GetString() == name);

    public static string ResolveVisionFolder(JsonConfig root, string folder, string? visionTowerFolder)
    {
        string candidate = visionTowerFolder ?? Path.Combine(folder, "vision_tower");
        if (File.Exists(Path.Combine(candidate, "config.json"))) return candidate;
        throw new CheckpointFormatException(root.File,
            $"original-layout LLaVA keeps CLIP apart (mm_vision_tower = '{root.StringOr("mm_vision_tower", "?")}'): no config.json in {candidate}; " +
            "pass the CLIP folder (config.json + model.safetensors) as the vision tower folder");
    }

    /// <summary>llava-hf: top-level LLaVA keys, vision_config (CLIP), text_config (LLaMA, partly written).</summary>
    public static Llava15Config ReadHf(JsonConfig root)
    {
        var vision = ClipVisionConfig.Read(root.Section("vision_config"));
        var text = root.Section("text_config");
        var completed = new List<string>();
        int TextInt(string key, int classDefault)
        {
            if (text.Has(key)) return text.Int(key);
            completed.Add(key);
            return classDefault;
        }
        // LlamaConfig class defaults (the published llava-1.5-7b-hf text_config writes only max_position_embeddings,
        // rms_norm_eps, vocab_size and model_type). Every size is then checked against the tensor shapes at load.
        int hidden = TextInt("hidden_size", 4096);
        int heads = TextInt("num_attention_heads", 32);
        int kvHeads = text.Has("num_key_value_heads") ? text.Int("num_key_value_heads") : heads;
        var decoder = new DecoderConfig(
            HiddenSize: hidden,
            IntermediateSize: TextInt("intermediate_size", 11008),
            NumLayers: TextInt("num_hidden_layers", 32),
            NumHeads: heads,
            NumKvHeads: kvHeads,
            HeadDim: text.Has("head_dim") ? text.Int("head_dim") : hidden / heads,
            VocabSize: text.Int("vocab_size"),
            // LlamaConfig's own default eps is 1e-6 while LLaVA-1.5 uses 1e-5 (models.md §1.1): never default it.
            RmsNormEps: text.Double("rms_norm_eps"),
            RopeTheta: text.DoubleOr("rope_theta", 10000.0),
            AttentionBias: text.BoolOr("attention_bias", false),
            TieWordEmbeddings: root.BoolOr("tie_word_embeddings", false),
            HiddenAct: Activations.Parse(text.StringOr("hidden_act", "silu"), text.File, "text_config.hidden_act"));
        RejectRopeScaling(text);
        string strategy = root.StringOr("vision_feature_select_strategy", "default");
        return new Llava15Config(
            LlavaCheckpointLayout.LlavaHf, vision, decoder,
            ImageTokenIndex: root.Long("image_token_index"),
            ProjectorActivation: Activations.Parse(root.StringOr("projector_hidden_act", "gelu"), root.File, "projector_hidden_act"),
            VisionFeatureLayer: root.IntOr("vision_feature_layer", -2),
            DropClsToken: ParseStrategy(strategy, root.File, "vision_feature_select_strategy", "default", "full"),
            BosTokenId: text.Has("bos_token_id") ? text.Long("bos_token_id") : 1,
            EosTokenId: text.Has("eos_token_id") ? text.Long("eos_token_id") : 2,
            ImageAspectRatio: "pad",
            ConfigFile: root.File, VisionConfigFile: null, CompletedTextKeys: completed);
    }

    /// <summary>liuhaotian: flat LLaMA keys + mm_* keys; CLIP's config from its own folder.</summary>
    public static Llava15Config ReadOriginal(JsonConfig root, string visionFolder)
    {
        string visionFile = Path.Combine(visionFolder, "config.json");
        var clipRoot = JsonConfig.Load(visionFile);
        var vision = ClipVisionConfig.Read(clipRoot.OptionalSection("vision_config") ?? clipRoot);
        if (root.Has("mm_hidden_size") && root.Int("mm_hidden_size") != vision.HiddenSize)
            throw new CheckpointFormatException(root.File, $"'mm_hidden_size' is {root.Int("mm_hidden_size")} but the CLIP config {visionFile} has hidden_size {vision.HiddenSize}");
        string projector = root.String("mm_projector_type");
        if (projector != "mlp2x_gelu")
            throw new CheckpointFormatException(root.File, $"'mm_projector_type' = '{projector}' is not supported (expected mlp2x_gelu, LLaVA-1.5's projector)");
        string patchMerge = root.StringOr("mm_patch_merge_type", "flat");
        if (patchMerge != "flat")
            throw new CheckpointFormatException(root.File, $"'mm_patch_merge_type' = '{patchMerge}' is LLaVA-NeXT's; only 'flat' (LLaVA-1.5) is supported");
        int heads = root.Int("num_attention_heads");
        int hidden = root.Int("hidden_size");
        var decoder = new DecoderConfig(
            HiddenSize: hidden,
            IntermediateSize: root.Int("intermediate_size"),
            NumLayers: root.Int("num_hidden_layers"),
            NumHeads: heads,
            NumKvHeads: root.Has("num_key_value_heads") ? root.Int("num_key_value_heads") : heads,
            HeadDim: hidden / heads,
            VocabSize: root.Int("vocab_size"),
            RmsNormEps: root.Double("rms_norm_eps"),
            RopeTheta: root.DoubleOr("rope_theta", 10000.0),
            AttentionBias: root.BoolOr("attention_bias", false),
            TieWordEmbeddings: root.BoolOr("tie_word_embeddings", false),
            HiddenAct: Activations.Parse(root.String("hidden_act"), root.File, "hidden_act"));
        RejectRopeScaling(root);
        return new Llava15Config(
            LlavaCheckpointLayout.Original, vision, decoder,
            ImageTokenIndex: ImageSentinel,
            ProjectorActivation: Activation.GeluExact,
            VisionFeatureLayer: root.Int("mm_vision_select_layer"),
            DropClsToken: ParseStrategy(root.StringOr("mm_vision_select_feature", "patch"), root.File, "mm_vision_select_feature", "patch", "cls_patch"),
            BosTokenId: root.Long("bos_token_id"),
            EosTokenId: root.Long("eos_token_id"),
            ImageAspectRatio: root.StringOr("image_aspect_ratio", "pad"),
            ConfigFile: root.File, VisionConfigFile: visionFile, CompletedTextKeys: [])
        {
            MaxSplicedLength = root.Has("tokenizer_model_max_length") ? root.Int("tokenizer_model_max_length") : null,
        };
    }

    private static bool ParseStrategy(string value, string file, string key, string dropCls, string keepCls) =>
        value == dropCls ? true : value == keepCls ? false
        : throw new CheckpointFormatException(file, $"'{key}' = '{value}' (expected '{dropCls}' or '{keepCls}')");

    private static void RejectRopeScaling(JsonConfig c)
    {
        if (c.Has("rope_scaling"))
            throw new CheckpointFormatException(c.File, $"'{(c.KeyPath.Length == 0 ? "" : c.KeyPath + ".")}rope_scaling' is set; LLaVA-1.5 uses plain RoPE and scaled variants are not implemented");
    }
}
