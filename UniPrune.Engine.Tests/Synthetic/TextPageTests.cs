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

    [Fact]
    public void GlyphStripsShowOneShortRunThatTheirReadingQuestionAnswers()
    {
        var strips = CaptionGenerator.GlyphStrips(seed: 5, count: 60);
        Assert.Equal(60, strips.Count);
        foreach (var strip in strips)
        {
            var text = Assert.Single(strip.Scene.Texts);
            Assert.InRange(text.Text.Length, 1, 3);
            Assert.True(text.Text.All(char.IsAsciiDigit) || text.Text.All(char.IsAsciiLetterLower), text.Text);
            Assert.InRange(text.X, 0, strip.Scene.Width - BitmapFont.MeasureWidth(text.Text, text.Scale));
            Assert.InRange(text.Y, 0, strip.Scene.Height - BitmapFont.GlyphHeight * text.Scale);
            Assert.InRange(text.Scale, 2, 3);
        }
        // Every length and both kinds, a third of each length.
        Assert.Equal([20, 20, 20], strips.GroupBy(s => s.Scene.Texts[0].Text.Length).OrderBy(g => g.Key).Select(g => g.Count()));
        Assert.Contains(strips, s => s.Scene.Texts[0].Text.All(char.IsAsciiDigit));
        Assert.Contains(strips, s => s.Scene.Texts[0].Text.All(char.IsAsciiLetterLower));
        // Asked in OCRBench's form: the answer is the run, the question says "number" for digits.
        var table = VerifyQuestions.OcrStyle(strips);
        Assert.Equal(60, table.Rows.Count);
        for (int i = 0; i < 60; i++)
        {
            string run = strips[i].Scene.Texts[0].Text;
            Assert.Equal($"['{run}']", table.Rows[i]["answer"]);
            Assert.Equal(run.All(char.IsAsciiDigit) ? "what is the number in the image?" : "what is written in the image?", table.Rows[i]["question"]);
        }
        Assert.Equal(strips.Select(p => p.Base64Png), CaptionGenerator.GlyphStrips(seed: 5, count: 60).Select(p => p.Base64Png));
    }

    [Fact]
    public void LargeGlyphStripsFitTheCanvasWithoutObjects()
    {
        var strips = CaptionGenerator.GlyphStrips(seed: 6, count: 60, maxScale: 8);
        foreach (var strip in strips)
        {
            var text = Assert.Single(strip.Scene.Texts);
            Assert.Empty(strip.Scene.Objects);
            Assert.InRange(text.Scale, 2, 8);
            Assert.InRange(text.X, 0, strip.Scene.Width - BitmapFont.MeasureWidth(text.Text, text.Scale));
            Assert.InRange(text.Y, 0, strip.Scene.Height - BitmapFont.GlyphHeight * text.Scale);
        }
        Assert.Contains(strips, s => s.Scene.Texts[0].Scale >= 5);
    }
}
