using System.Text.Json;
using UniPrune.Engine.Core;
using UniPrune.Engine.Models.InternVL3;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.InternVL3;

public class InternVL3CheckpointTests
{
    public static TheoryData<string> Folders => new() { "internvl3", "internvl3_vit6b_style" };

    [Theory, MemberData(nameof(Folders))]
    public void HfNamesAgreeWithTheGoldenMappingFile(string folder)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.Golden(folder), "hf_native_key_mapping.json")));
        int checkedCount = 0;
        foreach (var entry in doc.RootElement.GetProperty("mapping").EnumerateObject())
        {
            string[] expected = entry.Value.ValueKind == JsonValueKind.String
                ? [entry.Value.GetString()!]
                : entry.Value.GetProperty("split_rows_into").EnumerateArray().Select(e => e.GetString()!).ToArray();
            Assert.Equal(expected, HfKeyMap.HfNamesOf(entry.Name));
            checkedCount++;
        }
        using var checkpoint = Checkpoint.Open(TestPaths.Golden(folder));
        Assert.Equal(checkpoint.Keys.Count, checkedCount); // the file covers every tensor
    }

    [Theory]
    [InlineData("internvl3", false)]
    [InlineData("internvl3", true)]
    [InlineData("internvl3_vit6b_style", false)]
    public void HfLayoutCheckpointLoadsToTheSameModel(string folder, bool transformers452Prefixes)
    {
        string golden = TestPaths.Golden(folder), dir = TestPaths.NewTempDir();
        File.Copy(Path.Combine(golden, "config.json"), Path.Combine(dir, "config.json"));
        using (var remote = Checkpoint.Open(golden))
        {
            // Rename and split the golden tensors exactly as the converter does.
            var renamed = new Dictionary<string, Tensor>();
            foreach (var key in remote.Keys)
            {
                var tensor = remote.Read(key);
                var names = HfKeyMap.HfNamesOf(key);
                var pieces = names.Count == 1 ? [tensor] : tensor.chunk(3, 0);
                for (int i = 0; i < names.Count; i++)
                    renamed[transformers452Prefixes ? HfKeyMap.ToNewPrefix(names[i]) : names[i]] = pieces[i].contiguous();
            }
            SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), renamed, new Dictionary<string, string> { ["format"] = "pt" });
        }

        using var fromRemote = InternVL3Model.Load(golden, ScalarType.Float32, CPU);
        using var fromHf = InternVL3Model.Load(dir, ScalarType.Float32, CPU);
        using var outputs = SafetensorsFile.Open(Path.Combine(golden, "outputs.safetensors"));
        using var inputs = SafetensorsFile.Open(Path.Combine(golden, "inputs.safetensors"));
        using var scope = NewDisposeScope();
        using var a = fromRemote.EncodeTiles(inputs.Read("pixel_values"));
        using var b = fromHf.EncodeTiles(inputs.Read("pixel_values"));
        Assert.True(a.SelectedFeatures.equal(b.SelectedFeatures).all().item<bool>());
        var shuffled = outputs.Read("vision_pixel_shuffled");
        Assert.True(fromRemote.Project(shuffled).equal(fromHf.Project(shuffled)).all().item<bool>());
    }

    [Fact]
    public void AnUnusedTensorFailsTheLoadNamingIt()
    {
        string golden = TestPaths.Golden("internvl3"), dir = TestPaths.NewTempDir();
        File.Copy(Path.Combine(golden, "config.json"), Path.Combine(dir, "config.json"));
        using (var remote = Checkpoint.Open(golden))
        {
            var tensors = remote.Keys.ToDictionary(k => k, k => remote.Read(k));
            tensors["vision_model.encoder.layers.4.ls1"] = ones(64);
            SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        }
        var e = Assert.Throws<CheckpointFormatException>(() => InternVL3Model.Load(dir, ScalarType.Float32, CPU).Dispose());
        Assert.Contains("vision_model.encoder.layers.4.ls1", e.Message);
    }

    [Fact]
    public void AShapeThatDisagreesWithTheConfigNamesTensorAndBothShapes()
    {
        string golden = TestPaths.Golden("internvl3"), dir = TestPaths.NewTempDir();
        string config = File.ReadAllText(Path.Combine(golden, "config.json")).Replace("\"intermediate_size\": 128,\n    \"is_decoder\": false,\n    \"is_encoder_decoder\": false,\n    \"label2id\": {\n      \"LABEL_0\": 0,\n      \"LABEL_1\": 1\n    },\n    \"layer_norm_eps\"", "\"intermediate_size\": 96,\n    \"is_decoder\": false,\n    \"is_encoder_decoder\": false,\n    \"label2id\": {\n      \"LABEL_0\": 0,\n      \"LABEL_1\": 1\n    },\n    \"layer_norm_eps\"");
        Assert.Contains("\"intermediate_size\": 96", config);
        File.WriteAllText(Path.Combine(dir, "config.json"), config);
        File.Copy(Path.Combine(golden, "model.safetensors"), Path.Combine(dir, "model.safetensors"));
        var e = Assert.Throws<CheckpointFormatException>(() => InternVL3Model.Load(dir, ScalarType.Float32, CPU).Dispose());
        Assert.Contains("vision_model.encoder.layers.0.mlp.fc1.weight", e.Message);
        Assert.Contains("[128, 64]", e.Message);
        Assert.Contains("[96, 64]", e.Message);
    }
}
