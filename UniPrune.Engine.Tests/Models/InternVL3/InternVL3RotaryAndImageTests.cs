using UniPrune.Engine.Core;
using UniPrune.Engine.Imaging;
using UniPrune.Engine.Models.Common;
using UniPrune.Engine.Models.InternVL3;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.InternVL3;

public class InternVL3RotaryAndImageTests
{
    [Fact]
    public void DynamicRopeIsPlainRopeUpToMaxPositionEmbeddings()
    {
        using var scope = NewDisposeScope();
        var dynamic = new DynamicNtkRotary(64, 1e6, factor: 2.0, maxPositionEmbeddings: 32768);
        var plain = new RotaryEmbedding(64, 1e6);
        var positions = tensor(new long[] { 0, 1, 5, 4000, 32767 }).unsqueeze(0);
        var (dc, ds) = dynamic.CosSin(positions, ScalarType.Float32);
        var (pc, ps) = plain.CosSin(positions, ScalarType.Float32);
        Assert.True(dc.equal(pc).all().item<bool>());
        Assert.True(ds.equal(ps).all().item<bool>());
        Assert.Equal(1e6, dynamic.BaseFor(32768));
    }

    [Fact]
    public void DynamicRopeGrowsTheBaseBeyondTheTrainedLength()
    {
        using var scope = NewDisposeScope();
        var dynamic = new DynamicNtkRotary(64, 1e6, factor: 2.0, maxPositionEmbeddings: 32768);
        // transformers: base · (factor·n/max − (factor−1))^(d/(d−2)); n = 65536 → 1e6 · 3^(64/62).
        Assert.Equal(1e6 * Math.Pow(3.0, 64.0 / 62.0), dynamic.BaseFor(65536), 6);
        var positions = tensor(new long[] { 7, 65535 }).unsqueeze(0);
        var (cos, _) = dynamic.CosSin(positions, ScalarType.Float32);
        var (plainCos, _) = new RotaryEmbedding(64, 1e6 * Math.Pow(3.0, 64.0 / 62.0)).CosSin(positions, ScalarType.Float32);
        Assert.True((cos - plainCos).abs().max().item<float>() < 1e-6);
    }

    [Fact]
    public void FromThePngToTheGreedyTokens()
    {
        // Decoding, tiling (2 crops + a Pillow-bicubic thumbnail), normalisation and the model together.
        string dir = TestPaths.Golden("internvl3");
        using var model = InternVL3Model.Load(dir, ScalarType.Float32, CPU);
        var processor = InternVLImageProcessor.FromModelConfig(JsonConfig.Load(Path.Combine(dir, "config.json")));
        using var image = processor.Process(ImageDecoder.DecodeFile(Path.Combine(dir, "image.png")));
        using var inputs = SafetensorsFile.Open(Path.Combine(dir, "inputs.safetensors"));
        using var outputs = SafetensorsFile.Open(Path.Combine(dir, "outputs.safetensors"));
        using var scope = NewDisposeScope();
        Assert.Equal(new InternVLImageTiles(2, true), InternVLImageTiles.Of(image));
        using var encoded = model.EncodePixels(image.PixelValues, InternVLImageTiles.Of(image));
        using var result = model.RunPrompt(inputs.Read("input_ids").reshape(-1).data<long>().ToArray(), [encoded], null, 8, new HashSet<long>());
        Assert.Equal(outputs.Read("generated_token_ids").data<long>().ToArray(), result.Greedy.Tokens);
        Assert.Equal((75, 48, 48), (result.PromptTokens, result.VisualTokens, result.VisualTokensKept));
        // The same through the harness entry point (VLMEvalKit's 6-tile budget instead of the config's 12 changes nothing here).
        using var viaHarness = model.EncodeImage(ImageDecoder.DecodeFile(Path.Combine(dir, "image.png")));
        Assert.True(viaHarness.Embeddings.equal(encoded.Embeddings).all().item<bool>());
    }
}
