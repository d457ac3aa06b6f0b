using System.Buffers.Binary;
using SkiaSharp;
using StbImageSharp;

namespace UniPrune.Engine.Imaging;

/// <summary>An image that could not be decoded; the message names the source (file path or sample id) and the problem.</summary>
public sealed class ImageDecodeException : Exception
{
    /// <summary>The file path or sample id of the image (Exception.Source is taken by .NET).</summary>
    public string ImageSource { get; }
    public string Problem { get; }

    public ImageDecodeException(string source, string problem, Exception? inner = null)
        : base($"{source}: {problem}", inner)
    {
        ImageSource = source; Problem = problem;
    }
}

/// <summary>Decoder limits.</summary>
public sealed record ImageDecodeOptions
{
    /// <summary>Pillow raises DecompressionBombError above 2 × MAX_IMAGE_PIXELS (2 × 89,478,485); we refuse the same.</summary>
    public const long PillowDecompressionBombPixels = 2L * 89_478_485;

    /// <summary>Images with more pixels than this are refused from their header, before any pixel is decoded.</summary>
    public long MaxPixels { get; init; } = PillowDecompressionBombPixels;

    public static ImageDecodeOptions Default { get; } = new();
}

/// <summary>
/// Decodes encoded image bytes into <see cref="RgbImage"/> with the pixels of Pillow's
/// <c>Image.open(...).convert('RGB')</c>. PNG goes through StbImageSharp (bit-exact with Pillow, and like
/// Pillow it drops alpha without compositing for RGBA, LA and palette images); JPEG and every other format
/// SkiaSharp reads go through SkiaSharp, whose libjpeg-turbo decode is bit-exact with Pillow's
/// (StbImageSharp's JPEG differs by up to 3 levels). Skia decodes unpremultiplied, with no colour-space
/// conversion, and EXIF orientation is ignored — as <c>Image.open</c> ignores it. 16-bit grayscale PNG, which
/// Pillow clamps rather than scales, has its own reader (<see cref="Gray16Png"/>), and so does GIF
/// (<see cref="GifFirstFrame"/>: Skia blacks out the transparent index, Pillow keeps its palette colour). Checked bit
/// for bit against Pillow 9.4 in Fixtures/imaging/decode (JPEG baseline/progressive/4:2:0/4:2:2/4:4:4/gray/CMYK/
/// EXIF-rotated; PNG RGB/RGBA/LA/L/1-bit/palette 4- and 8-bit with tRNS/16-bit RGB and gray; GIF opaque/transparent/
/// interlaced/offset frame/frame past the screen/256 colours; BMP; lossless WebP).
/// </summary>
public static class ImageDecoder
{
    private static ReadOnlySpan<byte> PngSignature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    public static RgbImage DecodeFile(string path, ImageDecodeOptions? options = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: image file not found", path);
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (IOException e) { throw new ImageDecodeException(path, $"cannot be read ({e.Message})", e); }
        return Decode(bytes, path, options);
    }

    /// <param name="source">What to call these bytes in errors: a file path or a dataset sample id.</param>
    public static RgbImage Decode(byte[] bytes, string source, ImageDecodeOptions? options = null)
    {
        options ??= ImageDecodeOptions.Default;
        if (bytes.Length == 0) throw new ImageDecodeException(source, "is empty (0 bytes); expected PNG, JPEG or another image format");
        if (bytes.AsSpan().StartsWith(PngSignature)) return DecodePng(bytes, source, options);
        if (GifFirstFrame.IsGif(bytes)) return GifFirstFrame.Decode(bytes, source, (w, h) => CheckSize(w, h, source, options));
        return DecodeWithSkia(bytes, source, options);
    }

    /// <summary>Width and height from the header alone (no pixel decoding).</summary>
    public static (int Width, int Height) ReadSize(byte[] bytes, string source)
    {
        if (bytes.Length == 0) throw new ImageDecodeException(source, "is empty (0 bytes); expected PNG, JPEG or another image format");
        if (bytes.AsSpan().StartsWith(PngSignature)) return ReadPngHeaderSize(bytes, source);
        if (GifFirstFrame.IsGif(bytes)) return GifFirstFrame.ReadScreenSize(bytes, source);
        using var codec = CreateCodec(bytes, source);
        return (codec.Info.Width, codec.Info.Height);
    }

    private static RgbImage DecodePng(byte[] bytes, string source, ImageDecodeOptions options)
    {
        var (width, height) = ReadPngHeaderSize(bytes, source);
        CheckSize(width, height, source, options);
        const int bitDepthOffset = 24, colorTypeOffset = 25, interlaceOffset = 28;
        if (bytes.Length > interlaceOffset && bytes[bitDepthOffset] == 16 && bytes[colorTypeOffset] == 0)
            return Gray16Png.Decode(bytes, width, height, interlaced: bytes[interlaceOffset] != 0, source);
        ImageResult decoded;
        try { decoded = ImageResult.FromMemory(bytes, ColorComponents.RedGreenBlue); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new ImageDecodeException(source, $"PNG data is corrupt or truncated ({e.Message}) after a valid {width}x{height} header", e);
        }
        if (decoded is null || decoded.Data is null)
            throw new ImageDecodeException(source, $"PNG data could not be decoded after a valid {width}x{height} header");
        if (decoded.Width != width || decoded.Height != height || decoded.Data.Length != (long)width * height * 3)
            throw new ImageDecodeException(source, $"PNG decoder returned {decoded.Width}x{decoded.Height} ({decoded.Data.Length} bytes) for a {width}x{height} header");
        return new RgbImage(width, height, decoded.Data);
    }

    private static (int Width, int Height) ReadPngHeaderSize(byte[] bytes, string source)
    {
        // Signature (8) + IHDR chunk length (4) + type (4) + width (4) + height (4).
        if (bytes.Length < 24)
            throw new ImageDecodeException(source, $"truncated PNG: {bytes.Length} bytes, the IHDR header needs 24");
        if (BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(8)) != 13 || !bytes.AsSpan(12, 4).SequenceEqual("IHDR"u8))
            throw new ImageDecodeException(source, "corrupt PNG: the first chunk is not a 13-byte IHDR");
        uint width = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(16));
        uint height = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(20));
        if (width > int.MaxValue || height > int.MaxValue)
            throw new ImageDecodeException(source, $"PNG header claims {width}x{height} pixels, beyond the PNG limit of 2^31-1 per side");
        return ((int)width, (int)height);
    }

    private static void CheckSize(long width, long height, string source, ImageDecodeOptions options)
    {
        if (width <= 0 || height <= 0)
            throw new ImageDecodeException(source, $"image header says {width}x{height}: an image needs at least one pixel");
        if (width * height > options.MaxPixels)
            throw new ImageDecodeException(source,
                $"image header says {width}x{height} = {width * height} pixels, above the limit of {options.MaxPixels} " +
                "(a possible decompression bomb; raise ImageDecodeOptions.MaxPixels if the image is genuine)");
    }

    private static SKCodec CreateCodec(byte[] bytes, string source)
    {
        // The codec owns the stream wrapper and reads the header now, the pixels only in GetPixels.
        var codec = SKCodec.Create(new MemoryStream(bytes, writable: false), out var result);
        if (codec is null)
        {
            string head = Convert.ToHexString(bytes.AsSpan(0, Math.Min(8, bytes.Length)));
            string problem = result switch
            {
                SKCodecResult.IncompleteInput => $"truncated image: the header is incomplete ({bytes.Length} bytes)",
                SKCodecResult.InvalidInput or SKCodecResult.ErrorInInput => $"corrupt image header ({result}; first bytes {head})",
                _ => $"not a recognised image format (first bytes {head}, {bytes.Length} bytes); expected PNG, JPEG, WebP, GIF or BMP",
            };
            throw new ImageDecodeException(source, problem);
        }
        return codec;
    }

    private static unsafe RgbImage DecodeWithSkia(byte[] bytes, string source, ImageDecodeOptions options)
    {
        using var codec = CreateCodec(bytes, source);
        int width = codec.Info.Width, height = codec.Info.Height;
        CheckSize(width, height, source, options);
        // Unpremultiplied RGBA with no colour space: the stored colour values, untouched, alpha kept apart.
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var rgba = new byte[checked((long)width * height * 4)];
        SKCodecResult result;
        fixed (byte* p = rgba) result = codec.GetPixels(info, (IntPtr)p);
        if (result != SKCodecResult.Success)
        {
            string problem = result == SKCodecResult.IncompleteInput
                ? $"truncated {codec.EncodedFormat} data: the {width}x{height} image ends early ({bytes.Length} bytes)"
                : $"corrupt {codec.EncodedFormat} data ({result}) in a {width}x{height} image";
            throw new ImageDecodeException(source, problem);
        }
        var rgb = new byte[(long)width * height * 3];
        for (long i = 0, j = 0; j < rgb.Length; i += 4, j += 3)
        {
            rgb[j] = rgba[i]; rgb[j + 1] = rgba[i + 1]; rgb[j + 2] = rgba[i + 2];
        }
        return new RgbImage(width, height, rgb);
    }
}
