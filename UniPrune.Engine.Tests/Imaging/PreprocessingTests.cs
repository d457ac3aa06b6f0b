using System.Text.Json;
using UniPrune.Engine.Core;
using UniPrune.Engine.Imaging;
using UniPrune.Engine.Models.Qwen25VL;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Imaging;

/// <summary>Each family's preprocessing against the golden reference tensors and Pillow-made pipeline fixtures.</summary>
public class PreprocessingTests(Xunit.Abstractions.ITestOutputHelper output)
{
    // The golden pixel_values were made by the real processors; float32 rounding order may differ by an ulp.
    private const double GoldenTolerance = 1e-6;

    private static (Tensor PixelValues, RgbImage Image, SafetensorsFile Inputs) Golden(string family)
    {
        string dir = TestPaths.Golden(family);
        var inputs = SafetensorsFile.Open(Path.Combine(dir, "inputs.safetensors"));
        return (inputs.Read("pixel_values"), ImageDecoder.DecodeFile(Path.Combine(dir, "image.png")), inputs);
    }

    private double MaxAbsDiff(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.shape, actual.shape);
        using var d = (expected - actual).abs().max();
        using var exact = expected.eq(actual).all();
        output.WriteLine($"pixel_values [{string.Join(",", expected.shape)}]: max abs diff {d.item<float>():E2}, bit-identical {exact.item<bool>()}");
        return d.item<float>();
    }

    [Fact]
    public void Llava_hf_processor_reproduces_golden_pixel_values()
    {
        var (expected, image, inputs) = Golden("llava");
        using var _ = inputs; using var __ = expected;
        var processor = ClipImageProcessor.FromPreprocessorConfig(
            Path.Combine(TestPaths.Golden("llava"), "preprocessor_config.json"), LlavaImageAspect.ResizeAndCenterCrop);
        using var actual = processor.Process(image);
        double diff = MaxAbsDiff(expected, actual.PixelValues);
        Assert.True(diff <= GoldenTolerance, $"llava pixel_values max abs diff {diff:E2} > {GoldenTolerance:E0}");
    }

    [Fact]
    public void Llava_processor_from_model_config_matches_the_preprocessor_config()
    {
        var (expected, image, inputs) = Golden("llava");
        using var _ = inputs; using var __ = expected;
        var processor = ClipImageProcessor.FromModelConfig(
            JsonConfig.Load(Path.Combine(TestPaths.Golden("llava"), "config.json")), LlavaImageAspect.PadToSquare);
        Assert.Equal(84, processor.ShortestEdge);
        using var actual = processor.Process(image); // 84x84 is square: padding is a no-op
        Assert.True(MaxAbsDiff(expected, actual.PixelValues) <= GoldenTolerance);
    }

    [Fact]
    public void Qwen_processor_reproduces_golden_pixel_values_and_grid()
    {
        var (expected, image, inputs) = Golden("qwen2_5_vl");
        using var _ = inputs; using var __ = expected;
        var processor = QwenImageProcessor.FromPreprocessorConfig(Path.Combine(TestPaths.Golden("qwen2_5_vl"), "preprocessor_config.json"));
        using var actual = processor.Process(image);
        using var grid = inputs.Read("image_grid_thw");
        Assert.Equal(grid.data<long>().ToArray(), new long[] { actual.Grid.T, actual.Grid.H, actual.Grid.W });
        Assert.Equal(new GridThw(1, 12, 16), actual.Grid);
        double diff = MaxAbsDiff(expected, actual.PixelValues);
        Assert.True(diff <= GoldenTolerance, $"qwen pixel_values max abs diff {diff:E2} > {GoldenTolerance:E0}");
    }

    [Fact]
    public void Internvl_processor_reproduces_golden_pixel_values_including_the_pil_thumbnail()
    {
        var (expected, image, inputs) = Golden("internvl3");
        using var _ = inputs; using var __ = expected;
        var processor = InternVLImageProcessor.FromModelConfig(JsonConfig.Load(Path.Combine(TestPaths.Golden("internvl3"), "config.json")));
        Assert.Equal((112, 1, 12, true), (processor.TileSize, processor.MinTiles, processor.MaxTiles, processor.UseThumbnail));
        using var actual = processor.Process(image);
        Assert.Equal((2, 1, true, 3), (actual.Columns, actual.Rows, actual.HasThumbnail, actual.TileCount));
        using var flags = inputs.Read("image_flags");
        Assert.Equal(flags.shape[0], actual.TileCount);
        double diff = MaxAbsDiff(expected, actual.PixelValues);
        Assert.True(diff <= GoldenTolerance, $"internvl pixel_values max abs diff {diff:E2} > {GoldenTolerance:E0}");
    }

    [Fact]
    public void Llava_pad_colour_is_the_truncated_clip_mean()
    {
        var p = ClipImageProcessor.FromModelConfig(JsonConfig.Parse("""{"vision_config": {"image_size": 336}}""", "cfg.json"), LlavaImageAspect.PadToSquare);
        Assert.Equal(((byte)122, (byte)116, (byte)104), p.PadColor);
    }

    // ---- Pillow-made pipelines at real sizes (336 CLIP, Qwen bounds, InternVL tiling): uint8 stages bit-exact ----

    public static IEnumerable<object[]> PipelineCases() =>
        ImagingFixtures.Json("pipelines", "cases.json").GetProperty("cases").EnumerateArray()
            .Select(c => new object[] { c.GetProperty("family").GetString()!, c.GetProperty("source").GetString()! });

    [Theory]
    [MemberData(nameof(PipelineCases))]
    public void Pipeline_uint8_stages_equal_pillow(string family, string source)
    {
        var c = ImagingFixtures.Json("pipelines", "cases.json").GetProperty("cases").EnumerateArray()
            .Single(e => e.GetProperty("family").GetString() == family && e.GetProperty("source").GetString() == source);
        var image = ImagingFixtures.Load("pipelines", source);
        var expected = c.GetProperty("expected").EnumerateArray().Select(e => ImagingFixtures.Load("pipelines", e.GetString()!)).ToList();
        var clipConfig = JsonConfig.Parse("""{"vision_config": {"image_size": 336}}""", "clip.json");
        IReadOnlyList<RgbImage> actual = family switch
        {
            "llava_pad" => [ClipImageProcessor.FromModelConfig(clipConfig, LlavaImageAspect.PadToSquare).Prepare(image)],
            "llava_crop" => [ClipImageProcessor.FromModelConfig(clipConfig, LlavaImageAspect.ResizeAndCenterCrop).Prepare(image)],
            "qwen" => [QwenProcessor(c.GetProperty("min_pixels").GetInt32(), c.GetProperty("max_pixels").GetInt32()).Prepare(image)],
            "internvl" => InternVLTiles(c),
            _ => throw new InvalidDataException($"pipelines/cases.json: unknown family {family}"),
        };
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++) ImagingFixtures.AssertIdentical(expected[i], actual[i], $"{source} stage {i}");

        IReadOnlyList<RgbImage> InternVLTiles(JsonElement e)
        {
            var p = new InternVLImageProcessor(e.GetProperty("tile").GetInt32(), 1, e.GetProperty("max_num").GetInt32(), true, ChannelStats.ImageNet, "test");
            var (tiles, cols, rows, _) = p.Prepare(image);
            Assert.Equal((e.GetProperty("cols").GetInt32(), e.GetProperty("rows").GetInt32()), (cols, rows));
            return tiles;
        }
    }

    private static QwenImageProcessor QwenProcessor(int min, int max) =>
        new(min, max, 14, 2, 2, 1 / 255.0, ChannelStats.OpenAIClip, "test");

    [Fact]
    public void Clip_336_tensor_has_the_model_input_shape()
    {
        var p = ClipImageProcessor.FromModelConfig(JsonConfig.Parse("""{"vision_config": {"image_size": 336}}""", "c.json"), LlavaImageAspect.PadToSquare);
        using var input = p.Process(ImagingFixtures.Load("pipelines", "llava_wide.png"));
        Assert.Equal(new long[] { 1, 3, 336, 336 }, input.PixelValues.shape);
        // Row 0 of a 100x61 image padded to 100x100 is pad colour: (122/255 - mean)/std per channel.
        float expectedRed = (float)(122 / 255.0 - 0.48145466) / 0.26862954f;
        Assert.Equal(expectedRed, input.PixelValues[0, 0, 0, 100].item<float>(), 5);
    }

    // ---- decision functions against CPython (tools/imaging-reference/make_reference.py) ----

    [Fact]
    public void Smart_resize_equals_python_for_every_recorded_size()
    {
        int checkedCases = 0;
        foreach (var c in ImagingFixtures.Json("decisions.json").GetProperty("smart_resize").EnumerateArray())
        {
            int w = c.GetProperty("width").GetInt32(), h = c.GetProperty("height").GetInt32();
            int min = c.GetProperty("min_pixels").GetInt32(), max = c.GetProperty("max_pixels").GetInt32();
            if (c.TryGetProperty("error", out _))
            {
                var e = Assert.Throws<ArgumentException>(() => QwenImageProcessor.SmartResize(h, w, 28, min, max, "s1"));
                Assert.Contains("s1", e.Message);
                Assert.Contains("aspect ratio", e.Message);
            }
            else
            {
                var expected = (c.GetProperty("resized_height").GetInt32(), c.GetProperty("resized_width").GetInt32());
                Assert.True(expected == QwenImageProcessor.SmartResize(h, w, 28, min, max), $"smart_resize({h},{w},{min},{max})");
            }
            checkedCases++;
        }
        Assert.True(checkedCases > 600, $"only {checkedCases} smart_resize cases");
    }

    [Fact]
    public void Smart_resize_rounds_half_to_even()
    {
        // 42/28 = 1.5 → 2 (even) → 56; 70/28 = 2.5 → 2 → 56; 98/28 = 3.5 → 4 → 112.
        Assert.Equal((56, 56), QwenImageProcessor.SmartResize(70, 42, 28, 28 * 28, 1_000_000_000));
        Assert.Equal((112, 56), QwenImageProcessor.SmartResize(98, 70, 28, 28 * 28, 1_000_000_000));
    }

    [Fact]
    public void Internvl_grid_choice_equals_python_for_every_recorded_size()
    {
        int checkedCases = 0;
        foreach (var c in ImagingFixtures.Json("decisions.json").GetProperty("internvl_grid").EnumerateArray())
        {
            int w = c.GetProperty("width").GetInt32(), h = c.GetProperty("height").GetInt32(), max = c.GetProperty("max_num").GetInt32();
            var expected = (c.GetProperty("cols").GetInt32(), c.GetProperty("rows").GetInt32());
            Assert.True(expected == InternVLImageProcessor.ChooseGrid(w, h, 1, max, c.GetProperty("tile").GetInt32()), $"grid({w}x{h}, max {max})");
            checkedCases++;
        }
        Assert.True(checkedCases > 900, $"only {checkedCases} grid cases");
    }

    [Theory]
    [InlineData(448, 448, 6, 1, 1, 1)]   // models.md §3.3 examples
    [InlineData(1024, 1024, 6, 2, 2, 5)]
    [InlineData(640, 480, 6, 3, 2, 7)]
    [InlineData(640, 480, 12, 4, 3, 13)]
    public void Internvl_tile_counts_match_the_documented_examples(int w, int h, int maxTiles, int cols, int rows, int tiles)
    {
        var grid = InternVLImageProcessor.ChooseGrid(w, h, 1, maxTiles, 448);
        Assert.Equal((cols, rows), grid);
        Assert.Equal(tiles, cols * rows + (cols * rows > 1 ? 1 : 0));
    }

    // ---- config errors name the file and the key ----

    [Fact]
    public void Clip_config_missing_a_key_names_file_and_key()
    {
        string dir = TestPaths.NewTempDir(), path = Path.Combine(dir, "preprocessor_config.json");
        File.WriteAllText(path, """{"size": {"shortest_edge": 336}, "image_mean": [0.5,0.5,0.5], "image_std": [0.5,0.5,0.5], "resample": 3}""");
        var e = Assert.Throws<CheckpointFormatException>(() => ClipImageProcessor.FromPreprocessorConfig(path, LlavaImageAspect.PadToSquare));
        Assert.Contains(path, e.Message);
        Assert.Contains("crop_size", e.Message);
    }

    [Fact]
    public void Clip_config_in_openai_legacy_form_is_read()
    {
        string dir = TestPaths.NewTempDir(), path = Path.Combine(dir, "preprocessor_config.json");
        File.WriteAllText(path, """{"crop_size": 336, "do_center_crop": true, "do_normalize": true, "do_resize": true, "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 336}""");
        var p = ClipImageProcessor.FromPreprocessorConfig(path, LlavaImageAspect.PadToSquare);
        Assert.Equal((336, 336, 336, PilFilter.Bicubic), (p.ShortestEdge, p.CropHeight, p.CropWidth, p.Resample));
    }

    [Fact]
    public void Clip_config_with_nearest_resample_is_refused()
    {
        string dir = TestPaths.NewTempDir(), path = Path.Combine(dir, "preprocessor_config.json");
        File.WriteAllText(path, """{"crop_size": 336, "size": 336, "image_mean": [0.5,0.5,0.5], "image_std": [0.5,0.5,0.5], "resample": 0}""");
        var e = Assert.Throws<CheckpointFormatException>(() => ClipImageProcessor.FromPreprocessorConfig(path, LlavaImageAspect.PadToSquare));
        Assert.Contains(path, e.Message);
        Assert.Contains("'resample'", e.Message);
    }

    [Fact]
    public void Model_config_without_vision_image_size_names_the_key()
    {
        var e = Assert.Throws<CheckpointFormatException>(() =>
            ClipImageProcessor.FromModelConfig(JsonConfig.Parse("""{"vision_config": {"patch_size": 14}}""", "llava/config.json"), LlavaImageAspect.PadToSquare));
        Assert.Contains("llava/config.json", e.Message);
        Assert.Contains("vision_config.image_size", e.Message);
    }

    [Fact]
    public void Qwen_config_missing_a_key_names_file_and_key()
    {
        string dir = TestPaths.NewTempDir(), path = Path.Combine(dir, "preprocessor_config.json");
        File.WriteAllText(path, """{"min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14, "merge_size": 2, "image_mean": [0.5,0.5,0.5], "image_std": [0.5,0.5,0.5]}""");
        var e = Assert.Throws<CheckpointFormatException>(() => QwenImageProcessor.FromPreprocessorConfig(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("temporal_patch_size", e.Message);
    }

    [Fact]
    public void Internvl_config_missing_a_key_names_file_and_key()
    {
        var e = Assert.Throws<CheckpointFormatException>(() =>
            InternVLImageProcessor.FromModelConfig(JsonConfig.Parse("""{"force_image_size": 448, "min_dynamic_patch": 1, "use_thumbnail": true}""", "internvl/config.json")));
        Assert.Contains("internvl/config.json", e.Message);
        Assert.Contains("max_dynamic_patch", e.Message);
    }

    [Fact]
    public void Wrong_stats_length_is_refused_naming_the_file()
    {
        string dir = TestPaths.NewTempDir(), path = Path.Combine(dir, "preprocessor_config.json");
        File.WriteAllText(path, """{"min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14, "temporal_patch_size": 2, "merge_size": 2, "image_mean": [0.5,0.5], "image_std": [0.5,0.5,0.5]}""");
        var e = Assert.Throws<CheckpointFormatException>(() => QwenImageProcessor.FromPreprocessorConfig(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("image_mean", e.Message);
    }
}
