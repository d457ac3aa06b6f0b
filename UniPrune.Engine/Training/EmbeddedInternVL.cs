using System.Text.Json.Nodes;
using UniPrune.Engine.Models.InternVL3;
using UniPrune.Engine.Synthetic;

namespace UniPrune.Engine.Training;

/// <summary>
/// The embedded InternVL3-style model's files in the OpenGVLab remote-code layout: config.json (internvl_chat with
/// vision_config and llm_config, every key InternVL3Config reads), a CLIP-style preprocessor_config.json like the hub's,
/// and a Qwen2 byte-level tokenizer.json learned from the prompts plus the chat and image special tokens. Sizes: InternViT
/// 4 layers × 96 (LayerNorm, qkv bias, layer scale), 112-pixel tiles of 14-pixel patches (8×8) → pixel shuffle → 16
/// tokens per tile, mlp1 → Qwen2 3 layers × 128 (GQA 4/2, dynamic-NTK rope_scaling as InternVL3 ships it).
/// Dynamic tiles + thumbnail: a 224×224 image is 2×2 tiles + thumbnail = 80 tokens. The tile budget the benchmark uses
/// is VLMEvalKit's per-dataset max_num (PromptPolicy: 6, OCRBench 24), not max_dynamic_patch, exactly as for real InternVL.
/// </summary>
public static class EmbeddedInternVL
{
    public const int VocabSize = 1024;
    public const int TileSize = 112;

    public static readonly IReadOnlyList<string> AddedTokens =
        ["<|endoftext|>", "<|im_start|>", InternVL3Prompt.EndOfTurn, InternVL3Prompt.ImageStart, InternVL3Prompt.ImageEnd, InternVL3Prompt.ImageContext];

    /// <summary>The texts the vocabulary learns from: each templated prompt cut at its special tokens and image placeholders, and the answers.</summary>
    public static IEnumerable<string> Corpus(IEnumerable<TrainingExample> examples) =>
        examples.SelectMany(e => EmbeddedTokenizer.CutAtSpecialTokens(InternVL3Prompt.ChatTemplate(InternVL3Prompt.UserContent(e.Plan.Message)),
            [.. AddedTokens, InternVL3Prompt.ImagePlaceholder]).Append(e.Answer));

    public static void WriteFolder(string folder, IEnumerable<string> corpus)
    {
        Directory.CreateDirectory(folder);
        string tokenizerJson = TokenizerBuilder.ByteLevelBpe(corpus, VocabSize, AddedTokens);
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), tokenizerJson);
        var ids = EmbeddedTokenizer.AddedTokenIds(tokenizerJson);
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray("InternVLChatModel"),
            ["downsample_ratio"] = 0.5,
            ["dynamic_image_size"] = true,
            ["force_image_size"] = TileSize,
            ["llm_config"] = new JsonObject
            {
                ["architectures"] = new JsonArray("Qwen2ForCausalLM"),
                ["attention_dropout"] = 0.0,
                ["bos_token_id"] = ids["<|endoftext|>"],
                ["eos_token_id"] = ids[InternVL3Prompt.EndOfTurn],
                ["hidden_act"] = "silu",
                ["hidden_size"] = 128,
                ["initializer_range"] = 0.02,
                ["intermediate_size"] = 320,
                ["max_position_embeddings"] = 32768,
                ["max_window_layers"] = 3,
                ["model_type"] = "qwen2",
                ["num_attention_heads"] = 4,
                ["num_hidden_layers"] = 3,
                ["num_key_value_heads"] = 2,
                ["rms_norm_eps"] = 1e-6,
                ["rope_scaling"] = new JsonObject { ["factor"] = 2.0, ["rope_type"] = "dynamic", ["type"] = "dynamic" },
                ["rope_theta"] = 1000000.0,
                ["sliding_window"] = null,
                ["tie_word_embeddings"] = false,
                ["torch_dtype"] = "float32",
                ["use_sliding_window"] = false,
                ["vocab_size"] = VocabSize,
            },
            ["max_dynamic_patch"] = 4,
            ["min_dynamic_patch"] = 1,
            ["model_type"] = "internvl_chat",
            ["pad2square"] = false,
            ["ps_version"] = "v2",
            ["select_layer"] = -1,
            ["template"] = "internvl2_5",
            ["tie_word_embeddings"] = false,
            ["torch_dtype"] = "float32",
            ["transformers_version"] = "4.50.0",
            ["use_backbone_lora"] = 0,
            ["use_llm_lora"] = 0,
            ["use_thumbnail"] = true,
            ["vision_config"] = new JsonObject
            {
                ["architectures"] = new JsonArray("InternVisionModel"),
                ["attention_dropout"] = 0.0,
                ["drop_path_rate"] = 0.0,
                ["dropout"] = 0.0,
                ["hidden_act"] = "gelu",
                ["hidden_size"] = 96,
                ["image_size"] = TileSize,
                ["initializer_factor"] = 0.1,
                ["initializer_range"] = 0.02,
                ["intermediate_size"] = 256,
                ["layer_norm_eps"] = 1e-6,
                ["model_type"] = "intern_vit_6b",
                ["norm_type"] = "layer_norm",
                ["num_attention_heads"] = 4,
                ["num_channels"] = 3,
                ["num_hidden_layers"] = 4,
                ["patch_size"] = 14,
                ["qk_normalization"] = false,
                ["qkv_bias"] = true,
                ["torch_dtype"] = "float32",
                ["use_flash_attn"] = false,
            },
        };
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString(EmbeddedTokenizer.Indented));
        var preprocessor = new JsonObject
        {
            ["crop_size"] = TileSize, ["do_center_crop"] = true, ["do_normalize"] = true, ["do_resize"] = true,
            ["feature_extractor_type"] = "CLIPFeatureExtractor",
            ["image_mean"] = new JsonArray(0.485, 0.456, 0.406),
            ["image_std"] = new JsonArray(0.229, 0.224, 0.225),
            ["resample"] = 3, ["size"] = TileSize,
        };
        File.WriteAllText(Path.Combine(folder, "preprocessor_config.json"), preprocessor.ToJsonString(EmbeddedTokenizer.Indented));
        var tokenizerConfig = new JsonObject
        {
            ["add_prefix_space"] = false, ["bos_token"] = null, ["eos_token"] = InternVL3Prompt.EndOfTurn, ["pad_token"] = "<|endoftext|>",
            ["errors"] = "replace", ["model_max_length"] = 16384, ["split_special_tokens"] = false, ["tokenizer_class"] = "Qwen2Tokenizer",
        };
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), tokenizerConfig.ToJsonString(EmbeddedTokenizer.Indented));
    }
}
