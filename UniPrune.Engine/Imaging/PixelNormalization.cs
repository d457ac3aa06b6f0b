namespace UniPrune.Engine.Imaging;

/// <summary>Per-channel mean and standard deviation, as the processors' configs store them (double, RGB order).</summary>
public sealed record ChannelStats(double[] Mean, double[] Std)
{
    /// <summary>OpenAI CLIP statistics (LLaVA-1.5 and Qwen2.5-VL).</summary>
    public static ChannelStats OpenAIClip { get; } = new(
        [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]);

    /// <summary>ImageNet statistics (InternVL's build_transform).</summary>
    public static ChannelStats ImageNet { get; } = new([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);

    public void Validate(string where)
    {
        if (Mean.Length != 3 || Std.Length != 3)
            throw new ArgumentException($"{where}: image_mean and image_std need 3 values (RGB); got {Mean.Length} and {Std.Length}");
        if (Std.Any(s => !(s > 0)))
            throw new ArgumentException($"{where}: image_std values must be positive; got [{string.Join(", ", Std)}]");
    }
}

/// <summary>
/// uint8 HWC → float32 CHW, with the two rounding recipes the references use. Both then normalise in float32 as
/// <c>(x − mean) / std</c> with mean/std cast to float32 (numpy arrays of the image dtype; torchvision tensors).
/// </summary>
public static class PixelNormalization
{
    /// <summary>
    /// Hugging Face image processors: <c>rescale</c> multiplies in float64 by <paramref name="rescaleFactor"/> and casts
    /// to float32, then <c>normalize</c> works in float32. Writes 3·H·W values (CHW) at <paramref name="offset"/>.
    /// </summary>
    public static void HuggingFace(RgbImage image, double rescaleFactor, ChannelStats stats, float[] destination, int offset = 0,
        bool rescale = true, bool normalize = true)
    {
        var (mean, std) = AsFloat(stats);
        int plane = image.Width * image.Height;
        byte[] px = image.Pixels;
        for (int c = 0; c < 3; c++)
        {
            int o = offset + c * plane;
            for (int i = 0; i < plane; i++)
            {
                float x = rescale ? (float)(px[i * 3 + c] * rescaleFactor) : px[i * 3 + c];
                destination[o + i] = normalize ? (x - mean[c]) / std[c] : x;
            }
        }
    }

    /// <summary>
    /// torchvision <c>ToTensor</c> (float32 division by 255) then <c>Normalize</c> (float32 subtract, divide): InternVL.
    /// Writes 3·H·W values (CHW) at <paramref name="offset"/>.
    /// </summary>
    public static void Torchvision(RgbImage image, ChannelStats stats, float[] destination, int offset = 0)
    {
        var (mean, std) = AsFloat(stats);
        int plane = image.Width * image.Height;
        byte[] px = image.Pixels;
        for (int c = 0; c < 3; c++)
        {
            int o = offset + c * plane;
            for (int i = 0; i < plane; i++)
            {
                float x = px[i * 3 + c] / 255f;
                destination[o + i] = (x - mean[c]) / std[c];
            }
        }
    }

    private static (float[] Mean, float[] Std) AsFloat(ChannelStats s) =>
        (s.Mean.Select(v => (float)v).ToArray(), s.Std.Select(v => (float)v).ToArray());
}
