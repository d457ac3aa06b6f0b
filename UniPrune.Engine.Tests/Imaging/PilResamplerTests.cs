using UniPrune.Engine.Imaging;

namespace UniPrune.Engine.Tests.Imaging;

/// <summary>Our resize against Pillow 9.4's own output (Fixtures/imaging/resize): max abs diff must be 0.</summary>
public class PilResamplerTests
{
    public static IEnumerable<object[]> Cases() =>
        ImagingFixtures.Json("resize", "cases.json").GetProperty("cases").EnumerateArray()
            .Select(c => new object[] { c.GetProperty("expected").GetString()! });

    [Theory]
    [MemberData(nameof(Cases))]
    public void Resize_equals_pillow_bit_for_bit(string expectedFile)
    {
        var c = ImagingFixtures.Json("resize", "cases.json").GetProperty("cases").EnumerateArray()
            .Single(e => e.GetProperty("expected").GetString() == expectedFile);
        var source = ImagingFixtures.Load("resize", c.GetProperty("source").GetString()!);
        var filter = c.GetProperty("filter").GetString() switch
        {
            "bicubic" => PilFilter.Bicubic, "bilinear" => PilFilter.Bilinear, "box" => PilFilter.Box,
            "hamming" => PilFilter.Hamming, "lanczos" => PilFilter.Lanczos,
            var f => throw new InvalidDataException($"cases.json: unknown filter {f}"),
        };
        var actual = PilResampler.Resize(source, c.GetProperty("width").GetInt32(), c.GetProperty("height").GetInt32(), filter);
        ImagingFixtures.AssertIdentical(ImagingFixtures.Load("resize", expectedFile), actual, expectedFile);
    }

    public static IEnumerable<object[]> HashedCases() =>
        ImagingFixtures.Json("resize", "hashed_cases.json").GetProperty("cases").EnumerateArray()
            .Select(c => new object[] {
                c.GetProperty("width").GetInt32(), c.GetProperty("height").GetInt32(), c.GetProperty("seed").GetInt32(),
                c.GetProperty("filter").GetString()!, c.GetProperty("target_width").GetInt32(),
                c.GetProperty("target_height").GetInt32(), c.GetProperty("sha256").GetString()! });

    /// <summary>
    /// Real-size resizes (3000×2000 → 336, Qwen's 1148×840, InternVL's 448·k grids, 13× downscales) of integer-hash
    /// noise that make_reference.py builds identically; the fixture stores only the SHA-256 of Pillow's output bytes.
    /// </summary>
    [Theory]
    [MemberData(nameof(HashedCases))]
    public void Large_resize_equals_pillow_by_hash(int width, int height, int seed, string filter, int targetWidth, int targetHeight, string sha256)
    {
        var source = HashedNoise(width, height, seed);
        var f = filter switch { "bicubic" => PilFilter.Bicubic, "bilinear" => PilFilter.Bilinear, "lanczos" => PilFilter.Lanczos,
            _ => throw new InvalidDataException($"hashed_cases.json: unknown filter {filter}") };
        var actual = PilResampler.Resize(source, targetWidth, targetHeight, f);
        string hash = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(actual.Pixels)).ToLowerInvariant();
        Assert.True(hash == sha256, $"{width}x{height} -> {targetWidth}x{targetHeight} {filter}: output differs from Pillow's (hash {hash})");
    }

    /// <summary>The same integer-hash noise as make_reference.py's hashed_noise.</summary>
    private static RgbImage HashedNoise(int width, int height, int seed)
    {
        var px = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                for (int c = 0; c < 3; c++)
                {
                    ulong h = ((ulong)x * 73856093UL) ^ ((ulong)y * 19349663UL) ^ (ulong)(c * 83492791L) ^ ((ulong)seed * 2654435761UL);
                    h &= 0xFFFFFFFFUL;
                    px[(y * width + x) * 3 + c] = (byte)((h >> 13) & 255);
                }
        return new RgbImage(width, height, px);
    }

    [Fact]
    public void Same_size_resize_is_an_untouched_copy()
    {
        var source = ImagingFixtures.Load("resize", "s37x23.png");
        var copy = PilResampler.Resize(source, 37, 23);
        Assert.NotSame(source.Pixels, copy.Pixels);
        Assert.Equal(source.Pixels, copy.Pixels);
    }

    [Fact]
    public void Internvl_golden_thumbnail_is_reproduced_from_the_real_pil_resize()
    {
        // The golden InternVL thumbnail tile was made by real PIL bicubic 224x112 -> 112x112; pixel_values
        // tile 2 = (thumbnail/255 - mean)/std, so invert the normalisation and compare the bytes.
        string dir = TestPaths.Golden("internvl3");
        var image = ImageDecoder.DecodeFile(Path.Combine(dir, "image.png"));
        var thumbnail = PilResampler.Resize(image, 112, 112, PilFilter.Bicubic);
        using var inputs = UniPrune.Engine.Core.SafetensorsFile.Open(Path.Combine(dir, "inputs.safetensors"));
        using var pixelValues = inputs.Read("pixel_values");
        Assert.Equal(new long[] { 3, 3, 112, 112 }, pixelValues.shape);
        float[] values = pixelValues.data<float>().ToArray();
        double[] mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225];
        int offset = 2 * 3 * 112 * 112, mismatches = 0;
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < 112; y++)
                for (int x = 0; x < 112; x++)
                {
                    double recovered = (values[offset + (ch * 112 + y) * 112 + x] * std[ch] + mean[ch]) * 255.0;
                    if (Math.Abs(recovered - thumbnail[y, x, ch]) > 1e-3) mismatches++;
                }
        Assert.Equal(0, mismatches);
    }
}
