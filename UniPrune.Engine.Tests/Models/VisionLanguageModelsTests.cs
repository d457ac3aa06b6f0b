using UniPrune.Engine.Core;
using UniPrune.Engine.Models;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.Llava15;

namespace UniPrune.Engine.Tests.Models;

public sealed class VisionLanguageModelsTests
{
    [Theory]
    [InlineData("llava", "llava15")]
    [InlineData("qwen2_5_vl", "qwen25vl")]
    [InlineData("internvl3", "internvl3")]
    public void The_family_comes_from_model_type(string golden, string family) =>
        Assert.Equal(family, VisionLanguageModels.FamilyOf(TestPaths.Golden(golden)));

    [Fact]
    public void A_llava_folder_loads_as_a_llava_model_and_an_unknown_type_is_refused()
    {
        using var model = VisionLanguageModels.Load(TestPaths.Golden("llava"), ModelLoadOptions.Cpu());
        Assert.IsType<Llava15Model>(model);
        Assert.Equal("llava15", model.Identity.Family);
        string dir = TestPaths.NewTempDir();
        File.WriteAllText(Path.Combine(dir, "config.json"), "{\"model_type\": \"blip\"}");
        Assert.Contains("'blip'", Assert.Throws<CheckpointFormatException>(() => VisionLanguageModels.FamilyOf(dir)).Message);
    }
}
