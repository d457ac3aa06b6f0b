using System.Buffers.Binary;
using System.IO.Compression;

namespace UniPrune.Engine.Imaging;

/// <summary>
/// 16-bit grayscale PNG, the one PNG kind where Pillow's <c>convert('RGB')</c> is not "take the high byte": Pillow
/// opens it as 32-bit integers (mode I) and converting I to RGB clamps each value to 0..255. StbImageSharp would
/// return the high byte instead, so this small decoder reads the raw samples (non-interlaced only).
/// </summary>
internal static class Gray16Png
{
    public static RgbImage Decode(byte[] png, int width, int height, bool interlaced, string source)
    {
        if (interlaced)
            throw new ImageDecodeException(source, $"interlaced 16-bit grayscale PNG ({width}x{height}) is not supported; re-save it without interlacing");
        byte[] filtered = InflateIdat(png, source, width, height);
        int stride = width * 2;
        long needed = (long)(stride + 1) * height;
        if (filtered.Length < needed)
            throw new ImageDecodeException(source, $"PNG data is corrupt or truncated: {filtered.Length} bytes of pixel data, a {width}x{height} 16-bit grayscale image needs {needed}");

        var rgb = new byte[(long)width * height * 3];
        var previous = new byte[stride];
        var current = new byte[stride];
        for (int y = 0; y < height; y++)
        {
            int rowStart = y * (stride + 1);
            byte filter = filtered[rowStart];
            Array.Copy(filtered, rowStart + 1, current, 0, stride);
            Unfilter(filter, current, previous, bytesPerPixel: 2, source, y);
            for (int x = 0; x < width; x++)
            {
                int value = BinaryPrimitives.ReadUInt16BigEndian(current.AsSpan(x * 2));
                byte clipped = (byte)Math.Min(value, 255);
                long o = ((long)y * width + x) * 3;
                rgb[o] = rgb[o + 1] = rgb[o + 2] = clipped;
            }
            (previous, current) = (current, previous);
        }
        return new RgbImage(width, height, rgb);
    }

    private static byte[] InflateIdat(byte[] png, string source, int width, int height)
    {
        using var compressed = new MemoryStream();
        int offset = 8;
        bool sawEnd = false;
        while (offset + 8 <= png.Length)
        {
            int length = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(offset)), int.MaxValue);
            var type = png.AsSpan(offset + 4, 4);
            if ((long)offset + 12 + length > png.Length)
                throw new ImageDecodeException(source, $"truncated PNG: chunk '{System.Text.Encoding.ASCII.GetString(type)}' at byte {offset} runs past the end ({png.Length} bytes) of a valid {width}x{height} header");
            if (type.SequenceEqual("IDAT"u8)) compressed.Write(png, offset + 8, length);
            if (type.SequenceEqual("IEND"u8)) { sawEnd = true; break; }
            offset += 12 + length;
        }
        if (!sawEnd)
            throw new ImageDecodeException(source, $"truncated PNG: no IEND chunk after a valid {width}x{height} header");
        compressed.Position = 0;
        try
        {
            using var inflater = new ZLibStream(compressed, CompressionMode.Decompress);
            using var raw = new MemoryStream();
            inflater.CopyTo(raw);
            return raw.ToArray();
        }
        catch (InvalidDataException e)
        {
            throw new ImageDecodeException(source, $"PNG data is corrupt or truncated ({e.Message}) after a valid {width}x{height} header", e);
        }
    }

    /// <summary>Reverses one PNG row filter in place (types 0–4: none, sub, up, average, Paeth).</summary>
    private static void Unfilter(byte filter, byte[] row, byte[] above, int bytesPerPixel, string source, int y)
    {
        for (int i = 0; i < row.Length; i++)
        {
            int left = i >= bytesPerPixel ? row[i - bytesPerPixel] : 0;
            int up = above[i];
            int upLeft = i >= bytesPerPixel ? above[i - bytesPerPixel] : 0;
            int predictor = filter switch
            {
                0 => 0,
                1 => left,
                2 => up,
                3 => (left + up) >> 1,
                4 => Paeth(left, up, upLeft),
                _ => throw new ImageDecodeException(source, $"PNG data is corrupt: row {y} has filter type {filter}; expected 0..4"),
            };
            row[i] = (byte)(row[i] + predictor);
        }
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c;
        int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
}
