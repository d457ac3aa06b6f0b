using System.Text.Json.Nodes;
using UniPrune.Engine.Core;
using UniPrune.Engine.Models.InternVL3;

namespace UniPrune.Engine.Tests.Models.InternVL3;

public class InternVL3ConfigTests
{
    private static string GoldenConfig => Path.Combine(TestPaths.Golden("internvl3"), "config.json");

    [Fact]
    public void GoldenConfigReadsTheTinySizes()
    {
        var c = InternVL3Config.Load(GoldenConfig);
        Assert.Equal((64, 4, 4, 14, 112), (c.Vision.HiddenSize, c.Vision.NumHiddenLayers, c.Vision.NumAttentionHeads, c.Vision.PatchSize, c.TileSize));
        Assert.Equal(InternVitNorm.LayerNorm, c.Vision.NormType);
        Assert.Equal((true, false), (c.Vision.QkvBias, c.Vision.QkNormalization));
        Assert.Equal(16, c.ImageTokensPerTile);
        Assert.Equal(256, c.ProjectorInputSize);
        Assert.Equal((64, 4, 4, 2, 1031), (c.Language.HiddenSize, c.Language.NumHiddenLayers, c.Language.NumAttentionHeads, c.Language.NumKeyValueHeads, c.Language.VocabSize));
        Assert.Equal(1e6, c.Language.RopeTheta);
        Assert.Equal(2.0, c.Language.DynamicRopeFactor);
        var sixB = InternVL3Config.Load(Path.Combine(TestPaths.Golden("internvl3_vit6b_style"), "config.json"));
        Assert.Equal((InternVitNorm.RmsNorm, false, true), (sixB.Vision.NormType, sixB.Vision.QkvBias, sixB.Vision.QkNormalization));
    }

    [Theory]
    [InlineData("vision_config.hidden_size")]
    [InlineData("vision_config.qk_normalization")]
    [InlineData("vision_config.norm_type")]
    [InlineData("llm_config.num_key_value_heads")]
    [InlineData("llm_config.rope_theta")]
    [InlineData("downsample_ratio")]
    [InlineData("select_layer")]
    [InlineData("ps_version")]
    [InlineData("vision_config")]
    public void AMissingKeyNamesTheKeyAndTheFile(string keyPath)
    {
        var json = JsonNode.Parse(File.ReadAllText(GoldenConfig))!.AsObject();
        var parts = keyPath.Split('.');
        var owner = parts.Length == 1 ? json : json[parts[0]]!.AsObject();
        Assert.True(owner.Remove(parts[^1]));
        string path = Path.Combine(TestPaths.NewTempDir(), "config.json");
        File.WriteAllText(path, json.ToJsonString());
        var e = Assert.Throws<CheckpointFormatException>(() => InternVL3Config.Load(path));
        Assert.Contains($"'{keyPath}'", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Theory]
    [InlineData("model_type", "\"llava\"", "model_type")]
    [InlineData("template", "\"internlm2-chat\"", "template")]
    [InlineData("ps_version", "\"v3\"", "ps_version")]
    [InlineData("downsample_ratio", "0.25", "downsample_ratio")]
    public void UnsupportedValuesFailLoudly(string key, string value, string named)
    {
        var json = JsonNode.Parse(File.ReadAllText(GoldenConfig))!.AsObject();
        json[key] = JsonNode.Parse(value);
        string path = Path.Combine(TestPaths.NewTempDir(), "config.json");
        File.WriteAllText(path, json.ToJsonString());
        var e = Assert.Throws<CheckpointFormatException>(() => InternVL3Config.Load(path));
        Assert.Contains(named, e.Message);
    }
}
