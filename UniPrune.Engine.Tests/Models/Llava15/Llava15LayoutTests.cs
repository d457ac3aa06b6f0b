using System.Text.Json.Nodes;
using UniPrune.Engine.Core;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.Common;
using UniPrune.Engine.Models.Llava15;
using UniPrune.Engine.Tests.Models.Common;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.Llava15;

/// <summary>
/// The other checkpoint layouts, made from the golden llava-hf weights by renaming: they must load strictly and give the
/// reference logits, and malformed checkpoints must fail saying which tensor is wrong.
/// </summary>
public sealed class Llava15LayoutTests(ITestOutputHelper log)
{
    private static string Golden => TestPaths.Golden("llava");

    private static Dictionary<string, Tensor> GoldenWeights()
    {
        using var checkpoint = Checkpoint.Open(Golden);
        return checkpoint.Keys.ToDictionary(k => k, k => checkpoint.Read(k));
    }

    private static long[] GoldenIds()
    {
        using var inputs = SafetensorsFile.Open(Path.Combine(Golden, "inputs.safetensors"));
        return inputs.Read("input_ids").reshape(-1).data<long>().ToArray();
    }

    /// <summary>liuhaotian layout: flat LLaMA config + mm_* keys, LLM and projector in one file, CLIP (with its text tower) in another.</summary>
    private static string WriteOriginalLayout()
    {
        string dir = TestPaths.NewTempDir();
        var hf = JsonNode.Parse(File.ReadAllText(Path.Combine(Golden, "config.json")))!.AsObject();
        var config = JsonNode.Parse(hf["text_config"]!.ToJsonString())!.AsObject();
        config["architectures"] = new JsonArray("LlavaLlamaForCausalLM");
        config["model_type"] = "llava";
        config["mm_vision_tower"] = "openai/clip-vit-large-patch14-336";
        config["mm_hidden_size"] = hf["vision_config"]!["hidden_size"]!.GetValue<int>();
        config["mm_projector_type"] = "mlp2x_gelu";
        config["mm_vision_select_layer"] = -2;
        config["mm_vision_select_feature"] = "patch";
        config["image_aspect_ratio"] = "pad";
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        string clipDir = Path.Combine(dir, "vision_tower");
        Directory.CreateDirectory(clipDir);
        File.WriteAllText(Path.Combine(clipDir, "config.json"), new JsonObject { ["model_type"] = "clip", ["vision_config"] = JsonNode.Parse(hf["vision_config"]!.ToJsonString()) }.ToJsonString());

        var weights = GoldenWeights();
        var llm = new Dictionary<string, Tensor>();
        var clip = new Dictionary<string, Tensor>
        {
            ["text_model.embeddings.token_embedding.weight"] = zeros(8, 4),   // CLIP's text tower: present, unused
            ["logit_scale"] = zeros(1),
            ["vision_model.embeddings.position_ids"] = arange(37, dtype: ScalarType.Int64).unsqueeze(0),
        };
        foreach (var (key, value) in weights)
        {
            if (key.StartsWith("vision_tower.")) clip[key["vision_tower.".Length..]] = value;
            else if (key.StartsWith("language_model.")) llm[key["language_model.".Length..]] = value;
            else llm[key.Replace("multi_modal_projector.linear_1.", "model.mm_projector.0.").Replace("multi_modal_projector.linear_2.", "model.mm_projector.2.")] = value;
        }
        llm["model.layers.0.self_attn.rotary_emb.inv_freq"] = zeros(8);   // old checkpoints carry these buffers
        SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), llm);
        SafetensorsWriter.Write(Path.Combine(clipDir, "model.safetensors"), clip);
        return dir;
    }

    private static string WriteHfVariant(Func<string, string?> rename, Dictionary<string, Tensor>? extra = null, Func<string, Tensor, Tensor>? change = null)
    {
        string dir = TestPaths.NewTempDir();
        foreach (var f in new[] { "config.json", "preprocessor_config.json" }) File.Copy(Path.Combine(Golden, f), Path.Combine(dir, f));
        var renamed = new Dictionary<string, Tensor>();
        foreach (var (key, value) in GoldenWeights())
            if (rename(key) is { } name) renamed[name] = change?.Invoke(key, value) ?? value;
        foreach (var (k, v) in extra ?? []) renamed[k] = v;
        SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), renamed);
        return dir;
    }

    private void AssertReferenceLogitsAndTokens(Llava15Model model, IReadOnlyList<long> ids, string what)
    {
        using var outputs = SafetensorsFile.Open(Path.Combine(Golden, "outputs.safetensors"));
        using var inputs = SafetensorsFile.Open(Path.Combine(Golden, "inputs.safetensors"));
        using var image = model.EncodePixels(inputs.Read("pixel_values"), VisionExtras.None);
        using var run = model.RunPrompt(ids, [image], null, 8, new HashSet<long>(), LogitsSelection.All);
        GoldenAssert.Close(outputs.Read("logits"), run.Prefill.Logits!, $"{what} logits", log);
        GoldenAssert.Equal(outputs.Read("generated_token_ids"), run.Greedy.Tokens, $"{what} tokens");
    }

    [Fact]
    public void Original_layout_with_separate_clip_loads_strictly_and_a_sentinel_prompt_gives_the_reference_logits()
    {
        string dir = WriteOriginalLayout();
        using var model = Llava15Model.Load(dir, ModelLoadOptions.Cpu());
        Assert.Equal(LlavaCheckpointLayout.Original, model.Config.Layout);
        // LLaVA's own tokenisation: one −200 where llava-hf has 36 placeholder ids.
        var ids = GoldenIds();
        int first = Array.IndexOf(ids, 1000L);
        var sentinelIds = ids[..first].Append(Llava15Config.ImageSentinel).Concat(ids[(first + 36)..]).ToArray();
        AssertReferenceLogitsAndTokens(model, sentinelIds, "original layout");
    }

    [Fact]
    public void Original_layout_truncates_the_spliced_prompt_to_tokenizer_model_max_length()
    {
        string dir = WriteOriginalLayout();
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!.AsObject();
        config["tokenizer_model_max_length"] = 20;   // cuts inside the image (visual rows 5..40)
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        using var model = Llava15Model.Load(dir, ModelLoadOptions.Cpu());
        using var inputs = SafetensorsFile.Open(Path.Combine(Golden, "inputs.safetensors"));
        using var image = model.EncodePixels(inputs.Read("pixel_values"), VisionExtras.None);
        var ids = GoldenIds();
        int first = Array.IndexOf(ids, 1000L);
        var sentinelIds = ids[..first].Append(Llava15Config.ImageSentinel).Concat(ids[(first + 36)..]).ToArray();
        using var run = model.RunPrompt(sentinelIds, [image], null, 2, new HashSet<long>());
        Assert.Equal(20, run.PromptTokens);
        Assert.Equal(15, run.VisualTokens);
    }

    [Fact]
    public void A_checkpoint_resaved_by_newer_transformers_loads_to_the_same_model()
    {
        string dir = WriteHfVariant(Llava15CheckpointKeys.NewTransformersKey);
        using var model = Llava15Model.Load(dir, ModelLoadOptions.Cpu());
        AssertReferenceLogitsAndTokens(model, GoldenIds(), "transformers>=4.52 names");
        Assert.Equal(64, model.Identity.WeightsSha256.Length);
        Assert.Equal("llava15", model.Identity.Family);
    }

    [Fact]
    public void Missing_unexpected_and_misshapen_tensors_are_named()
    {
        var missing = Assert.Throws<CheckpointFormatException>(() =>
            Llava15Model.Load(WriteHfVariant(k => k == "language_model.model.norm.weight" ? null : k), ModelLoadOptions.Cpu()));
        Assert.Contains("missing", missing.Message);
        Assert.Contains("language_model.model.norm.weight", missing.Message);

        var unexpected = Assert.Throws<CheckpointFormatException>(() =>
            Llava15Model.Load(WriteHfVariant(k => k, new() { ["language_model.model.extra_head.weight"] = zeros(2) }), ModelLoadOptions.Cpu()));
        Assert.Contains("unexpected", unexpected.Message);
        Assert.Contains("language_model.model.extra_head.weight", unexpected.Message);

        var shape = Assert.Throws<CheckpointFormatException>(() => Llava15Model.Load(
            WriteHfVariant(k => k, change: (k, v) => k == "multi_modal_projector.linear_1.weight" ? v[.., ..32].contiguous() : v), ModelLoadOptions.Cpu()));
        Assert.Contains("multi_modal_projector.linear_1.weight", shape.Message);
        Assert.Contains("[64, 32]", shape.Message);
        Assert.Contains("[64, 64]", shape.Message);
    }

    [Fact]
    public void Placeholders_that_do_not_match_the_images_are_refused()
    {
        using var model = Llava15Model.Load(Golden, ModelLoadOptions.Cpu());
        using var inputs = SafetensorsFile.Open(Path.Combine(Golden, "inputs.safetensors"));
        using var image = model.EncodePixels(inputs.Read("pixel_values"), VisionExtras.None);
        var ids = GoldenIds();
        var shortRun = ids.Where((id, i) => i != Array.IndexOf(ids, 1000L)).ToArray();   // 35 placeholders for 36 tokens
        Assert.Contains("needs 36", Assert.Throws<ArgumentException>(() => model.Splice(shortRun, [image])).Message);
        Assert.Contains("more image placeholders", Assert.Throws<ArgumentException>(() => model.Splice([1, -200, 5, -200], [image])).Message);
        Assert.Contains("has 0 placeholders", Assert.Throws<ArgumentException>(() => model.Splice([1, 5, 6], [image])).Message);
        Assert.Contains("outside the vocabulary", Assert.Throws<ArgumentException>(() => model.Splice([1, 5000, -200], [image])).Message);
        Assert.Throws<ArgumentException>(() => model.EncodePixels(zeros(1, 3, 80, 80)));
    }
}
