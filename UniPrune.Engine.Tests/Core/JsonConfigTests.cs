using UniPrune.Engine.Core;

namespace UniPrune.Engine.Tests.Core;

public class JsonConfigTests
{
    [Fact]
    public void ReadsNestedKeysOfTheGoldenConfig()
    {
        var cfg = JsonConfig.Load(Path.Combine(TestPaths.Golden("llava"), "config.json"));
        Assert.Equal(64, cfg.Section("text_config").Int("hidden_size"));
        Assert.Equal("quick_gelu", cfg.Section("vision_config").String("hidden_act"));
        Assert.Equal(-2, cfg.Int("vision_feature_layer"));
    }

    [Fact]
    public void MissingKeyNamesFileAndFullKeyPath()
    {
        string path = Path.Combine(TestPaths.NewTempDir(), "config.json");
        File.WriteAllText(path, "{\"text_config\": {\"num_hidden_layers\": 4}}");
        var cfg = JsonConfig.Load(path);
        var e = Assert.Throws<CheckpointFormatException>(() => cfg.Section("text_config").Int("hidden_size"));
        Assert.Contains(path, e.Message);
        Assert.Contains("missing required key 'text_config.hidden_size'", e.Message);
        Assert.Contains("missing required section 'vision_config'", Assert.Throws<CheckpointFormatException>(() => cfg.Section("vision_config")).Message);
    }

    [Fact]
    public void WrongTypeAndBadJsonAreReported()
    {
        string path = Path.Combine(TestPaths.NewTempDir(), "config.json");
        File.WriteAllText(path, "{\"hidden_size\": \"big\"}");
        Assert.Contains("'hidden_size' has the wrong form (expected an integer)",
            Assert.Throws<CheckpointFormatException>(() => JsonConfig.Load(path).Int("hidden_size")).Message);
        File.WriteAllText(path, "{\"hidden_size\": ");
        Assert.Contains("not valid JSON", Assert.Throws<CheckpointFormatException>(() => JsonConfig.Load(path)).Message);
    }
}
