using System.Buffers.Binary;

namespace UniPrune.Engine.Imaging;

/// <summary>
/// The first frame of a GIF with the pixels of Pillow's <c>Image.open(gif).convert('RGB')</c>. Skia is not used for
/// GIF because it turns the transparent palette index into black, while Pillow keeps that index's palette colour.
/// Pillow's frame-0 rules: the canvas is the logical screen, grown if the frame reaches past it; it starts as the
/// transparent index (or index 0 without one); the frame's LZW indices are written into its rectangle (interlaced
/// rows in the four-pass order); each index then maps through a 256-entry table that starts as the grey ramp
/// (i, i, i) and is overwritten by the frame's palette (local, else global).
/// </summary>
internal static class GifFirstFrame
{
    private const int MaxCodes = 4096;

    public static bool IsGif(ReadOnlySpan<byte> bytes) => bytes.StartsWith("GIF87a"u8) || bytes.StartsWith("GIF89a"u8);

    public static (int Width, int Height) ReadScreenSize(byte[] gif, string source)
    {
        if (gif.Length < 13) throw new ImageDecodeException(source, $"truncated GIF: {gif.Length} bytes, the screen descriptor needs 13");
        return (BinaryPrimitives.ReadUInt16LittleEndian(gif.AsSpan(6)), BinaryPrimitives.ReadUInt16LittleEndian(gif.AsSpan(8)));
    }

    public static RgbImage Decode(byte[] gif, string source, Action<long, long> checkSize)
    {
        var reader = new Reader(gif, source);
        reader.Skip(6);
        int screenWidth = reader.U16(), screenHeight = reader.U16();
        byte flags = reader.U8();
        reader.Skip(2); // background index, aspect ratio: not used for frame 0
        var table = GreyRamp();
        byte[]? globalPalette = (flags & 0x80) != 0 ? reader.Bytes(3 << ((flags & 7) + 1)) : null;

        int? transparentIndex = null;
        while (true)
        {
            byte introducer = reader.U8();
            if (introducer == 0x21) // extension
            {
                byte label = reader.U8();
                byte[] first = reader.SubBlock();
                if (label == 0xF9 && first.Length >= 4 && (first[0] & 1) != 0) transparentIndex = first[3];
                if (first.Length > 0) while (reader.SubBlock().Length > 0) { }
            }
            else if (introducer == 0x2C) break; // image descriptor
            else if (introducer == 0x3B) throw new ImageDecodeException(source, "GIF has no image frame (trailer before any image descriptor)");
            // Pillow skips any other byte here; so do we.
        }

        int left = reader.U16(), top = reader.U16(), frameWidth = reader.U16(), frameHeight = reader.U16();
        byte frameFlags = reader.U8();
        bool interlaced = (frameFlags & 0x40) != 0;
        byte[]? palette = (frameFlags & 0x80) != 0 ? reader.Bytes(3 << ((frameFlags & 7) + 1)) : globalPalette;
        if (palette is not null)
            for (int i = 0; i < Math.Min(256, palette.Length / 3); i++)
                (table[i * 3], table[i * 3 + 1], table[i * 3 + 2]) = (palette[i * 3], palette[i * 3 + 1], palette[i * 3 + 2]);

        int width = Math.Max(screenWidth, left + frameWidth), height = Math.Max(screenHeight, top + frameHeight);
        checkSize(width, height);
        var indices = new byte[(long)width * height];
        if (transparentIndex is int t) Array.Fill(indices, (byte)t);

        int minCodeSize = reader.U8();
        if (minCodeSize < 1 || minCodeSize > 11)
            throw new ImageDecodeException(source, $"corrupt GIF: LZW minimum code size {minCodeSize}; expected 1..11");
        if (frameWidth > 0 && frameHeight > 0)
            DecodeLzw(reader, minCodeSize, indices, width, left, top, frameWidth, frameHeight, interlaced, source);

        var rgb = new byte[indices.LongLength * 3];
        for (long i = 0; i < indices.LongLength; i++)
        {
            int k = indices[i] * 3;
            rgb[i * 3] = table[k]; rgb[i * 3 + 1] = table[k + 1]; rgb[i * 3 + 2] = table[k + 2];
        }
        return new RgbImage(width, height, rgb);
    }

    private static byte[] GreyRamp()
    {
        var table = new byte[256 * 3];
        for (int i = 0; i < 256; i++) table[i * 3] = table[i * 3 + 1] = table[i * 3 + 2] = (byte)i;
        return table;
    }

    private static void DecodeLzw(Reader reader, int minCodeSize, byte[] indices, int stride, int left, int top,
        int frameWidth, int frameHeight, bool interlaced, string source)
    {
        int clear = 1 << minCodeSize, end = clear + 1;
        var prefix = new short[MaxCodes];
        var suffix = new byte[MaxCodes];
        var firstByte = new byte[MaxCodes];
        var stack = new byte[MaxCodes + 1];
        for (int i = 0; i < clear; i++) { suffix[i] = (byte)i; firstByte[i] = (byte)i; prefix[i] = -1; }

        int codeSize = minCodeSize + 1, next = clear + 2, previous = -1;
        long pixelsLeft = (long)frameWidth * frameHeight;
        int x = 0, y = 0, row = 0;

        // Bit reader over the data sub-blocks, least significant bit first.
        int bitBuffer = 0, bitCount = 0;
        byte[] block = reader.SubBlock();
        int blockPos = 0;

        while (pixelsLeft > 0)
        {
            while (bitCount < codeSize)
            {
                if (blockPos == block.Length)
                {
                    if (block.Length == 0) return; // block terminator: Pillow keeps the rest of the canvas as filled
                    block = reader.SubBlock();
                    blockPos = 0;
                    if (block.Length == 0) return;
                }
                bitBuffer |= block[blockPos++] << bitCount;
                bitCount += 8;
            }
            int code = bitBuffer & ((1 << codeSize) - 1);
            bitBuffer >>= codeSize;
            bitCount -= codeSize;

            if (code == clear) { codeSize = minCodeSize + 1; next = clear + 2; previous = -1; continue; }
            if (code == end) break;

            int stackTop = 0;
            if (previous == -1)
            {
                if (code >= clear) throw new ImageDecodeException(source, $"corrupt GIF: LZW code {code} right after a clear code");
                stack[stackTop++] = (byte)code;
            }
            else
            {
                int walk;
                byte first;
                if (code < next) { walk = code; first = firstByte[code]; }
                else if (code == next) { stack[stackTop++] = firstByte[previous]; walk = previous; first = firstByte[previous]; }
                else throw new ImageDecodeException(source, $"corrupt GIF: LZW code {code} beyond the table ({next} entries)");
                for (int c = walk; c != -1; c = prefix[c]) stack[stackTop++] = suffix[c];
                if (next < MaxCodes)
                {
                    prefix[next] = (short)previous;
                    suffix[next] = first;
                    firstByte[next] = firstByte[previous];
                    next++;
                    if (next == 1 << codeSize && codeSize < 12) codeSize++;
                }
            }
            previous = code;

            // The stack holds the string last byte first.
            while (stackTop > 0 && pixelsLeft > 0)
            {
                indices[(long)(top + y) * stride + left + x] = stack[--stackTop];
                pixelsLeft--;
                if (++x == frameWidth)
                {
                    x = 0;
                    row++;
                    y = interlaced ? InterlacedRow(row, frameHeight) : row;
                    if (y >= frameHeight) return;
                }
            }
        }
    }

    // Interlaced GIF rows: pass 1 every 8th row from 0, pass 2 every 8th from 4, pass 3 every 4th from 2, pass 4 every 2nd from 1.
    private static int InterlacedRow(int rowsDone, int height)
    {
        ReadOnlySpan<int> starts = [0, 4, 2, 1];
        ReadOnlySpan<int> steps = [8, 8, 4, 2];
        int remaining = rowsDone;
        for (int pass = 0; pass < 4; pass++)
        {
            int rowsInPass = starts[pass] >= height ? 0 : (height - starts[pass] + steps[pass] - 1) / steps[pass];
            if (remaining < rowsInPass) return starts[pass] + remaining * steps[pass];
            remaining -= rowsInPass;
        }
        return height;
    }

    private sealed class Reader(byte[] bytes, string source)
    {
        private int _position;

        private void Need(int count)
        {
            if (_position + count > bytes.Length)
                throw new ImageDecodeException(source, $"truncated GIF: data ends at byte {bytes.Length} inside a block that needs {_position + count}");
        }

        public void Skip(int count) { Need(count); _position += count; }
        public byte U8() { Need(1); return bytes[_position++]; }
        public int U16() { Need(2); int v = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(_position)); _position += 2; return v; }
        public byte[] Bytes(int count) { Need(count); var b = bytes.AsSpan(_position, count).ToArray(); _position += count; return b; }
        public byte[] SubBlock() => Bytes(U8());
    }
}
