using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using UniPrune.Engine.Models.Qwen25VL;
using UniPrune.Engine.Synthetic;

namespace UniPrune.Engine.Training;

/// <summary>
/// The embedded Qwen2.5-VL-style model's files in the hub layout: config.json with the keys Qwen25VLConfig reads (the
/// vision_config written in full, so nothing is completed from class defaults), Qwen2VLImageProcessor's
/// preprocessor_config.json, and a Qwen2 byte-level tokenizer.json learned from the prompts plus the chat and vision
/// special tokens. Sizes: LLM 3 layers × 128 (GQA 4/2, M-RoPE section [4,6,6], tied embeddings as in the 3B), ViT 4
/// blocks × 96. window_size 56 = 2×2 merged cells, so a 112-pixel image has 4 windows and a 224-pixel one 16; blocks 1
/// and 3 (the last) attend over the whole image. min/max pixels 16·28² … 64·28²: 112–224-pixel images give 16–64 tokens.
/// </summary>
public static class EmbeddedQwen
{
    public const int VocabSize = 1024;
    public const int MinPixels = 16 * 28 * 28;
    public const int MaxPixels = 64 * 28 * 28;

    /// <summary>Qwen2's special tokens the prompts and the model use, in the hub tokenizer's order.</summary>
    public static readonly IReadOnlyList<string> AddedTokens =
    [
        "<|endoftext|>", "<|im_start|>", Qwen25VLPrompt.ImEnd, Qwen25VLPrompt.VisionStart, Qwen25VLPrompt.VisionEnd,
        "<|vision_pad|>", Qwen25VLPrompt.ImagePad, "<|video_pad|>",
    ];

    /// <summary>The texts the vocabulary learns from: each rendered prompt cut at its special tokens (added tokens are never learned pieces), and the answers.</summary>
    public static IEnumerable<string> Corpus(IEnumerable<TrainingExample> examples) =>
        examples.SelectMany(e => EmbeddedTokenizer.CutAtSpecialTokens(Qwen25VLPrompt.Render(e.Plan.Message), AddedTokens).Append(e.Answer));

    public static void WriteFolder(string folder, IEnumerable<string> corpus)
    {
        Directory.CreateDirectory(folder);
        string tokenizerJson = TokenizerBuilder.ByteLevelBpe(corpus, VocabSize, AddedTokens);
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), tokenizerJson);
        var ids = EmbeddedTokenizer.AddedTokenIds(tokenizerJson);
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray("Qwen2_5_VLForConditionalGeneration"),
            ["attention_dropout"] = 0.0,
            ["bos_token_id"] = ids["<|endoftext|>"],
            ["eos_token_id"] = ids[Qwen25VLPrompt.ImEnd],
            ["vision_start_token_id"] = ids[Qwen25VLPrompt.VisionStart],
            ["vision_end_token_id"] = ids[Qwen25VLPrompt.VisionEnd],
            ["vision_token_id"] = ids["<|vision_pad|>"],
            ["image_token_id"] = ids[Qwen25VLPrompt.ImagePad],
            ["video_token_id"] = ids["<|video_pad|>"],
            ["hidden_act"] = "silu",
            ["hidden_size"] = 128,
            ["initializer_range"] = 0.02,
            ["intermediate_size"] = 320,
            ["max_position_embeddings"] = 128000,
            ["max_window_layers"] = 3,
            ["model_type"] = Qwen25VLConfig.ModelType,
            ["num_attention_heads"] = 4,
            ["num_hidden_layers"] = 3,
            ["num_key_value_heads"] = 2,
            ["rms_norm_eps"] = 1e-6,
            ["rope_theta"] = 1000000.0,
            ["rope_scaling"] = new JsonObject { ["type"] = "mrope", ["mrope_section"] = new JsonArray(4, 6, 6) },
            ["sliding_window"] = 32768,
            ["tie_word_embeddings"] = true,
            ["torch_dtype"] = "float32",
            ["transformers_version"] = "4.50.0",
            ["use_cache"] = true,
            ["use_sliding_window"] = false,
            ["vision_config"] = new JsonObject
            {
                ["depth"] = 4,
                ["hidden_act"] = "silu",
                ["hidden_size"] = 96,
                ["intermediate_size"] = 192,
                ["num_heads"] = 4,
                ["in_chans"] = 3,
                ["out_hidden_size"] = 128,
                ["patch_size"] = 14,
                ["spatial_merge_size"] = 2,
                ["spatial_patch_size"] = 14,
                ["window_size"] = 56,
                ["fullatt_block_indexes"] = new JsonArray(1, 3),
                ["tokens_per_second"] = 2,
                ["temporal_patch_size"] = 2,
            },
            ["vocab_size"] = VocabSize,
        };
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString(EmbeddedTokenizer.Indented));
        var preprocessor = new JsonObject
        {
            ["min_pixels"] = MinPixels,
            ["max_pixels"] = MaxPixels,
            ["patch_size"] = 14,
            ["temporal_patch_size"] = 2,
            ["merge_size"] = 2,
            ["image_mean"] = new JsonArray(0.48145466, 0.4578275, 0.40821073),
            ["image_std"] = new JsonArray(0.26862954, 0.26130258, 0.27577711),
            ["image_processor_type"] = "Qwen2VLImageProcessor",
            ["processor_class"] = "Qwen2_5_VLProcessor",
        };
        File.WriteAllText(Path.Combine(folder, "preprocessor_config.json"), preprocessor.ToJsonString(EmbeddedTokenizer.Indented));
        var tokenizerConfig = new JsonObject
        {
            ["add_prefix_space"] = false, ["bos_token"] = null, ["eos_token"] = Qwen25VLPrompt.ImEnd, ["pad_token"] = "<|endoftext|>",
            ["errors"] = "replace", ["model_max_length"] = 131072, ["split_special_tokens"] = false, ["tokenizer_class"] = "Qwen2Tokenizer",
        };
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), tokenizerConfig.ToJsonString(EmbeddedTokenizer.Indented));
    }
}

/// <summary>What the embedded folder writers share about their learned tokenizers.</summary>
public static class EmbeddedTokenizer
{
    internal static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>The pieces of <paramref name="text"/> between special tokens (which tokenizers match before pre-tokenising).</summary>
    public static IEnumerable<string> CutAtSpecialTokens(string text, IReadOnlyList<string> specials) =>
        Regex.Split(text, string.Join("|", specials.Select(Regex.Escape))).Where(p => p.Length > 0);

    /// <summary>Ids of the added tokens as the written tokenizer.json assigns them (after the learned pieces, however many were learned).</summary>
    public static IReadOnlyDictionary<string, long> AddedTokenIds(string tokenizerJson)
    {
        var root = JsonNode.Parse(tokenizerJson)!;
        return root["added_tokens"]!.AsArray().ToDictionary(t => t!["content"]!.GetValue<string>(), t => (long)t!["id"]!.GetValue<int>());
    }
}
