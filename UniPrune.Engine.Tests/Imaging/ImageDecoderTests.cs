using System.Buffers.Binary;
using UniPrune.Engine.Imaging;

namespace UniPrune.Engine.Tests.Imaging;

public class ImageDecoderTests
{
    public static IEnumerable<object[]> Cases() =>
        ImagingFixtures.Json("decode", "cases.json").GetProperty("cases").EnumerateArray()
            .Select(c => new object[] { c.GetProperty("file").GetString()!, c.GetProperty("expected").GetString()! });

    /// <summary>Each file decodes to exactly the pixels of Pillow's Image.open(f).convert('RGB').</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void Decode_equals_pillow_convert_rgb(string file, string expected)
    {
        var actual = ImagingFixtures.Load("decode", file);
        ImagingFixtures.AssertIdentical(ImagingFixtures.Load("decode", expected), actual, file);
    }

    [Fact]
    public void Golden_png_equals_the_stored_uint8_tensor()
    {
        foreach (var family in new[] { "llava", "qwen2_5_vl", "internvl3" })
        {
            string dir = TestPaths.Golden(family);
            var image = ImageDecoder.DecodeFile(Path.Combine(dir, "image.png"));
            using var inputs = UniPrune.Engine.Core.SafetensorsFile.Open(Path.Combine(dir, "inputs.safetensors"));
            using var stored = inputs.Read("image_uint8_hwc");
            Assert.Equal(new long[] { image.Height, image.Width, 3 }, stored.shape);
            Assert.Equal(stored.data<byte>().ToArray(), image.Pixels);
        }
    }

    private static ImageDecodeException DecodeFails(byte[] bytes, string source, ImageDecodeOptions? options = null)
    {
        var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(bytes, source, options));
        Assert.StartsWith(source + ": ", e.Message);
        Assert.Equal(source, e.ImageSource);
        return e;
    }

    [Fact]
    public void Empty_bytes_are_refused_naming_the_sample()
    {
        var e = DecodeFails([], "MME/123");
        Assert.Contains("empty (0 bytes)", e.Message);
    }

    [Fact]
    public void Zero_byte_file_is_refused_naming_the_path()
    {
        string path = Path.Combine(TestPaths.NewTempDir(), "empty.png");
        File.WriteAllBytes(path, []);
        var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.DecodeFile(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("empty", e.Message);
    }

    [Fact]
    public void Missing_file_names_the_path()
    {
        string path = Path.Combine(TestPaths.NewTempDir(), "nope.jpg");
        var e = Assert.Throws<FileNotFoundException>(() => ImageDecoder.DecodeFile(path));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void Random_bytes_are_not_an_image()
    {
        var bytes = new byte[500];
        new Random(7).NextBytes(bytes);
        bytes[0] = 0x42; // not a PNG/JPEG/GIF/BMP/WebP signature
        var e = DecodeFails(bytes, "POPE/sample-9");
        Assert.Contains("not a recognised image format", e.Message);
    }

    [Fact]
    public void Text_file_is_not_an_image()
    {
        var e = DecodeFails("index\tquestion\tanswer\n1\tIs there a dog?\tyes\n"u8.ToArray(), "data.tsv");
        Assert.Contains("not a recognised image format", e.Message);
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.9)]
    public void Truncated_png_is_refused(double keepFraction)
    {
        var bytes = File.ReadAllBytes(ImagingFixtures.Path_("resize", "s100x75.png"));
        var cut = bytes.AsSpan(0, (int)(bytes.Length * keepFraction)).ToArray();
        var e = DecodeFails(cut, "cut.png");
        Assert.Contains("PNG", e.Message);
        Assert.Contains("100x75", e.Message);
    }

    [Fact]
    public void Truncated_16bit_grayscale_png_is_refused()
    {
        var bytes = File.ReadAllBytes(ImagingFixtures.Path_("decode", "gray16_all_filters.png"));
        var e = DecodeFails(bytes.AsSpan(0, bytes.Length - 20).ToArray(), "cut16.png");
        Assert.Contains("truncated PNG", e.Message);
        Assert.Contains("13x9", e.Message);
    }

    [Fact]
    public void Png_cut_inside_its_header_is_refused()
    {
        var bytes = File.ReadAllBytes(ImagingFixtures.Path_("resize", "s100x75.png"));
        var e = DecodeFails(bytes.AsSpan(0, 15).ToArray(), "head.png");
        Assert.Contains("truncated PNG", e.Message);
    }

    [Fact]
    public void Truncated_jpeg_is_refused()
    {
        var bytes = File.ReadAllBytes(ImagingFixtures.Path_("decode", "baseline_q90_420.jpg"));
        var e = DecodeFails(bytes.AsSpan(0, bytes.Length / 2).ToArray(), "cut.jpg");
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void Truncated_gif_is_refused()
    {
        var bytes = File.ReadAllBytes(ImagingFixtures.Path_("decode", "colors256.gif"));
        var e = DecodeFails(bytes.AsSpan(0, bytes.Length / 2).ToArray(), "cut.gif");
        Assert.Contains("truncated GIF", e.Message);
    }

    [Fact]
    public void Absurd_gif_screen_is_refused_before_decoding()
    {
        var bytes = File.ReadAllBytes(ImagingFixtures.Path_("decode", "opaque.gif"));
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(6), 65000);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), 65000);
        var e = DecodeFails(bytes, "bomb.gif");
        Assert.Contains("65000x65000", e.Message);
        Assert.Contains("above the limit", e.Message);
    }

    [Fact]
    public void Corrupt_gif_lzw_stream_is_refused()
    {
        var bytes = File.ReadAllBytes(ImagingFixtures.Path_("decode", "colors256.gif"));
        int descriptor = Array.IndexOf(bytes, (byte)0x2C, 13 + (3 << ((bytes[10] & 7) + 1)));
        int data = descriptor + 10 + 1 + 1; // descriptor, LZW code size, first sub-block length
        for (int i = data; i < data + 40; i++) bytes[i] = 0xFF; // all-ones codes: beyond the table right away
        var e = DecodeFails(bytes, "corrupt.gif");
        Assert.Contains("corrupt GIF", e.Message);
    }

    [Fact]
    public void Corrupt_png_data_is_refused()
    {
        var bytes = File.ReadAllBytes(ImagingFixtures.Path_("resize", "s100x75.png"));
        // Overwrite the compressed stream after the IHDR chunk (signature 8 + IHDR 25 + IDAT length/type 8).
        for (int i = 41 + 2; i < Math.Min(bytes.Length - 12, 400); i++) bytes[i] = 0xFF;
        var e = DecodeFails(bytes, "corrupt.png");
        Assert.Contains("corrupt or truncated", e.Message);
    }

    private static byte[] PngWithHeaderSize(uint width, uint height)
    {
        var bytes = File.ReadAllBytes(ImagingFixtures.Path_("resize", "s5x3.png"));
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(16), width);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(20), height);
        return bytes;
    }

    [Fact]
    public void Absurd_png_header_is_refused_before_decoding()
    {
        var e = DecodeFails(PngWithHeaderSize(100_000, 100_000), "bomb.png");
        Assert.Contains("100000x100000", e.Message);
        Assert.Contains("above the limit of 178956970", e.Message);
    }

    [Fact]
    public void Zero_size_png_header_is_refused()
    {
        var e = DecodeFails(PngWithHeaderSize(0, 3), "zero.png");
        Assert.Contains("0x3", e.Message);
        Assert.Contains("at least one pixel", e.Message);
    }

    [Fact]
    public void Absurd_jpeg_header_is_refused_before_decoding()
    {
        var bytes = File.ReadAllBytes(ImagingFixtures.Path_("decode", "baseline_q90_420.jpg"));
        int sof = FindMarker(bytes, 0xC0);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(sof + 5), 60000); // height
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(sof + 7), 60000); // width
        var e = DecodeFails(bytes, "bomb.jpg");
        Assert.Contains("60000x60000", e.Message);
        Assert.Contains("above the limit", e.Message);
    }

    [Fact]
    public void Pixel_limit_is_configurable()
    {
        var bytes = File.ReadAllBytes(ImagingFixtures.Path_("resize", "s100x75.png"));
        var e = DecodeFails(bytes, "big.png", new ImageDecodeOptions { MaxPixels = 7499 });
        Assert.Contains("7500 pixels, above the limit of 7499", e.Message);
        Assert.Equal(100, ImageDecoder.Decode(bytes, "ok.png", new ImageDecodeOptions { MaxPixels = 7500 }).Width);
    }

    [Fact]
    public void Size_is_read_from_the_header()
    {
        Assert.Equal((61, 47), ImageDecoder.ReadSize(File.ReadAllBytes(ImagingFixtures.Path_("decode", "progressive_q85.jpg")), "p.jpg"));
        Assert.Equal((100_000, 100_000), ImageDecoder.ReadSize(PngWithHeaderSize(100_000, 100_000), "bomb.png"));
    }

    private static int FindMarker(byte[] jpeg, byte marker)
    {
        for (int i = 2; i + 1 < jpeg.Length; i++)
            if (jpeg[i] == 0xFF && jpeg[i + 1] == marker) return i;
        throw new InvalidDataException($"JPEG marker FF{marker:X2} not found");
    }
}
