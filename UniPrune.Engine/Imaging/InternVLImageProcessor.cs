using UniPrune.Engine.Core;
using static TorchSharp.torch;

namespace UniPrune.Engine.Imaging;

/// <summary>
/// InternVL3's vision input: <c>pixel_values</c> [tiles, 3, S, S] — the local tiles row-major, then the thumbnail when
/// there is one — with the chosen grid and the uint8 tiles they were made from.
/// </summary>
public sealed record InternVLImageInput(Tensor PixelValues, int Columns, int Rows, bool HasThumbnail, IReadOnlyList<RgbImage> Tiles)
    : IDisposable
{
    /// <summary>Tiles cut from the resized image (columns × rows), excluding the thumbnail.</summary>
    public int LocalTileCount => Columns * Rows;
    /// <summary>Everything that goes through the ViT: local tiles plus the thumbnail.</summary>
    public int TileCount => LocalTileCount + (HasThumbnail ? 1 : 0);
    public void Dispose() => PixelValues.Dispose();
}

/// <summary>
/// InternVL's <c>dynamic_preprocess</c> + <c>build_transform</c>: choose the tile grid whose aspect ratio is closest
/// to the image's, resize the whole image to it with Pillow bicubic, cut S×S tiles row-major, append a
/// thumbnail (the whole image at S×S) when there is more than one tile, then ToTensor and ImageNet normalisation.
/// The per-tile <c>Resize((S, S))</c> of build_transform is a no-op (Pillow copies same-size images).
/// </summary>
public sealed record InternVLImageProcessor(int TileSize, int MinTiles, int MaxTiles, bool UseThumbnail, ChannelStats Stats, string Source)
{
    /// <summary>
    /// From the remote-code <c>config.json</c>: tile = <c>force_image_size</c> or <c>vision_config.image_size</c>
    /// (as the reference picks it), tiles from <c>min_dynamic_patch</c>/<c>max_dynamic_patch</c>,
    /// <c>use_thumbnail</c>. VLMEvalKit overrides the maximum per dataset (6 for most, 24 for OCRBench): use
    /// <see cref="WithMaxTiles"/>.
    /// </summary>
    public static InternVLImageProcessor FromModelConfig(JsonConfig c)
    {
        int tile = c.Has("force_image_size") ? c.Int("force_image_size") : c.Section("vision_config").Int("image_size");
        var p = new InternVLImageProcessor(tile, c.Int("min_dynamic_patch"), c.Int("max_dynamic_patch"), c.Bool("use_thumbnail"),
            ChannelStats.ImageNet, c.File);
        if (tile <= 0 || p.MinTiles < 1 || p.MaxTiles < p.MinTiles)
            throw new CheckpointFormatException(c.File,
                $"tile size {tile} must be positive and 1 <= min_dynamic_patch {p.MinTiles} <= max_dynamic_patch {p.MaxTiles}");
        return p;
    }

    public InternVLImageProcessor WithMaxTiles(int maxTiles) => maxTiles >= MinTiles
        ? this with { MaxTiles = maxTiles }
        : throw new ArgumentOutOfRangeException(nameof(maxTiles), $"max tiles {maxTiles} is below the minimum {MinTiles}");

    /// <summary>
    /// The reference's grid choice. Candidates (cols, rows) with min ≤ cols·rows ≤ max are visited by ascending tile
    /// count; the first strictly smaller |aspect − cols/rows| wins, and an exact tie moves to the later candidate only
    /// when the image area exceeds half the candidate's pixel area. Grids with the same tile count are visited in
    /// CPython set order there; that order never matters: if (c1, r1) and (c2, r2) share a tile count with
    /// c1 &lt; c2 (so r1 &gt; r2), the grid (c1, r2) has fewer tiles and a ratio strictly between theirs, so it is
    /// strictly closer to any aspect equidistant from both. Fixtures/imaging/decisions.json checks this against CPython.
    /// </summary>
    public static (int Columns, int Rows) ChooseGrid(int width, int height, int minTiles, int maxTiles, int tileSize)
    {
        double aspect = (double)width / height;
        long area = (long)width * height;
        var candidates = new List<(int Cols, int Rows)>();
        for (int cols = 1; cols <= maxTiles; cols++)
            for (int rows = 1; rows <= maxTiles; rows++)
                if (cols * rows >= minTiles && cols * rows <= maxTiles) candidates.Add((cols, rows));
        candidates = candidates.OrderBy(r => r.Cols * r.Rows).ThenBy(r => r.Cols).ToList(); // OrderBy is stable

        (int, int) best = (1, 1);
        double bestDiff = double.PositiveInfinity;
        foreach (var (cols, rows) in candidates)
        {
            double diff = Math.Abs(aspect - (double)cols / rows);
            if (diff < bestDiff) { best = (cols, rows); bestDiff = diff; }
            else if (diff == bestDiff && area > 0.5 * tileSize * tileSize * cols * rows) best = (cols, rows);
        }
        return best;
    }

    /// <summary>The uint8 tiles right before ToTensor: local tiles row-major, then the thumbnail if any.</summary>
    public (IReadOnlyList<RgbImage> Tiles, int Columns, int Rows, bool HasThumbnail) Prepare(RgbImage image)
    {
        var (cols, rows) = ChooseGrid(image.Width, image.Height, MinTiles, MaxTiles, TileSize);
        var resized = PilResampler.Resize(image, TileSize * cols, TileSize * rows, PilFilter.Bicubic);
        var tiles = new List<RgbImage>(cols * rows + 1);
        for (int i = 0; i < cols * rows; i++)
            tiles.Add(resized.Crop(i % cols * TileSize, i / cols * TileSize, TileSize, TileSize));
        bool thumbnail = UseThumbnail && tiles.Count != 1;
        if (thumbnail) tiles.Add(PilResampler.Resize(image, TileSize, TileSize, PilFilter.Bicubic));
        return (tiles, cols, rows, thumbnail);
    }

    public InternVLImageInput Process(RgbImage image)
    {
        var (tiles, cols, rows, thumbnail) = Prepare(image);
        int tileValues = 3 * TileSize * TileSize;
        var values = new float[tiles.Count * tileValues];
        for (int i = 0; i < tiles.Count; i++) PixelNormalization.Torchvision(tiles[i], Stats, values, i * tileValues);
        return new InternVLImageInput(tensor(values, [tiles.Count, 3, TileSize, TileSize]), cols, rows, thumbnail, tiles);
    }
}
