namespace UniPrune.Engine.Synthetic;

/// <summary>One training-only picture with the full description of what it shows.</summary>
public sealed record CaptionedImage(string Base64Png, string Caption, Scene Scene);

/// <summary>
/// Dense training targets for the embedded models: random scenes from the suite's own vocabulary (objects, words,
/// numbers, short text lines) with a caption that names everything in reading order. A yes/no answer carries one bit
/// about the image; a caption carries every object and glyph, which is what teaches a from-scratch model to look
/// (LLaVA's own recipe starts with a captioning stage for the same reason). Never part of the benchmark tables.
/// </summary>
public static class CaptionGenerator
{
    public const string Question = "Describe the image.";

    public static IReadOnlyList<CaptionedImage> Generate(int seed, int count)
    {
        var gen = new SceneGenerator(new Random(seed));
        var result = new List<CaptionedImage>(count);
        for (int i = 0; i < count; i++)
        {
            var scene = (i % 5) switch
            {
                0 or 1 or 2 => gen.Objects(gen.Random.Next(1, 9)),
                3 => TextScene(gen, withObjects: true),
                _ => Lines(gen),
            };
            result.Add(new CaptionedImage(SyntheticSuite.Base64Png(scene), Describe(scene), scene));
        }
        return result;
    }

    /// <summary>
    /// Training-only text pages: one row of text runs per 56-px band (so <see cref="Describe"/>'s reading order is row by
    /// row, left to right), each run drawn like an OCR sample's text (a word, three random letters or a number; font scale 2
    /// or 3). A page shows several times the glyphs of an OCRBench picture (about 20 against 3–6), so the symbol head sees that
    /// much more of what every letter and digit looks like per step; the caption spells them in order.
    /// </summary>
    public static IReadOnlyList<CaptionedImage> TextPages(int seed, int count)
    {
        var gen = new SceneGenerator(new Random(unchecked(seed * 7919 + 17)));
        var result = new List<CaptionedImage>(count);
        for (int i = 0; i < count; i++)
        {
            var (w, h) = gen.NextSize();
            var texts = new List<SceneText>();
            for (int band = 0; band < h / SceneGenerator.Cell; band++)
            {
                int scale = gen.Random.Next(2, 4);
                int y = band * SceneGenerator.Cell + gen.Random.Next(2, SceneGenerator.Cell - BitmapFont.GlyphHeight * scale - 2);
                int x = gen.Random.Next(2, 12);
                while (true)
                {
                    string text = RunText(gen);
                    int width = BitmapFont.MeasureWidth(text, scale);
                    if (x + width > w - 2) break;
                    texts.Add(new SceneText(text, x, y, scale, Palette.Black));
                    x += width + BitmapFont.Advance * scale * gen.Random.Next(2, 4);
                }
            }
            var scene = new Scene(w, h, Palette.White, [], texts);
            result.Add(new CaptionedImage(SyntheticSuite.Base64Png(scene), Describe(scene), scene));
        }
        return result;
    }

    /// <summary>
    /// Training-only reading warm-ups: one short run of one to three characters (digits or letters, a third of each length)
    /// drawn like an OCR sample's text (font scale 2 or 3, random place, up to two objects clear of it), captioned like any
    /// text scene. Asked in OCRBench's form (see <see cref="VerifyQuestions.OcrStyle"/>), a single glyph makes copying what
    /// the tower sees the only way to lower the answer loss, where a whole word's answer is largely the word prior's.
    /// </summary>
    /// <param name="maxScale">Above 3 (the suite's largest), strips draw their run at any scale from 2 up to this that fits,
    /// with no objects: a glyph that covers many tokens is read before one that fills a token.</param>
    public static IReadOnlyList<CaptionedImage> GlyphStrips(int seed, int count, int maxScale = 3)
    {
        var gen = new SceneGenerator(new Random(unchecked(seed * 104_729 + 31)));
        var result = new List<CaptionedImage>(count);
        for (int i = 0; i < count; i++)
        {
            int length = 1 + i % 3;
            string text = (i / 3) % 2 == 0 ? gen.Digits(length) : gen.Letters(length);
            var scene = TextScene(gen, withObjects: maxScale <= 3, text, maxScale);
            result.Add(new CaptionedImage(SyntheticSuite.Base64Png(scene), Describe(scene), scene));
        }
        return result;
    }

    /// <summary>One run of text as an OCR sample draws it: a number, three random letters or a word, equally often.</summary>
    private static string RunText(SceneGenerator gen) => gen.Random.Next(3) switch
    {
        0 => SyntheticSuite.Int(gen.Random.Next(1, 1000)),
        1 => gen.Letters(3),
        _ => gen.Pick(Palette.Words),
    };

    /// <summary>Objects and text runs in reading order (top to bottom, then left to right): "red circle, blue square, text apple".</summary>
    public static string Describe(Scene scene)
    {
        var items = scene.Objects.Select(o => (o.Y, o.X, Text: $"{o.Color.Name} {Palette.Name(o.Shape)}"))
            .Concat(scene.Texts.Select(t => (Y: t.Y + BitmapFont.GlyphHeight * t.Scale / 2, X: t.X, Text: $"text {t.Text}")))
            .OrderBy(i => i.Y / SceneGenerator.Cell).ThenBy(i => i.X).ThenBy(i => i.Y).Select(i => i.Text);
        return string.Join(", ", items);
    }

    private static Scene TextScene(SceneGenerator gen, bool withObjects, string? given = null, int maxScale = 3)
    {
        var (w, h) = gen.NextSize();
        string text = given ?? RunText(gen);
        int scale = maxScale <= 3 ? MmeGenerator.TextScale(gen, w, text) : gen.Random.Next(2, LargestFittingScale() + 1);
        int x = gen.Random.Next(4, Math.Max(5, w - BitmapFont.MeasureWidth(text, scale) - 4));
        int y = gen.Random.Next(4, h - BitmapFont.GlyphHeight * scale - 4);
        var objects = withObjects ? gen.Objects(gen.Random.Next(0, 3), (w, h)).Objects.Where(o => Math.Abs(o.Y - y) > SceneGenerator.Cell).ToList() : [];
        return new Scene(w, h, Palette.White, objects, [new SceneText(text, x, y, scale, Palette.Black)]);

        // The largest scale up to maxScale whose text keeps a 4-px margin on the canvas (2, the suite's smallest, at worst).
        int LargestFittingScale() => Enumerable.Range(2, maxScale - 1)
            .Last(s => s == 2 || BitmapFont.MeasureWidth(text, s) + 8 <= w && BitmapFont.GlyphHeight * s + 8 <= h);
    }

    private static Scene Lines(SceneGenerator gen)
    {
        int lines = gen.Random.Next(2, 4);
        var texts = Enumerable.Range(0, lines).Select(k =>
        {
            string word = gen.Random.Next(2) == 0 ? gen.Pick(Palette.Words) : SyntheticSuite.Int(gen.Random.Next(1, 100));
            return new SceneText(word, 6 + gen.Random.Next(0, 40), 8 + k * 34, 2, Palette.Black);
        }).ToList();
        return new Scene(224, 8 + lines * 34 + 8 > 168 ? 224 : 168, Palette.White, [], texts);
    }
}
