using UniPrune.Engine.Core;
using UniPrune.Engine.Imaging;
using UniPrune.Engine.Synthetic;
using UniPrune.Engine.Training;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Training;

/// <summary>
/// The symbol head's targets line up with the tokens: a token's box, mapped through each family's real preprocessing,
/// is where its objects and glyphs are drawn in the pixels that token sees.
/// </summary>
public class SymbolTargetTests(ITestOutputHelper log)
{
    private static readonly ClipImageProcessor Llava = ClipImageProcessor.FromModelConfig(
        JsonConfig.Parse("""{"vision_config": {"image_size": 112}}""", "config.json"), LlavaImageAspect.PadToSquare);
    private static readonly QwenImageProcessor Qwen = new(12544, 50176, 14, 2, 2, 1 / 255.0, ChannelStats.OpenAIClip, "test");
    private static readonly InternVLImageProcessor InternVL = new(112, 1, 6, true, ChannelStats.ImageNet, "test");

    [Fact]
    public void ARedSquareCoversExactlyItsTokensUnderItsKind()
    {
        // 112x112, LLaVA's 14-px grid without padding or scaling: a 28-px red square at (14..42, 28..56) covers tokens (2,1) (2,2) (3,1) (3,2).
        var red = Palette.Colors.First(c => c.Name == "red");
        var scene = new Scene(112, 112, Palette.White, [new SceneObject(ShapeKind.Square, red, 28, 42, 28)], []);
        var boxes = SymbolTargets.LlavaTokens(Llava, 112, 112, 14);
        Assert.Equal(64, boxes.Count);
        Assert.Equal(new Box(14, 28, 28, 42), boxes[2 * 8 + 1]);
        var targets = SymbolTargets.For(scene, boxes);
        int kind = Palette.Colors.ToList().IndexOf(red) * Palette.Shapes.Count + Palette.Shapes.ToList().IndexOf(ShapeKind.Square);
        for (int t = 0; t < 64; t++)
        {
            bool inside = t is 17 or 18 or 25 or 26;
            for (int q = 0; q < SymbolTargets.Quarters; q++)
                Assert.Equal(inside ? 1f : 0f, targets[t, kind * SymbolTargets.Quarters + q].item<float>());
            Assert.Equal(inside ? 4f : 0f, targets[t].sum().item<float>());
        }
    }

    [Fact]
    public void GlyphsFillTheirQuartersInReadingOrder()
    {
        // "ab" at scale 2 from (0, 0): 'a' covers x 0..10, 'b' x 12..22, both y 0..14; token 0 of a 112-px LLaVA grid is 0..14 square.
        var scene = new Scene(112, 112, Palette.White, [], [new SceneText("ab", 0, 0, 2, Palette.Black)]);
        var targets = SymbolTargets.For(scene, SymbolTargets.LlavaTokens(Llava, 112, 112, 14));
        int a = SymbolTargets.ObjectKinds + 0, b = SymbolTargets.ObjectKinds + 1;
        float At(int token, int kind, int quarter) => targets[token, kind * SymbolTargets.Quarters + quarter].item<float>();
        Assert.Equal(1f, At(0, a, 0), 5);                   // top-left 7x7 quarter: all 'a'
        Assert.Equal(3f / 7, At(0, a, 1), 5);              // top-right quarter x 7..14: 'a' up to 10
        Assert.Equal(2f / 7, At(0, b, 1), 5);              // ... and 'b' from 12
        Assert.Equal(0f, At(0, b, 0), 5);
        Assert.Equal(1f, At(1, b, 0), 5);                   // token 1 (x 14..28): 'b' up to 22
        Assert.Null(SymbolTargets.GlyphKind(' '));
        Assert.Equal(SymbolTargets.GlyphKind('q'), SymbolTargets.GlyphKind('Q'));
    }

    [Fact]
    public void GlyphAccuracyCountsTheQuartersAGlyphMostlyCoversWhoseBestGlyphLogitIsThatGlyph()
    {
        var scene = new Scene(112, 112, Palette.White, [], [new SceneText("ab", 0, 0, 2, Palette.Black)]);
        var targets = SymbolTargets.For(scene, SymbolTargets.LlavaTokens(Llava, 112, 112, 14));
        // Logits that follow the coverages name the right glyph wherever one covers half a quarter or more.
        Assert.Equal(1.0, SymbolHead.GlyphAccuracy(targets.mul(10).sub(5), targets));
        // Shifting every glyph logit one kind along (a→b, b→c) names the wrong glyph everywhere.
        var shifted = targets.reshape(64, SymbolTargets.Kinds, SymbolTargets.Quarters).roll(1, 1).reshape(64, SymbolTargets.Size);
        Assert.Equal(0.0, SymbolHead.GlyphAccuracy(shifted.mul(10).sub(5), targets));
        // A picture without text measures nothing.
        var blank = SymbolTargets.For(new Scene(112, 112, Palette.White, [], []), SymbolTargets.LlavaTokens(Llava, 112, 112, 14));
        Assert.True(double.IsNaN(SymbolHead.GlyphAccuracy(blank, blank)));
    }

    [Fact]
    public void TheGlyphClassTermIsTheSoftmaxCrossEntropyOfTheQuartersAGlyphMostlyCovers()
    {
        int a = SymbolTargets.ObjectKinds, seven = SymbolTargets.ObjectKinds + 26 + 7;
        var values = new float[2 * SymbolTargets.Size];
        values[a * SymbolTargets.Quarters + 1] = 1.0f;                              // token 0, quarter 1: all 'a'
        values[SymbolTargets.Size + seven * SymbolTargets.Quarters + 3] = 0.6f;     // token 1, quarter 3: mostly '7'
        values[SymbolTargets.Size + a * SymbolTargets.Quarters + 0] = 0.3f;         // token 1, quarter 0: a sliver of 'a' (not asked)
        var targets = tensor(values, [2, SymbolTargets.Size]);
        var logits = randn(2, SymbolTargets.Size, generator: new Generator(7));

        double CrossEntropy(int token, int quarter, int kind)
        {
            var glyphs = Enumerable.Range(0, SymbolTargets.GlyphKinds)
                .Select(g => (double)logits[token, (SymbolTargets.ObjectKinds + g) * SymbolTargets.Quarters + quarter].item<float>()).ToArray();
            double max = glyphs.Max();
            return -(glyphs[kind - SymbolTargets.ObjectKinds] - max - Math.Log(glyphs.Sum(x => Math.Exp(x - max))));
        }
        Assert.Equal((CrossEntropy(0, 1, a) + CrossEntropy(1, 3, seven)) / 2, SymbolHead.GlyphClassLoss(logits, targets)!.item<float>(), 4);
        Assert.Null(SymbolHead.GlyphClassLoss(logits, zeros(2, SymbolTargets.Size)));
    }

    [Fact]
    public void InternVLTokensGoTileByTileThenTheThumbnail()
    {
        var boxes = SymbolTargets.InternVLTokens(224, 112, columns: 2, rows: 1, thumbnail: true, tokenGrid: 4);
        Assert.Equal(3 * 16, boxes.Count);
        Assert.Equal(new Box(0, 0, 28, 28), boxes[0]);
        Assert.Equal(new Box(112, 0, 140, 28), boxes[16]);            // second tile's first token
        Assert.Equal(new Box(0, 0, 56, 28), boxes[32]);               // thumbnail: the whole image in 4x4 tokens
    }

    public static TheoryData<int, int> Sizes => new() { { 224, 112 }, { 112, 168 }, { 168, 224 }, { 224, 224 }, { 168, 112 } };

    /// <summary>
    /// End to end: random scenes through each family's real processor; per token, the share of ink in its box of the
    /// original image against the share of ink in the pixels the token sees after preprocessing (pad, resize, crop, tile).
    /// A wrong pad offset, scale, crop or token order breaks the agreement (one token off loses at least 0.25 of it).
    /// </summary>
    [Theory]
    [MemberData(nameof(Sizes))]
    public void TokenBoxesSeeThePixelsTheirTokensSee(int width, int height)
    {
        var gen = new SceneGenerator(new Random(width * 31 + height));
        var objects = gen.Objects(3, (width, height));
        var scene = objects with { Texts = [new SceneText("river 42", 4, 4, 2, Palette.Black)] };
        var image = scene.Render().ToImage();

        // LLaVA: the 112-px prepared square, 14-px patches.
        var llava = Correlation(Ink(image, SymbolTargets.LlavaTokens(Llava, width, height, 14)), Regions(Llava.Prepare(image), 14));
        // Qwen: the resized image, 28-px merge units.
        using var qwenInput = Qwen.Process(image);
        var qwen = Correlation(Ink(image, SymbolTargets.QwenTokens(width, height, qwenInput.ResizedImage.Width, qwenInput.ResizedImage.Height, 28)),
            Regions(qwenInput.ResizedImage, 28));
        // InternVL: 112-px tiles then the thumbnail, 28-px token regions each.
        var (tiles, columns, rows, thumbnail) = InternVL.Prepare(image);
        var intern = Correlation(Ink(image, SymbolTargets.InternVLTokens(width, height, columns, rows, thumbnail, 4)),
            tiles.SelectMany(t => Regions(t, 28)).ToList());
        // The same LLaVA boxes one token off: what a geometry error looks like.
        var llavaShifted = Ink(image, SymbolTargets.LlavaTokens(Llava, width, height, 14));
        llavaShifted.Insert(0, 0); llavaShifted.RemoveAt(llavaShifted.Count - 1);
        double shifted = Correlation(llavaShifted, Regions(Llava.Prepare(image), 14));
        log.WriteLine($"{width}x{height}: ink agreement LLaVA {llava:F3} (one token off: {shifted:F3}), Qwen {qwen:F3}, InternVL {intern:F3} ({columns}x{rows} tiles)");
        Assert.True(llava > 0.95, $"LLaVA {llava}");
        Assert.True(qwen > 0.95, $"Qwen {qwen}");
        Assert.True(intern > 0.95, $"InternVL {intern}");
        Assert.True(shifted < llava - 0.25, $"one token off still agrees: {shifted} vs {llava}");

        // And the symbol coverage itself follows the ink (boxes of circles and triangles, and glyph cells, are looser than ink).
        double symbols = Correlation(SymbolTargets.For(scene, SymbolTargets.LlavaTokens(Llava, width, height, 14)).sum(1)
            .data<float>().Select(v => (double)v).ToList(), Regions(Llava.Prepare(image), 14));
        Assert.True(symbols > 0.85, $"symbol coverage vs ink {symbols}");
    }

    private static double Correlation(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        Assert.Equal(a.Count, b.Count);
        double ma = a.Average(), mb = b.Average();
        double cov = a.Zip(b, (x, y) => (x - ma) * (y - mb)).Sum();
        return cov / (Math.Sqrt(a.Sum(x => (x - ma) * (x - ma))) * Math.Sqrt(b.Sum(y => (y - mb) * (y - mb))));
    }

    /// <summary>Share of non-white pixels of the original image whose centres lie in each box (0 outside the image).</summary>
    private static List<double> Ink(RgbImage image, IReadOnlyList<Box> boxes) => boxes.Select(b =>
    {
        int inked = 0, total = 0;
        for (int y = (int)Math.Ceiling(b.Y0 - 0.5); y + 0.5 < b.Y1; y++)
            for (int x = (int)Math.Ceiling(b.X0 - 0.5); x + 0.5 < b.X1; x++)
            {
                total++;
                if (x < 0 || y < 0 || x >= image.Width || y >= image.Height) continue;
                int i = (y * image.Width + x) * 3;
                if (!(image.Pixels[i] > 200 && image.Pixels[i + 1] > 200 && image.Pixels[i + 2] > 200)) inked++;
            }
        return total == 0 ? 0 : (double)inked / total;
    }).ToList();

    /// <summary>Share of ink pixels in each side×side region, row-major.</summary>
    private static List<double> Regions(RgbImage image, int side)
    {
        var pad = Llava.PadColor;
        var result = new List<double>();
        for (int r = 0; r < image.Height / side; r++)
            for (int c = 0; c < image.Width / side; c++)
            {
                int inked = 0;
                for (int y = r * side; y < (r + 1) * side; y++)
                    for (int x = c * side; x < (c + 1) * side; x++)
                    {
                        int i = (y * image.Width + x) * 3;
                        int R = image.Pixels[i], G = image.Pixels[i + 1], B = image.Pixels[i + 2];
                        bool white = R > 200 && G > 200 && B > 200;
                        bool padded = Math.Abs(R - pad.R) + Math.Abs(G - pad.G) + Math.Abs(B - pad.B) < 30;
                        if (!white && !padded) inked++;
                    }
                result.Add((double)inked / (side * side));
            }
        return result;
    }
}
