using System.Text.Json;
using System.Text.Json.Nodes;
using UniPrune.Engine.Core;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.Qwen25VL;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.Qwen25VL;

/// <summary>Loading real-layout checkpoints: sharded index, transformers ≥ 4.52 names, tied lm_head, strictness.</summary>
public class Qwen25VLCheckpointTests
{
    private static Dictionary<string, Tensor> GoldenWeights()
    {
        using var checkpoint = Checkpoint.Open(TestPaths.Golden("qwen2_5_vl"));
        return checkpoint.Keys.ToDictionary(k => k, k => checkpoint.Read(k));
    }

    /// <summary>Writes <paramref name="weights"/> as two shards plus model.safetensors.index.json, with the golden config (optionally edited).</summary>
    private static string WriteSharded(Dictionary<string, Tensor> weights, Action<JsonObject>? editConfig = null)
    {
        string dir = TestPaths.NewTempDir();
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.Golden("qwen2_5_vl"), "config.json")))!.AsObject();
        editConfig?.Invoke(config);
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        var names = weights.Keys.Order(StringComparer.Ordinal).ToList();
        var map = new JsonObject();
        for (int shard = 0; shard < 2; shard++)
        {
            string file = $"model-0000{shard + 1}-of-00002.safetensors";
            var part = names.Where((_, i) => i % 2 == shard).ToDictionary(n => n, n => weights[n]);
            SafetensorsWriter.Write(Path.Combine(dir, file), part, new Dictionary<string, string> { ["format"] = "pt" });
            foreach (var n in part.Keys) map[n] = file;
        }
        File.WriteAllText(Path.Combine(dir, Checkpoint.IndexFileName), new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = map }.ToJsonString());
        return dir;
    }

    private static float[] PromptLogits(Qwen25VLModel model)
    {
        using var golden = new Qwen25VLGolden();
        using var image = golden.Encode(model, VisionExtras.None);
        using var run = model.RunPrompt(golden.InputIds(), [image], null, 1, new HashSet<long>(), keepStepLogits: true);
        return run.Greedy.StepLogits![0].data<float>().ToArray();
    }

    [Fact]
    public void ShardedCheckpointWithNewTransformersNamesGivesTheSameModel()
    {
        var weights = GoldenWeights();
        var renamed = weights.ToDictionary(
            kv => kv.Key.StartsWith("visual.") ? "model." + kv.Key : kv.Key.StartsWith("model.") ? "model.language_model." + kv.Key["model.".Length..] : kv.Key,
            kv => kv.Value);
        string dir = WriteSharded(renamed);
        using var original = Qwen25VLModel.Load(TestPaths.Golden("qwen2_5_vl"), ModelLoadOptions.Cpu());
        using var resaved = Qwen25VLModel.Load(dir, ModelLoadOptions.Cpu());
        Assert.Equal(PromptLogits(original), PromptLogits(resaved));
    }

    [Fact]
    public void TiedEmbeddingsNeedNoLmHeadTensorAndReuseTheEmbeddingTable()
    {
        var weights = GoldenWeights();
        weights.Remove("lm_head.weight");
        string tied = WriteSharded(weights, c => c["tie_word_embeddings"] = true);
        // The same model written untied, with lm_head = embed_tokens, must give identical logits.
        var untiedWeights = GoldenWeights();
        untiedWeights["lm_head.weight"] = untiedWeights["model.embed_tokens.weight"].clone();
        string untied = WriteSharded(untiedWeights);

        using var tiedModel = Qwen25VLModel.Load(tied, ModelLoadOptions.Cpu());
        Assert.DoesNotContain(tiedModel.ParameterShapes(), p => p.Name == "lm_head.weight");
        using var untiedModel = Qwen25VLModel.Load(untied, ModelLoadOptions.Cpu());
        Assert.Equal(PromptLogits(untiedModel), PromptLogits(tiedModel));
    }

    [Fact]
    public void MissingTensorIsNamed()
    {
        var weights = GoldenWeights();
        weights.Remove("visual.blocks.2.attn.qkv.bias");
        var e = Assert.Throws<CheckpointFormatException>(() => Qwen25VLModel.Load(WriteSharded(weights), ModelLoadOptions.Cpu()).Dispose());
        Assert.Contains("visual.blocks.2.attn.qkv.bias", e.Message);
    }

    [Fact]
    public void UnexpectedTensorIsNamed()
    {
        var weights = GoldenWeights();
        weights["visual.blocks.2.attn.extra"] = zeros(3);
        var e = Assert.Throws<CheckpointFormatException>(() => Qwen25VLModel.Load(WriteSharded(weights), ModelLoadOptions.Cpu()).Dispose());
        Assert.Contains("visual.blocks.2.attn.extra", e.Message);
    }

    [Fact]
    public void ShapeMismatchAgainstTheConfigIsNamed()
    {
        var weights = GoldenWeights();
        string dir = WriteSharded(weights, c => c["intermediate_size"] = 96);
        var e = Assert.Throws<CheckpointFormatException>(() => Qwen25VLModel.Load(dir, ModelLoadOptions.Cpu()).Dispose());
        Assert.Contains("model.layers.0.mlp.gate_proj.weight", e.Message);
        Assert.Contains("[128, 64]", e.Message);
    }

    [Fact]
    public void RotaryBuffersInTheFileAreIgnored()
    {
        var weights = GoldenWeights();
        weights["model.layers.0.self_attn.rotary_emb.inv_freq"] = ones(16);
        using var model = Qwen25VLModel.Load(WriteSharded(weights), ModelLoadOptions.Cpu());
        Assert.NotEmpty(model.ParameterShapes());
    }
}
