using UniPrune.Engine.Core;
using UniPrune.Engine.Imaging;
using UniPrune.Engine.Models.Abstractions;
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

public class InternVL3TileSizeTests
{
    [Fact]
    public void ASmallerTileResizesThePatchPositionTableBicubically()
    {
        // force_image_size 56 with a ViT trained at 112: 4×4 patches per tile, the 8×8 position table resized as the
        // reference's _get_pos_embed does (float32, bicubic, align_corners=False), 4 visual tokens per tile.
        string golden = TestPaths.Golden("internvl3"), dir = TestPaths.NewTempDir();
        string config = File.ReadAllText(Path.Combine(golden, "config.json")).Replace("\"force_image_size\": 112", "\"force_image_size\": 56");
        Assert.Contains("\"force_image_size\": 56", config);
        File.WriteAllText(Path.Combine(dir, "config.json"), config);
        File.Copy(Path.Combine(golden, "model.safetensors"), Path.Combine(dir, "model.safetensors"));
        using var model = InternVL3Model.Load(dir, ScalarType.Float32, CPU);
        Assert.Equal((56, 4, 2), (model.Config.TileSize, model.Config.ImageTokensPerTile, model.Config.TokenGrid));

        using var checkpoint = Checkpoint.Open(golden);
        using var scope = NewDisposeScope();
        var pixels = randn(2, 3, 56, 56, generator: new TorchSharp.torch.Generator(7));
        using var vit = model.EncodeTiles(pixels, keepHiddenStates: true);
        var table = checkpoint.Read("vision_model.embeddings.position_embedding");            // (1, 65, 64)
        var resized = nn.functional.interpolate(table[.., 1..].reshape(1, 8, 8, 64).permute(0, 3, 1, 2), size: [4, 4],
            mode: InterpolationMode.Bicubic, align_corners: false).reshape(1, 64, 16).permute(0, 2, 1);
        var patches = nn.functional.conv2d(pixels, checkpoint.Read("vision_model.embeddings.patch_embedding.weight"),
            checkpoint.Read("vision_model.embeddings.patch_embedding.bias"), strides: [14, 14]).flatten(2).transpose(1, 2);
        var expected = cat([(checkpoint.Read("vision_model.embeddings.class_embedding") + table[.., ..1]).expand(2, 1, 64), patches + resized], 1);
        Assert.True((vit.HiddenStates![0] - expected).abs().max().item<float>() < 1e-5);
        Assert.Equal(new long[] { 2, 16, 64 }, vit.SelectedFeatures.shape);
        using var image = model.EncodePixels(pixels, new InternVLImageTiles(1, HasThumbnail: true), VisionExtras.All);
        Assert.Equal(new long[] { 8, 64 }, image.Embeddings.shape);
        Assert.Equal(new long[] { 8 }, image.ClsAttention!.shape);
    }
}
