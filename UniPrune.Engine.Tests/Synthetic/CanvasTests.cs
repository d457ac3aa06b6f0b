using UniPrune.Engine.Imaging;
using UniPrune.Engine.Synthetic;

namespace UniPrune.Engine.Tests.Synthetic;

public class CanvasTests
{
    private static readonly NamedColor White = new("white", 255, 255, 255), Black = new("black", 0, 0, 0), Red = new("red", 220, 30, 30);

    [Fact]
    public void PngRoundTripsBitExactly()
    {
        var canvas = new Canvas(61, 37, White);
        canvas.FillCircle(20, 18, 9, Red);
        canvas.FillTriangle(35, 5, 20, Black);
        canvas.DrawText(2, 28, "A1b?", 1, Black);
        var decoded = ImageDecoder.Decode(canvas.EncodePng(), "canvas.png");
        Assert.Equal(canvas.ToImage().Pixels, decoded.Pixels);
    }

    [Fact]
    public void TextIsDrawnGlyphForGlyph()
    {
        var canvas = new Canvas(BitmapFont.MeasureWidth("10", 2), BitmapFont.GlyphHeight * 2, White);
        canvas.DrawText(0, 0, "10", 2, Black);
        var img = canvas.ToImage();
        for (int y = 0; y < img.Height; y++)
            for (int x = 0; x < img.Width; x++)
            {
                int glyph = x / (BitmapFont.Advance * 2), gx = x / 2 % BitmapFont.Advance, gy = y / 2;
                bool ink = gx < BitmapFont.GlyphWidth && BitmapFont.Ink("10"[glyph], gx, gy);
                Assert.Equal(ink ? 0 : 255, img[y, x, 0]);
            }
    }

    [Fact]
    public void EveryPrintableAsciiCharacterHasADistinctGlyph()
    {
        var seen = new Dictionary<string, char>();
        for (char c = ' '; c <= '~'; c++)
        {
            Assert.True(BitmapFont.Has(c), $"no glyph for '{c}'");
            var key = string.Concat(Enumerable.Range(0, 35).Select(i => BitmapFont.Ink(c, i % 5, i / 5) ? '#' : '.'));
            Assert.False(seen.TryGetValue(key, out var twin), $"'{c}' and '{twin}' share a glyph");
            seen[key] = c;
        }
        Assert.Throws<ArgumentException>(() => BitmapFont.Ink('é', 0, 0));
    }
}
