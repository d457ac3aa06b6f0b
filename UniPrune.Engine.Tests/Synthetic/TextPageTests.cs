using UniPrune.Engine.Synthetic;

namespace UniPrune.Engine.Tests.Synthetic;

public class TextPageTests
{
    [Fact]
    public void PagesHoldOneRowPerBandInsideTheCanvasAndTheCaptionReadsThemRowByRow()
    {
        var pages = CaptionGenerator.TextPages(seed: 5, count: 40);
        Assert.Equal(40, pages.Count);
        foreach (var page in pages)
        {
            var scene = page.Scene;
            Assert.Empty(scene.Objects);
            Assert.NotEmpty(scene.Texts);
            foreach (var t in scene.Texts)
            {
                Assert.InRange(t.X, 0, scene.Width - BitmapFont.MeasureWidth(t.Text, t.Scale));
                Assert.InRange(t.Y, 0, scene.Height - BitmapFont.GlyphHeight * t.Scale);
                Assert.All(t.Text, c => Assert.True(BitmapFont.Has(c), $"'{c}' has no glyph"));
            }
            // Every band holds one row; the caption is the rows top to bottom, each left to right.
            var rows = scene.Texts.GroupBy(t => t.Y).OrderBy(g => g.Key).ToList();
            Assert.Equal(rows.Count, rows.Select(r => r.Key / SceneGenerator.Cell).Distinct().Count());
            string expected = string.Join(", ", rows.SelectMany(r => r.OrderBy(t => t.X)).Select(t => $"text {t.Text}"));
            Assert.Equal(expected, page.Caption);
        }
        // Several times an OCRBench picture's text (one run of 3–6 glyphs).
        double glyphs = pages.Average(p => p.Scene.Texts.Sum(t => t.Text.Length));
        Assert.True(glyphs > 15, $"{glyphs:F1} glyphs a page");
        Assert.Equal(pages.Select(p => p.Base64Png), CaptionGenerator.TextPages(seed: 5, count: 40).Select(p => p.Base64Png));
    }
}
