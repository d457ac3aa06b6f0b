using System.Text.Json;
using UniPrune.Engine.Imaging;

namespace UniPrune.Engine.Tests.Imaging;

/// <summary>The Pillow-made fixtures under Fixtures/imaging (written by tools/imaging-reference/make_reference.py).</summary>
internal static class ImagingFixtures
{
    public static string Root => Path.Combine(TestPaths.Fixtures, "imaging");
    public static string Path_(params string[] parts) => Path.Combine([Root, .. parts]);

    public static RgbImage Load(params string[] parts) => ImageDecoder.DecodeFile(Path_(parts));

    public static JsonElement Json(params string[] parts)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path_(parts)));
        return doc.RootElement.Clone();
    }

    /// <summary>Largest absolute difference between two images' bytes; sizes must agree.</summary>
    public static int MaxAbsDiff(RgbImage expected, RgbImage actual, out int differing)
    {
        Assert.Equal((expected.Width, expected.Height), (actual.Width, actual.Height));
        int max = 0; differing = 0;
        for (int i = 0; i < expected.Pixels.Length; i++)
        {
            int d = Math.Abs(expected.Pixels[i] - actual.Pixels[i]);
            if (d > 0) differing++;
            if (d > max) max = d;
        }
        return max;
    }

    public static void AssertIdentical(RgbImage expected, RgbImage actual, string what)
    {
        int max = MaxAbsDiff(expected, actual, out int differing);
        Assert.True(max == 0, $"{what}: max abs diff {max}, {differing} of {expected.Pixels.Length} bytes differ (expected bit-exact)");
    }
}
