using System.Diagnostics;
using SkiaSharp;
using UniPrune.Engine.Core;
using UniPrune.Engine.Imaging;

namespace UniPrune.Engine.Tests.Imaging;

/// <summary>
/// Decode and preprocessing timings (a measurement, not a timed assertion). Runs only with UNIPRUNE_BENCH=1:
/// <c>UNIPRUNE_BENCH=1 dotnet test UniPrune.Engine.Tests --filter FullyQualifiedName~ImagingTimings --logger "console;verbosity=detailed"</c>
/// </summary>
public class ImagingTimings(Xunit.Abstractions.ITestOutputHelper output)
{
    private static RgbImage Synthetic(int width, int height)
    {
        var rng = new Random(1);
        var px = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int i = (y * width + x) * 3;
                px[i] = (byte)Math.Clamp(255 * x / width + rng.Next(-10, 11), 0, 255);
                px[i + 1] = (byte)Math.Clamp(255 * y / height + rng.Next(-10, 11), 0, 255);
                px[i + 2] = (byte)Math.Clamp(127 + 120 * Math.Sin((x + 2 * y) / 7.0) + rng.Next(-10, 11), 0, 255);
            }
        return new RgbImage(width, height, px);
    }

    private static byte[] Encode(RgbImage image, SKEncodedImageFormat format, int quality)
    {
        var info = new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        using var bitmap = new SKBitmap(info);
        var rgba = new byte[image.Width * image.Height * 4];
        for (int i = 0, j = 0; j < image.Pixels.Length; i += 4, j += 3)
        {
            rgba[i] = image.Pixels[j]; rgba[i + 1] = image.Pixels[j + 1]; rgba[i + 2] = image.Pixels[j + 2]; rgba[i + 3] = 255;
        }
        System.Runtime.InteropServices.Marshal.Copy(rgba, 0, bitmap.GetPixels(), rgba.Length);
        using var data = bitmap.Encode(format, quality);
        return data.ToArray();
    }

    private double MedianMs(string label, Action action, int repeats = 15)
    {
        for (int i = 0; i < 3; i++) action();
        var times = new List<double>();
        for (int i = 0; i < repeats; i++)
        {
            var sw = Stopwatch.StartNew();
            action();
            times.Add(sw.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        double median = times[times.Count / 2];
        output.WriteLine($"{label}: median {median:F2} ms (min {times[0]:F2}, {repeats} runs)");
        return median;
    }

    [SkippableFact]
    public void Decode_and_preprocess_timings()
    {
        Skip.IfNot(Environment.GetEnvironmentVariable("UNIPRUNE_BENCH") == "1", "measurement only: set UNIPRUNE_BENCH=1 to run");
        output.WriteLine($"cores {Environment.ProcessorCount}");
        var image = Synthetic(1000, 1000);
        byte[] jpeg = Encode(image, SKEncodedImageFormat.Jpeg, 90), png = Encode(image, SKEncodedImageFormat.Png, 100);
        output.WriteLine($"1000x1000 JPEG q90 {jpeg.Length / 1024} KiB, PNG {png.Length / 1024} KiB");
        MedianMs("decode 1000x1000 JPEG (SkiaSharp)", () => ImageDecoder.Decode(jpeg, "bench.jpg"));
        MedianMs("decode 1000x1000 PNG (StbImageSharp)", () => ImageDecoder.Decode(png, "bench.png"));

        var photo = Synthetic(1000, 750);
        var clip = ClipImageProcessor.FromModelConfig(JsonConfig.Parse("""{"vision_config": {"image_size": 336}}""", "clip.json"), LlavaImageAspect.PadToSquare);
        MedianMs("LLaVA 1000x750: pad to 1000x1000 + bicubic to 336 (uint8)", () => clip.Prepare(photo));
        MedianMs("LLaVA 1000x750 -> [1,3,336,336] tensor, whole pipeline", () => { using var t = clip.Process(photo); });
        MedianMs("bicubic 1000x1000 -> 336x336 alone", () => PilResampler.Resize(image, 336, 336));

        var qwen = new QwenImageProcessor(256 * 28 * 28, 1280 * 28 * 28, 14, 2, 2, 1 / 255.0, ChannelStats.OpenAIClip, "bench");
        var large = Synthetic(1600, 1200);
        var (h, w) = QwenImageProcessor.SmartResize(1200, 1600, 28, qwen.MinPixels, qwen.MaxPixels);
        MedianMs($"Qwen 1600x1200 -> {w}x{h} bicubic (uint8)", () => qwen.Prepare(large));
        MedianMs($"Qwen 1600x1200 -> patches [{h * w / 196},1176] tensor, whole pipeline", () => { using var t = qwen.Process(large); });
        MedianMs($"Qwen 1000x1000 -> {QwenImageProcessor.SmartResize(1000, 1000, 28, qwen.MinPixels, qwen.MaxPixels)} whole pipeline", () => { using var t = qwen.Process(image); });

        var intern = new InternVLImageProcessor(448, 1, 6, true, ChannelStats.ImageNet, "bench");
        MedianMs("InternVL 1000x750 -> 3x2 tiles + thumbnail [7,3,448,448], whole pipeline", () => { using var t = intern.Process(photo); });
    }
}
