namespace UniPrune.Engine.Imaging;

/// <summary>
/// An 8-bit RGB picture stored row-major as height × width × 3 bytes (HWC), the layout of
/// <c>numpy.asarray(PIL.Image.convert('RGB'))</c>. Immutable by convention: operations return new images.
/// </summary>
public sealed class RgbImage
{
    public int Width { get; }
    public int Height { get; }

    /// <summary>Pixel bytes, index (y · Width + x) · 3 + channel.</summary>
    public byte[] Pixels { get; }

    public RgbImage(int width, int height, byte[] pixels)
    {
        if (width <= 0 || height <= 0)
            throw new ArgumentOutOfRangeException(nameof(width), $"image size {width}x{height}: both sides must be positive");
        if (pixels.LongLength != (long)width * height * 3)
            throw new ArgumentException($"image {width}x{height} needs {(long)width * height * 3} bytes (HWC RGB), got {pixels.LongLength}", nameof(pixels));
        Width = width; Height = height; Pixels = pixels;
    }

    public long PixelCount => (long)Width * Height;

    public static RgbImage Filled(int width, int height, byte r, byte g, byte b)
    {
        var pixels = new byte[checked(width * height * 3)];
        for (int i = 0; i < pixels.Length; i += 3) { pixels[i] = r; pixels[i + 1] = g; pixels[i + 2] = b; }
        return new RgbImage(width, height, pixels);
    }

    /// <summary>Sub-image [left, left+width) × [top, top+height); the box must lie inside the image.</summary>
    public RgbImage Crop(int left, int top, int width, int height)
    {
        if (left < 0 || top < 0 || width <= 0 || height <= 0 || left + width > Width || top + height > Height)
            throw new ArgumentOutOfRangeException(nameof(left),
                $"crop box ({left},{top}) size {width}x{height} does not lie inside the {Width}x{Height} image");
        var pixels = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
            Array.Copy(Pixels, ((top + y) * Width + left) * 3, pixels, y * width * 3, width * 3);
        return new RgbImage(width, height, pixels);
    }

    /// <summary>Copies this image onto <paramref name="canvas"/> (a new image) with its top-left corner at (left, top).</summary>
    public RgbImage PastedOnto(RgbImage canvas, int left, int top)
    {
        if (left < 0 || top < 0 || left + Width > canvas.Width || top + Height > canvas.Height)
            throw new ArgumentOutOfRangeException(nameof(left),
                $"pasting a {Width}x{Height} image at ({left},{top}) does not fit the {canvas.Width}x{canvas.Height} canvas");
        var pixels = (byte[])canvas.Pixels.Clone();
        for (int y = 0; y < Height; y++)
            Array.Copy(Pixels, y * Width * 3, pixels, ((top + y) * canvas.Width + left) * 3, Width * 3);
        return new RgbImage(canvas.Width, canvas.Height, pixels);
    }

    public byte this[int y, int x, int channel] => Pixels[(y * Width + x) * 3 + channel];

    public override string ToString() => $"RgbImage {Width}x{Height}";
}
