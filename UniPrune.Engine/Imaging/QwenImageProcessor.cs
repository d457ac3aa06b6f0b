using UniPrune.Engine.Core;
using UniPrune.Engine.Models.Qwen25VL;
using static TorchSharp.torch;

namespace UniPrune.Engine.Imaging;

/// <summary>
/// Qwen2.5-VL's vision input: <c>pixel_values</c> [grid_h·grid_w, C·T·P·P] in merge-block order,
/// <c>image_grid_thw</c>, and the resized uint8 image they were cut from.
/// </summary>
public sealed record QwenImageInput(Tensor PixelValues, GridThw Grid, RgbImage ResizedImage) : IDisposable
{
    public void Dispose() => PixelValues.Dispose();
}

/// <summary>
/// qwen-vl-utils' <c>fetch_image</c> (smart_resize + Pillow bicubic) followed by transformers'
/// <c>Qwen2VLImageProcessor</c> (slow): rescale, normalise, duplicate the frame over the temporal patch, and flatten
/// patches grouped by merge block. VLMEvalKit resizes with its own pixel bounds first; the processor's second
/// smart_resize then finds the size already valid and Pillow returns a copy, so one smart_resize with the run's
/// bounds is the whole story (as long as those bounds sit inside the processor's own, 3136 … 12,845,056).
/// </summary>
public sealed record QwenImageProcessor(
    int MinPixels,
    int MaxPixels,
    int PatchSize,
    int TemporalPatchSize,
    int MergeSize,
    double RescaleFactor,
    ChannelStats Stats,
    string Source)
{
    /// <summary>qwen-vl-utils refuses images whose long side is more than 200 times the short side.</summary>
    public const int MaxAspectRatio = 200;

    /// <summary>The paper's bounds: 256·28² … 1280·28² pixels (VLMEvalKit has per-dataset overrides).</summary>
    public QwenImageProcessor WithPaperPixelBounds() => this with { MinPixels = 256 * 28 * 28, MaxPixels = 1280 * 28 * 28 };

    public int Factor => PatchSize * MergeSize;
    public int PatchVectorLength => 3 * TemporalPatchSize * PatchSize * PatchSize;

    /// <summary>
    /// Reads an HF <c>preprocessor_config.json</c> of <c>Qwen2VLImageProcessor</c> type. Sizes and statistics are
    /// required; <c>rescale_factor</c> falls back to the class default 1/255 (the hub file does not write it).
    /// </summary>
    public static QwenImageProcessor FromPreprocessorConfig(string path)
    {
        var c = JsonConfig.Load(path);
        var stats = new ChannelStats(c.DoubleArray("image_mean"), c.DoubleArray("image_std"));
        try { stats.Validate(path); }
        catch (ArgumentException e) { throw new CheckpointFormatException(path, e.Message); }
        var p = new QwenImageProcessor(
            MinPixels: c.Int("min_pixels"),
            MaxPixels: c.Int("max_pixels"),
            PatchSize: c.Int("patch_size"),
            TemporalPatchSize: c.Int("temporal_patch_size"),
            MergeSize: c.Int("merge_size"),
            RescaleFactor: c.DoubleOr("rescale_factor", 1 / 255.0),
            Stats: stats,
            Source: path);
        if (p.PatchSize <= 0 || p.MergeSize <= 0 || p.TemporalPatchSize <= 0 || p.MinPixels <= 0 || p.MaxPixels < p.MinPixels)
            throw new CheckpointFormatException(path,
                $"patch_size {p.PatchSize}, merge_size {p.MergeSize}, temporal_patch_size {p.TemporalPatchSize} must be positive and 0 < min_pixels {p.MinPixels} <= max_pixels {p.MaxPixels}");
        return p;
    }

    /// <summary>
    /// qwen-vl-utils' smart_resize: round each side to a multiple of <paramref name="factor"/> (half to even, like
    /// Python's round), then scale into [minPixels, maxPixels] keeping the aspect ratio. Returns (height, width).
    /// </summary>
    public static (int Height, int Width) SmartResize(int height, int width, int factor, int minPixels, int maxPixels, string source = "image")
    {
        if (height <= 0 || width <= 0)
            throw new ArgumentException($"{source}: image size {width}x{height} must be positive");
        double aspect = (double)Math.Max(height, width) / Math.Min(height, width);
        if (aspect > MaxAspectRatio)
            throw new ArgumentException($"{source}: aspect ratio {aspect:0.###} of the {width}x{height} image exceeds {MaxAspectRatio}, which Qwen2.5-VL's smart_resize refuses");
        // Math.Round defaults to MidpointRounding.ToEven, the same as Python 3's round().
        long hBar = Math.Max(factor, (long)Math.Round((double)height / factor) * factor);
        long wBar = Math.Max(factor, (long)Math.Round((double)width / factor) * factor);
        if (hBar * wBar > maxPixels)
        {
            double beta = Math.Sqrt((double)((long)height * width) / maxPixels);
            // newer qwen-vl-utils keep at least one factor here; older ones could return 0 for extreme shapes.
            hBar = Math.Max(factor, (long)Math.Floor(height / beta / factor) * factor);
            wBar = Math.Max(factor, (long)Math.Floor(width / beta / factor) * factor);
        }
        else if (hBar * wBar < minPixels)
        {
            double beta = Math.Sqrt(minPixels / (double)((long)height * width));
            hBar = (long)Math.Ceiling(height * beta / factor) * factor;
            wBar = (long)Math.Ceiling(width * beta / factor) * factor;
        }
        return (checked((int)hBar), checked((int)wBar));
    }

    /// <summary>The uint8 image right before rescale/normalise: smart_resize, then Pillow bicubic.</summary>
    public RgbImage Prepare(RgbImage image, string source = "image")
    {
        var (height, width) = SmartResize(image.Height, image.Width, Factor, MinPixels, MaxPixels, source);
        return PilResampler.Resize(image, width, height, PilFilter.Bicubic);
    }

    public QwenImageInput Process(RgbImage image, string source = "image")
    {
        var resized = Prepare(image, source);
        var chw = new float[3 * resized.Width * resized.Height];
        PixelNormalization.HuggingFace(resized, RescaleFactor, Stats, chw);
        var grid = new GridThw(1, resized.Height / PatchSize, resized.Width / PatchSize);
        float[] patches = FlattenPatches(chw, resized.Height, resized.Width);
        return new QwenImageInput(tensor(patches, [grid.Patches, PatchVectorLength]), grid, resized);
    }

    /// <summary>
    /// Rows in merge-block order (block row, block column, row in block, column in block), each row laid out
    /// [channel][temporal][y][x]; a still image fills every temporal slice with the same frame.
    /// </summary>
    private float[] FlattenPatches(float[] chw, int height, int width)
    {
        int p = PatchSize, m = MergeSize, t = TemporalPatchSize;
        int gridH = height / p, gridW = width / p;
        int plane = height * width, rowLength = PatchVectorLength;
        var output = new float[gridH * gridW * rowLength];
        int row = 0;
        for (int blockY = 0; blockY < gridH / m; blockY++)
            for (int blockX = 0; blockX < gridW / m; blockX++)
                for (int inY = 0; inY < m; inY++)
                    for (int inX = 0; inX < m; inX++, row++)
                    {
                        int top = (blockY * m + inY) * p, left = (blockX * m + inX) * p;
                        int o = row * rowLength;
                        for (int c = 0; c < 3; c++)
                            for (int frame = 0; frame < t; frame++)
                                for (int y = 0; y < p; y++, o += p)
                                    Array.Copy(chw, c * plane + (top + y) * width + left, output, o, p);
                    }
        return output;
    }
}
