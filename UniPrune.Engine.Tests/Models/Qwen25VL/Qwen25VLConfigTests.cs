using UniPrune.Engine.Core;
using UniPrune.Engine.Models.Qwen25VL;

namespace UniPrune.Engine.Tests.Models.Qwen25VL;

public class Qwen25VLConfigTests
{
    internal static string RealConfig(string size) =>
        Path.Combine(TestPaths.RepoRoot, "UniPrune.Engine.Tests", "Models", "Qwen25VL", "Configs", $"qwen2_5_vl_{size}_instruct.config.json");

    [Fact]
    public void GoldenConfigReadsTinySizes()
    {
        var c = Qwen25VLConfig.Load(Path.Combine(TestPaths.Golden("qwen2_5_vl"), "config.json"));
        Assert.Equal((64, 4, 4, 2, 128, 1024), (c.Text.HiddenSize, c.Text.NumLayers, c.Text.NumHeads, c.Text.NumKeyValueHeads, c.Text.IntermediateSize, c.Text.VocabSize));
        Assert.Equal([2, 3, 3], c.Text.MropeSection);
        Assert.False(c.Text.TieWordEmbeddings);
        Assert.Equal((4, 64, 4, 96, 64), (c.Vision.Depth, c.Vision.HiddenSize, c.Vision.NumHeads, c.Vision.IntermediateSize, c.Vision.OutHiddenSize));
        Assert.Equal([1, 3], c.Vision.FullAttentionBlockIndexes);
        Assert.Equal(4, c.Vision.WindowCells);
        Assert.Equal((1012L, 1009L, 1010L), (c.Tokens.ImageToken, c.Tokens.VisionStart, c.Tokens.VisionEnd));
        Assert.Equal([1002L, 1000L], c.Tokens.StopTokens);
        Assert.Empty(c.CompletedVisionKeys);
    }

    [Fact]
    public void PartialHubVisionConfigIsCompletedFromTheDocumentedDefaults()
    {
        var c = Qwen25VLConfig.Load(RealConfig("3b"));
        Assert.Equal((2048, 36, 16, 2, 11008, 151936), (c.Text.HiddenSize, c.Text.NumLayers, c.Text.NumHeads, c.Text.NumKeyValueHeads, c.Text.IntermediateSize, c.Text.VocabSize));
        Assert.True(c.Text.TieWordEmbeddings);
        var v = c.Vision;
        Assert.Equal((32, 1280, 16, 80, 3420, 14, 2, 2, 112, 2048, 3), (v.Depth, v.HiddenSize, v.NumHeads, v.HeadDim, v.IntermediateSize, v.PatchSize, v.TemporalPatchSize, v.SpatialMergeSize, v.WindowSize, v.OutHiddenSize, v.InChannels));
        Assert.Equal([7, 15, 23, 31], v.FullAttentionBlockIndexes);
        Assert.Equal(["depth", "fullatt_block_indexes", "hidden_act", "intermediate_size", "num_heads", "spatial_merge_size", "temporal_patch_size", "window_size"],
            c.CompletedVisionKeys.Order(StringComparer.Ordinal));
        Assert.Equal([151645L, 151643L], c.Tokens.StopTokens);
    }

    [Fact]
    public void SevenBConfigNeedsNoCompletion()
    {
        var c = Qwen25VLConfig.Load(RealConfig("7b"));
        Assert.Equal((3584, 28, 28, 4, 18944, 152064, false), (c.Text.HiddenSize, c.Text.NumLayers, c.Text.NumHeads, c.Text.NumKeyValueHeads, c.Text.IntermediateSize, c.Text.VocabSize, c.Text.TieWordEmbeddings));
        Assert.Equal(3584, c.Vision.OutHiddenSize);
        Assert.Empty(c.CompletedVisionKeys);
    }

    [Theory]
    [InlineData("hidden_size")]
    [InlineData("num_hidden_layers")]
    [InlineData("num_key_value_heads")]
    [InlineData("intermediate_size")]
    [InlineData("vocab_size")]
    [InlineData("tie_word_embeddings")]
    public void MissingLlmKeyNamesKeyAndFile(string key)
    {
        string path = Path.Combine(TestPaths.NewTempDir(), "config.json");
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(RealConfig("7b")))!.AsObject();
        json.Remove(key);
        File.WriteAllText(path, json.ToJsonString());
        var e = Assert.Throws<CheckpointFormatException>(() => Qwen25VLConfig.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains($"'{key}'", e.Message);
    }

    [Fact]
    public void TextConfigSectionIsReadWhenPresent()
    {
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(RealConfig("7b")))!.AsObject();
        var text = new System.Text.Json.Nodes.JsonObject();
        foreach (var key in new[] { "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "vocab_size", "rms_norm_eps", "rope_theta", "hidden_act", "rope_scaling" })
        {
            text[key] = json[key]!.DeepClone();
            json.Remove(key);
        }
        json["text_config"] = text;
        var c = Qwen25VLConfig.FromJson(JsonConfig.Parse(json.ToJsonString(), "resaved.json"));
        Assert.Equal((3584, 28), (c.Text.HiddenSize, c.Text.NumLayers));
    }

    [Fact]
    public void WrongMropeSectionIsRejected()
    {
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(RealConfig("7b")))!.AsObject();
        json["rope_scaling"]!["mrope_section"] = new System.Text.Json.Nodes.JsonArray(16, 24, 16);
        var e = Assert.Throws<CheckpointFormatException>(() => Qwen25VLConfig.FromJson(JsonConfig.Parse(json.ToJsonString(), "bad.json")));
        Assert.Contains("mrope_section", e.Message);
        Assert.Contains("head_dim/2 = 64", e.Message);
    }

    [Fact]
    public void MergerWidthMustEqualTheLlmWidth()
    {
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(RealConfig("3b")))!.AsObject();
        json["vision_config"]!["out_hidden_size"] = 3584;
        var e = Assert.Throws<CheckpointFormatException>(() => Qwen25VLConfig.FromJson(JsonConfig.Parse(json.ToJsonString(), "bad.json")));
        Assert.Contains("out_hidden_size", e.Message);
    }

    [Fact]
    public void SlidingWindowAttentionIsRefused()
    {
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(RealConfig("7b")))!.AsObject();
        json["use_sliding_window"] = true;
        var e = Assert.Throws<CheckpointFormatException>(() => Qwen25VLConfig.FromJson(JsonConfig.Parse(json.ToJsonString(), "sliding.json")));
        Assert.Contains("use_sliding_window", e.Message);
    }
}
