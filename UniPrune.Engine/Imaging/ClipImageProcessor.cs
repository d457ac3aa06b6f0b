using UniPrune.Engine.Core;
using static TorchSharp.torch;

namespace UniPrune.Engine.Imaging;

/// <summary>How LLaVA-1.5 fits an image into CLIP's square input.</summary>
public enum LlavaImageAspect
{
    /// <summary>liuhaotian/LLaVA (what VLMEvalKit runs, <c>image_aspect_ratio = pad</c>): pad to a square with the mean colour, then CLIP.</summary>
    PadToSquare,
    /// <summary>llava-hf's processor: CLIP's shortest-edge resize and centre crop, which cuts off the long side.</summary>
    ResizeAndCenterCrop,
}

/// <summary>LLaVA-1.5's vision input: pixel values [1, 3, crop_h, crop_w] and the uint8 image they were made from.</summary>
public sealed record LlavaImageInput(Tensor PixelValues, RgbImage PreparedImage) : IDisposable
{
    public void Dispose() => PixelValues.Dispose();
}

/// <summary>
/// transformers' <c>CLIPImageProcessor</c> (slow): resize the shortest edge with Pillow, centre-crop, rescale,
/// normalise; optionally preceded by LLaVA-1.5's <c>expand2square</c>. Settings come from a
/// <c>preprocessor_config.json</c> (every key required) or from a model config's <c>vision_config.image_size</c>
/// with the OpenAI CLIP constants that the CLIP tower's own preprocessor ships.
/// </summary>
public sealed record ClipImageProcessor(
    int ShortestEdge,
    int CropHeight,
    int CropWidth,
    PilFilter Resample,
    double RescaleFactor,
    ChannelStats Stats,
    bool DoResize,
    bool DoCenterCrop,
    bool DoRescale,
    bool DoNormalize,
    LlavaImageAspect Aspect,
    string Source)
{
    /// <summary>
    /// Reads an HF <c>preprocessor_config.json</c> of <c>CLIPImageProcessor</c> type: the current form
    /// (<c>size: {shortest_edge}</c>, <c>crop_size: {height, width}</c>, as llava-hf ships) or the older one that
    /// openai/clip-vit-large-patch14-336 ships (<c>size: 336</c>, <c>crop_size: 336</c>, no rescale keys).
    /// Sizes, mean, std and resample are required; the do_* switches and rescale_factor fall back to
    /// CLIPImageProcessor's class defaults (true, 1/255) when absent, as transformers does.
    /// </summary>
    public static ClipImageProcessor FromPreprocessorConfig(string path, LlavaImageAspect aspect)
    {
        var c = JsonConfig.Load(path);
        var stats = new ChannelStats(c.DoubleArray("image_mean"), c.DoubleArray("image_std"));
        try { stats.Validate(path); }
        catch (ArgumentException e) { throw new CheckpointFormatException(path, e.Message); }
        int shortestEdge = IsNumber(c, "size") ? c.Int("size") : c.Section("size").Int("shortest_edge");
        var (cropHeight, cropWidth) = IsNumber(c, "crop_size")
            ? (c.Int("crop_size"), c.Int("crop_size"))
            : (c.Section("crop_size").Int("height"), c.Section("crop_size").Int("width"));
        return new ClipImageProcessor(
            ShortestEdge: shortestEdge,
            CropHeight: cropHeight,
            CropWidth: cropWidth,
            Resample: PilFilterCodes.FromPillowCode(c.Int("resample"), path, "resample"),
            RescaleFactor: c.DoubleOr("rescale_factor", 1 / 255.0),
            Stats: stats,
            DoResize: c.BoolOr("do_resize", true),
            DoCenterCrop: c.BoolOr("do_center_crop", true),
            DoRescale: c.BoolOr("do_rescale", true),
            DoNormalize: c.BoolOr("do_normalize", true),
            Aspect: aspect,
            Source: path).Validated();
    }

    private static bool IsNumber(JsonConfig c, string key) =>
        c.Raw.TryGetProperty(key, out var v) && v.ValueKind == System.Text.Json.JsonValueKind.Number;

    /// <summary>
    /// From a config with <c>vision_config.image_size</c> (llava-hf's config.json, or the CLIP tower's own): the size
    /// comes from the file; mean/std, bicubic and 1/255 are the constants of openai/clip-vit-large-patch14-336's
    /// preprocessor, which the original LLaVA loads.
    /// </summary>
    public static ClipImageProcessor FromModelConfig(JsonConfig modelConfig, LlavaImageAspect aspect)
    {
        int imageSize = modelConfig.Section("vision_config").Int("image_size");
        return new ClipImageProcessor(imageSize, imageSize, imageSize, PilFilter.Bicubic, 1 / 255.0, ChannelStats.OpenAIClip,
            DoResize: true, DoCenterCrop: true, DoRescale: true, DoNormalize: true, aspect,
            Source: $"{modelConfig.File} (vision_config.image_size)").Validated();
    }

    private ClipImageProcessor Validated()
    {
        if (ShortestEdge <= 0 || CropHeight <= 0 || CropWidth <= 0)
            throw new CheckpointFormatException(Source, $"sizes must be positive: shortest_edge {ShortestEdge}, crop {CropHeight}x{CropWidth}");
        return this;
    }

    /// <summary>LLaVA's pad colour: <c>tuple(int(x * 255) for x in image_mean)</c> — truncated, (122, 116, 104) for CLIP.</summary>
    public (byte R, byte G, byte B) PadColor =>
        ((byte)(int)(Stats.Mean[0] * 255), (byte)(int)(Stats.Mean[1] * 255), (byte)(int)(Stats.Mean[2] * 255));

    /// <summary>The uint8 image right before rescale/normalise: padded (if asked), resized, cropped.</summary>
    public RgbImage Prepare(RgbImage image)
    {
        if (Aspect == LlavaImageAspect.PadToSquare) image = ExpandToSquare(image, PadColor);
        if (DoResize)
        {
            var (width, height) = ShortestEdgeSize(image.Width, image.Height, ShortestEdge);
            image = PilResampler.Resize(image, width, height, Resample);
        }
        if (DoCenterCrop) image = CenterCrop(image, CropWidth, CropHeight);
        return image;
    }

    public LlavaImageInput Process(RgbImage image)
    {
        var prepared = Prepare(image);
        var values = new float[3 * prepared.Width * prepared.Height];
        PixelNormalization.HuggingFace(prepared, RescaleFactor, Stats, values, 0, DoRescale, DoNormalize);
        return new LlavaImageInput(tensor(values, [1, 3, prepared.Height, prepared.Width]), prepared);
    }

    /// <summary>
    /// LLaVA's <c>expand2square</c>: a max(w,h) square canvas of <paramref name="color"/> with the image pasted
    /// centred on the short axis at offset (side − short)//2; a square image is returned unchanged.
    /// </summary>
    public static RgbImage ExpandToSquare(RgbImage image, (byte R, byte G, byte B) color)
    {
        if (image.Width == image.Height) return image;
        int side = Math.Max(image.Width, image.Height);
        var canvas = RgbImage.Filled(side, side, color.R, color.G, color.B);
        return image.Width > image.Height
            ? image.PastedOnto(canvas, 0, (side - image.Height) / 2)
            : image.PastedOnto(canvas, (side - image.Width) / 2, 0);
    }

    /// <summary>
    /// transformers' <c>get_resize_output_image_size(default_to_square=False)</c>: the short side becomes
    /// <paramref name="shortestEdge"/>, the long side <c>int(shortest_edge · long / short)</c> (truncated).
    /// </summary>
    public static (int Width, int Height) ShortestEdgeSize(int width, int height, int shortestEdge)
    {
        int shortSide = Math.Min(width, height), longSide = Math.Max(width, height);
        int newLong = (int)((double)((long)shortestEdge * longSide) / shortSide);
        return width <= height ? (shortestEdge, newLong) : (newLong, shortestEdge);
    }

    /// <summary>transformers' <c>center_crop</c>: top = (H − h)//2, left = (W − w)//2.</summary>
    public static RgbImage CenterCrop(RgbImage image, int width, int height)
    {
        if (width > image.Width || height > image.Height)
            throw new ArgumentException(
                $"centre crop {width}x{height} is larger than the resized {image.Width}x{image.Height} image; " +
                "transformers would zero-pad here, which no LLaVA-1.5 config needs (crop size = shortest edge)");
        if (width == image.Width && height == image.Height) return image;
        return image.Crop((image.Width - width) / 2, (image.Height - height) / 2, width, height);
    }
}

/// <summary>Pillow's integer resample codes as HF configs store them (<c>"resample": 3</c> = bicubic).</summary>
public static class PilFilterCodes
{
    public static PilFilter FromPillowCode(int code, string file, string key) => code switch
    {
        1 => PilFilter.Lanczos,
        2 => PilFilter.Bilinear,
        3 => PilFilter.Bicubic,
        4 => PilFilter.Box,
        5 => PilFilter.Hamming,
        0 => throw new CheckpointFormatException(file, $"key '{key}' is 0 (NEAREST), which is not implemented; expected 1..5 (3 = bicubic)"),
        _ => throw new CheckpointFormatException(file, $"key '{key}' is {code}; expected a Pillow filter code 1..5 (3 = bicubic)"),
    };
}
