using System.Text.Json.Nodes;
using UniPrune.Engine.Synthetic;

namespace UniPrune.Engine.Training;

/// <summary>
/// The embedded LLaVA-1.5-style model's files in llava-hf layout: config.json with the real keys, preprocessor_config.json
/// as CLIPImageProcessor ships it, and a LLaMA-2-style tokenizer.json (+ tokenizer_config.json) learned from the prompts.
/// 112-pixel images and 14-pixel patches give the fixed 8×8 grid of 64 visual tokens.
/// </summary>
public static class EmbeddedLlava
{
    public const int ImageSize = 112;
    public const int PatchSize = 14;
    public const int VocabSize = 1024;
    public static readonly IReadOnlyList<string> AddedTokens = ["<image>", "<pad>"];

    public static void WriteFolder(string folder, IEnumerable<string> corpus)
    {
        Directory.CreateDirectory(folder);
        string tokenizerJson = TokenizerBuilder.SentencePieceBpe(corpus, VocabSize, AddedTokens);
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), tokenizerJson);
        int imageToken = VocabSize - 2, padToken = VocabSize - 1;
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray("LlavaForConditionalGeneration"),
            ["ignore_index"] = -100,
            ["image_token_index"] = imageToken,
            ["image_seq_length"] = (ImageSize / PatchSize) * (ImageSize / PatchSize),
            ["model_type"] = "llava",
            ["pad_token_id"] = padToken,
            ["projector_hidden_act"] = "gelu",
            ["text_config"] = new JsonObject
            {
                ["architectures"] = new JsonArray("LlamaForCausalLM"),
                ["hidden_size"] = 128,
                ["intermediate_size"] = 320,
                ["num_attention_heads"] = 4,
                ["num_hidden_layers"] = 3,
                ["num_key_value_heads"] = 4,
                ["hidden_act"] = "silu",
                ["rope_theta"] = 10000.0,
                ["max_position_embeddings"] = 4096,
                ["model_type"] = "llama",
                ["rms_norm_eps"] = 1e-5,
                ["bos_token_id"] = 1,
                ["eos_token_id"] = 2,
                ["torch_dtype"] = "float32",
                ["vocab_size"] = VocabSize,
            },
            ["tie_word_embeddings"] = false,
            ["torch_dtype"] = "float32",
            ["transformers_version"] = "4.50.0",
            ["vision_config"] = new JsonObject
            {
                ["hidden_size"] = 96,
                ["image_size"] = ImageSize,
                ["intermediate_size"] = 256,
                ["model_type"] = "clip_vision_model",
                ["num_attention_heads"] = 4,
                ["num_hidden_layers"] = 4,
                ["patch_size"] = PatchSize,
                ["projection_dim"] = 64,
                ["hidden_act"] = "quick_gelu",
                ["layer_norm_eps"] = 1e-5,
            },
            ["vision_feature_layer"] = -2,
            ["vision_feature_select_strategy"] = "default",
            ["vocab_size"] = VocabSize,
        };
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString(Indented));
        var preprocessor = new JsonObject
        {
            ["crop_size"] = new JsonObject { ["height"] = ImageSize, ["width"] = ImageSize },
            ["do_center_crop"] = true, ["do_convert_rgb"] = true, ["do_normalize"] = true, ["do_rescale"] = true, ["do_resize"] = true,
            ["image_mean"] = new JsonArray(0.48145466, 0.4578275, 0.40821073),
            ["image_processor_type"] = "CLIPImageProcessor",
            ["image_std"] = new JsonArray(0.26862954, 0.26130258, 0.27577711),
            ["processor_class"] = "LlavaProcessor",
            ["resample"] = 3,
            ["rescale_factor"] = 0.00392156862745098,
            ["size"] = new JsonObject { ["shortest_edge"] = ImageSize },
        };
        File.WriteAllText(Path.Combine(folder, "preprocessor_config.json"), preprocessor.ToJsonString(Indented));
        var tokenizerConfig = new JsonObject
        {
            ["add_bos_token"] = true, ["add_eos_token"] = false,
            ["bos_token"] = "<s>", ["eos_token"] = "</s>", ["unk_token"] = "<unk>", ["pad_token"] = "<pad>",
            ["model_max_length"] = 4096, ["padding_side"] = "left", ["tokenizer_class"] = "LlamaTokenizer",
            ["legacy"] = false,
        };
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), tokenizerConfig.ToJsonString(Indented));
    }

    private static readonly System.Text.Json.JsonSerializerOptions Indented = new() { WriteIndented = true };
}
