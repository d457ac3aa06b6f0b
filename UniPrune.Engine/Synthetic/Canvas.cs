using SkiaSharp;
using UniPrune.Engine.Imaging;

namespace UniPrune.Engine.Synthetic;

/// <summary>An RGB colour with a name the question generators can use in text.</summary>
public readonly record struct NamedColor(string Name, byte R, byte G, byte B);

/// <summary>
/// A mutable RGB drawing surface for the synthetic suite: filled shapes with hard edges (no anti-aliasing, so
/// images are exactly reproducible across machines) and text in the project's bitmap font.
/// </summary>
public sealed class Canvas
{
    public int Width { get; }
    public int Height { get; }
    private readonly byte[] _pixels;

    public Canvas(int width, int height, NamedColor background)
    {
        if (width <= 0 || height <= 0 || (long)width * height > 16_000_000)
            throw new ArgumentOutOfRangeException(nameof(width), $"canvas {width}x{height}: sides must be positive and the area at most 16 Mpx");
        Width = width; Height = height;
        _pixels = new byte[width * height * 3];
        FillRect(0, 0, width, height, background);
    }

    public void SetPixel(int x, int y, NamedColor c)
    {
        if ((uint)x >= (uint)Width || (uint)y >= (uint)Height) return;
        int i = (y * Width + x) * 3;
        _pixels[i] = c.R; _pixels[i + 1] = c.G; _pixels[i + 2] = c.B;
    }

    public void FillRect(int x, int y, int w, int h, NamedColor c)
    {
        int x0 = Math.Max(0, x), y0 = Math.Max(0, y), x1 = Math.Min(Width, x + w), y1 = Math.Min(Height, y + h);
        for (int yy = y0; yy < y1; yy++)
            for (int xx = x0; xx < x1; xx++) SetPixel(xx, yy, c);
    }

    /// <summary>Filled disc of radius r centred at (cx, cy), pixel centres inside the circle.</summary>
    public void FillCircle(int cx, int cy, int r, NamedColor c)
    {
        long r2 = (long)r * r;
        for (int y = cy - r; y <= cy + r; y++)
            for (int x = cx - r; x <= cx + r; x++)
                if ((long)(x - cx) * (x - cx) + (long)(y - cy) * (y - cy) <= r2) SetPixel(x, y, c);
    }

    /// <summary>Filled upward-pointing isosceles triangle inside the box (x, y, size, size).</summary>
    public void FillTriangle(int x, int y, int size, NamedColor c)
    {
        for (int row = 0; row < size; row++)
        {
            double half = (row + 1) * size / (2.0 * size);
            int left = (int)Math.Round(x + size / 2.0 - half), right = (int)Math.Round(x + size / 2.0 + half);
            for (int xx = left; xx < right; xx++) SetPixel(xx, y + row, c);
        }
    }

    /// <summary>Draws <paramref name="text"/> with its top-left at (x, y); each font pixel becomes a scale×scale block.</summary>
    public void DrawText(int x, int y, string text, int scale, NamedColor c)
    {
        if (scale < 1) throw new ArgumentOutOfRangeException(nameof(scale), "text scale must be at least 1");
        for (int i = 0; i < text.Length; i++)
            for (int gy = 0; gy < BitmapFont.GlyphHeight; gy++)
                for (int gx = 0; gx < BitmapFont.GlyphWidth; gx++)
                    if (BitmapFont.Ink(text[i], gx, gy))
                        FillRect(x + (i * BitmapFont.Advance + gx) * scale, y + gy * scale, scale, scale, c);
    }

    public RgbImage ToImage() => new(Width, Height, (byte[])_pixels.Clone());

    /// <summary>Lossless PNG bytes (SkiaSharp encoder; the decoder reads them back bit-exactly).</summary>
    public byte[] EncodePng() => Encode(SKEncodedImageFormat.Png, 100);

    /// <summary>JPEG bytes at the given quality, for samples that should carry compression artefacts.</summary>
    public byte[] EncodeJpeg(int quality) => Encode(SKEncodedImageFormat.Jpeg, quality);

    private byte[] Encode(SKEncodedImageFormat format, int quality)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(Width, Height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var rgba = new byte[Width * Height * 4];
        for (int i = 0, j = 0; i < _pixels.Length; i += 3, j += 4)
        {
            rgba[j] = _pixels[i]; rgba[j + 1] = _pixels[i + 1]; rgba[j + 2] = _pixels[i + 2]; rgba[j + 3] = 255;
        }
        System.Runtime.InteropServices.Marshal.Copy(rgba, 0, bitmap.GetPixels(), rgba.Length);
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(format, quality);
        return data.ToArray();
    }
}
