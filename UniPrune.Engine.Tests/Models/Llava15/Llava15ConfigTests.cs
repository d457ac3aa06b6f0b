using System.Text.Json.Nodes;
using UniPrune.Engine.Core;
using UniPrune.Engine.Models.Common;
using UniPrune.Engine.Models.Llava15;

namespace UniPrune.Engine.Tests.Models.Llava15;

public sealed class Llava15ConfigTests
{
    private static string Fixture(string name) => Path.Combine(TestPaths.Fixtures, "llava15", name);

    /// <summary>Copies a fixture folder, edits its config.json, and returns the new folder.</summary>
    private static string Edited(string fixture, Action<JsonObject> edit, string file = "config.json")
    {
        string dir = TestPaths.NewTempDir();
        foreach (var f in Directory.GetFiles(Fixture(fixture), "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(dir, Path.GetRelativePath(Fixture(fixture), f));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(f, target);
        }
        string path = Path.Combine(dir, file);
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(json);
        File.WriteAllText(path, json.ToJsonString());
        return dir;
    }

    [Fact]
    public void Llava_hf_7b_config_reads_documented_defaults_and_keeps_eps_1e_5()
    {
        var c = Llava15Config.Load(Fixture("llava-1.5-7b-hf"));
        Assert.Equal(LlavaCheckpointLayout.LlavaHf, c.Layout);
        Assert.Equal((4096, 11008, 32, 32, 32, 128, 32064), (c.Text.HiddenSize, c.Text.IntermediateSize, c.Text.NumLayers, c.Text.NumHeads, c.Text.NumKvHeads, c.Text.HeadDim, c.Text.VocabSize));
        Assert.Equal(1e-5, c.Text.RmsNormEps);
        Assert.Equal(10000.0, c.Text.RopeTheta);
        Assert.Equal(Activation.QuickGelu, c.Vision.HiddenAct);
        Assert.Equal(1e-5, c.Vision.LayerNormEps);
        Assert.Equal(576, c.TokensPerImage);
        Assert.Equal(23, c.VisionLayersToRun);
        Assert.Equal(32000, c.ImageTokenIndex);
        Assert.Equal(Activation.GeluExact, c.ProjectorActivation);
    }

    [Fact]
    public void Original_layout_reads_flat_llama_keys_and_the_clip_folder()
    {
        var c = Llava15Config.Load(Fixture("llava-v1.5-7b"));
        Assert.Equal(LlavaCheckpointLayout.Original, c.Layout);
        Assert.Equal(32000, c.Text.VocabSize);
        Assert.Equal(Llava15Config.ImageSentinel, c.ImageTokenIndex);
        Assert.Equal(23, c.VisionLayersToRun);
        Assert.EndsWith(Path.Combine("vision_tower", "config.json"), c.VisionConfigFile);
        Assert.Equal(2048, c.MaxSplicedLength);
        Assert.Null(Llava15Config.Load(Fixture("llava-1.5-7b-hf")).MaxSplicedLength);
    }

    public static TheoryData<string, string, string> MissingKeys() => new()
    {
        { "llava-1.5-7b-hf", "vision_config.hidden_size", "config.json" },
        { "llava-1.5-7b-hf", "vision_config.patch_size", "config.json" },
        { "llava-1.5-7b-hf", "image_token_index", "config.json" },
        { "llava-1.5-7b-hf", "text_config", "config.json" },
        { "llava-1.5-7b-hf", "text_config.rms_norm_eps", "config.json" },
        { "llava-1.5-7b-hf", "text_config.vocab_size", "config.json" },
        { "llava-v1.5-7b", "hidden_size", "config.json" },
        { "llava-v1.5-7b", "num_hidden_layers", "config.json" },
        { "llava-v1.5-7b", "mm_vision_select_layer", "config.json" },
        { "llava-v1.5-7b", "mm_projector_type", "config.json" },
        { "llava-v1.5-7b", "vision_config.num_attention_heads", "vision_tower/config.json" },
    };

    [Theory, MemberData(nameof(MissingKeys))]
    public void A_missing_key_fails_naming_the_key_and_the_file(string fixture, string keyPath, string file)
    {
        var parts = keyPath.Split('.');
        string dir = Edited(fixture, json =>
        {
            JsonObject node = json;
            foreach (var p in parts[..^1]) node = node[p]!.AsObject();
            Assert.True(node.Remove(parts[^1]), $"fixture has no {keyPath}");
        }, file);
        var e = Assert.Throws<CheckpointFormatException>(() => Llava15Config.Load(dir));
        Assert.Contains($"'{keyPath}'", e.Message);
        Assert.Contains(Path.Combine(dir, file), e.Message);
    }

    [Fact]
    public void Unsupported_or_inconsistent_values_fail_with_the_key_and_expected_form()
    {
        var e1 = Assert.Throws<CheckpointFormatException>(() => Llava15Config.Load(Edited("llava-v1.5-7b", j => j["mm_projector_type"] = "linear")));
        Assert.Contains("mm_projector_type", e1.Message);
        Assert.Contains("mlp2x_gelu", e1.Message);
        var e2 = Assert.Throws<CheckpointFormatException>(() => Llava15Config.Load(Edited("llava-1.5-7b-hf", j => j["vision_feature_select_strategy"] = "cls")));
        Assert.Contains("vision_feature_select_strategy", e2.Message);
        var e3 = Assert.Throws<CheckpointFormatException>(() => Llava15Config.Load(Edited("llava-1.5-7b-hf", j => j["vision_config"]!["hidden_act"] = "relu6")));
        Assert.Contains("vision_config.hidden_act", e3.Message);
        var e4 = Assert.Throws<CheckpointFormatException>(() => Llava15Config.Load(Edited("llava-v1.5-7b", j => j["mm_hidden_size"] = 768)));
        Assert.Contains("mm_hidden_size", e4.Message);
        var e5 = Assert.Throws<CheckpointFormatException>(() => Llava15Config.Load(Edited("llava-1.5-7b-hf", j => j["text_config"]!["hidden_size"] = "big")));
        Assert.Contains("text_config.hidden_size", e5.Message);
        Assert.Contains("integer", e5.Message);
    }

    [Fact]
    public void Original_layout_without_a_clip_folder_says_where_it_looked()
    {
        string dir = Edited("llava-v1.5-7b", _ => { });
        Directory.Delete(Path.Combine(dir, "vision_tower"), recursive: true);
        var e = Assert.Throws<CheckpointFormatException>(() => Llava15Config.Load(dir));
        Assert.Contains("openai/clip-vit-large-patch14-336", e.Message);
        Assert.Contains(Path.Combine(dir, "vision_tower"), e.Message);
    }
}
