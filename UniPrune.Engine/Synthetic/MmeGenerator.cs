namespace UniPrune.Engine.Synthetic;

/// <summary>
/// MME-style yes/no pairs: two questions per image, one answered Yes and one No, so acc+ (both right) is meaningful.
/// The second row back-references the first row's image, as MME's TSV does.
/// </summary>
internal static class MmeGenerator
{
    internal const string Suffix = " Please answer yes or no.";

    // Perception categories first, then the cognition ("reasoning") one.
    private static readonly string[] Categories = ["existence", "count", "color", "position", "OCR", "numerical_calculation"];

    public static SyntheticTable Generate(Random random, int images)
    {
        var table = new SyntheticTable("MME" + SyntheticSuite.Suffix, ["index", "image", "image_path", "question", "answer", "category"]);
        var gen = new SceneGenerator(random);
        for (int i = 0; i < images; i++)
        {
            string category = Categories[i % Categories.Length];
            var (scene, yes, no) = category switch
            {
                "existence" => Existence(gen),
                "count" => Count(gen),
                "color" => Color(gen),
                "position" => Position(gen),
                "OCR" => Ocr(gen),
                _ => Arithmetic(gen),
            };
            string path = $"{category}/{i:D4}.png";
            int first = 2 * i;
            // Randomise which of the pair comes first so position in the pair carries no signal.
            bool yesFirst = gen.Random.Next(2) == 0;
            var (q0, a0, q1, a1) = yesFirst ? (yes, "Yes", no, "No") : (no, "No", yes, "Yes");
            table.Add(new() { ["index"] = SyntheticSuite.Int(first), ["image"] = SyntheticSuite.Base64Png(scene), ["image_path"] = path, ["question"] = q0 + Suffix, ["answer"] = a0, ["category"] = category });
            table.Add(new() { ["index"] = SyntheticSuite.Int(first + 1), ["image"] = SyntheticSuite.Int(first), ["image_path"] = path, ["question"] = q1 + Suffix, ["answer"] = a1, ["category"] = category });
        }
        return table;
    }

    private static (Scene, string, string) Existence(SceneGenerator gen)
    {
        var scene = gen.Objects(gen.Random.Next(2, 6));
        var present = gen.Pick(scene.Objects);
        var (shape, color) = AbsentCombination(gen, scene);
        return (scene, $"Is there a {present.Color.Name} {Palette.Name(present.Shape)} in the image?", $"Is there a {color.Name} {Palette.Name(shape)} in the image?");
    }

    internal static (ShapeKind, NamedColor) AbsentCombination(SceneGenerator gen, Scene scene)
    {
        while (true)
        {
            var shape = gen.Pick(Palette.Shapes);
            var color = gen.Pick(Palette.Colors);
            if (!scene.Has(shape, color)) return (shape, color);
        }
    }

    private static (Scene, string, string) Count(SceneGenerator gen)
    {
        var shape = gen.Pick(Palette.Shapes);
        int n = gen.Random.Next(1, 6);
        var required = Enumerable.Range(0, n).Select(_ => new SceneObject(shape, gen.Pick(Palette.Colors), 0, 0, gen.Random.Next(28, 46))).ToList();
        var others = Palette.Shapes.Where(s => s != shape).ToList();
        int extra = gen.Random.Next(0, 3);
        required.AddRange(Enumerable.Range(0, extra).Select(_ => new SceneObject(gen.Pick(others), gen.Pick(Palette.Colors), 0, 0, gen.Random.Next(28, 46))));
        var scene = gen.Objects(required.Count, required: required);
        int wrong = n == 1 || gen.Random.Next(2) == 0 ? n + 1 : n - 1;
        return (scene, CountQuestion(shape, n), CountQuestion(shape, wrong));
    }

    /// <summary>Font scale 2 or 3 (glyphs 10×14 or 15×21 px), the larger only where the text still fits the canvas.</summary>
    internal static int TextScale(SceneGenerator gen, int width, string text) =>
        BitmapFont.MeasureWidth(text, 3) + 8 <= width && gen.Random.Next(2) == 0 ? 3 : 2;

    internal static string Noun(ShapeKind shape, int n) => n == 1 ? Palette.Name(shape) : Palette.Plural(shape);

    // The wording of the count, colour and position questions (also asked of the training-only caption pictures).
    internal static string CountQuestion(ShapeKind shape, int n) => $"Are there {n} {Noun(shape, n)} in the image?";

    internal static string ColorQuestion(ShapeKind shape, NamedColor color) => $"Is the {Palette.Name(shape)} {color.Name}?";

    internal static string LeftOfQuestion(SceneObject a, SceneObject b) =>
        $"Is the {a.Color.Name} {Palette.Name(a.Shape)} to the left of the {b.Color.Name} {Palette.Name(b.Shape)}?";

    private static (Scene, string, string) Color(SceneGenerator gen)
    {
        var shape = gen.Pick(Palette.Shapes);
        var color = gen.Pick(Palette.Colors);
        var others = Palette.Shapes.Where(s => s != shape).ToList();
        var required = new List<SceneObject> { new(shape, color, 0, 0, 44) };
        required.AddRange(Enumerable.Range(0, gen.Random.Next(0, 3)).Select(_ => new SceneObject(gen.Pick(others), gen.Pick(Palette.Colors), 0, 0, 36)));
        var scene = gen.Objects(required.Count, required: required);
        var wrong = gen.Pick(Palette.Colors.Where(c => c != color).ToList());
        return (scene, ColorQuestion(shape, color), ColorQuestion(shape, wrong));
    }

    private static (Scene, string, string) Position(SceneGenerator gen)
    {
        var (w, h) = gen.NextSize();
        var a = new SceneObject(gen.Pick(Palette.Shapes), gen.Pick(Palette.Colors), 0, 0, 40);
        NamedColor bColor;
        do bColor = gen.Pick(Palette.Colors); while (bColor == a.Color);
        var b = new SceneObject(gen.Pick(Palette.Shapes), bColor, 0, 0, 40);
        var scene = gen.Objects(2, (w, h), [a, b]);
        var (left, right) = scene.Objects[0].X < scene.Objects[1].X ? (scene.Objects[0], scene.Objects[1]) : (scene.Objects[1], scene.Objects[0]);
        if (left.X == right.X) return Position(gen); // same column: "left of" would be undefined
        return (scene, LeftOfQuestion(left, right), LeftOfQuestion(right, left));
    }

    private static (Scene, string, string) Ocr(SceneGenerator gen)
    {
        var (w, h) = gen.NextSize();
        string word = gen.Pick(Palette.Words);
        string other;
        do other = gen.Pick(Palette.Words); while (other == word);
        int scale = TextScale(gen, w, word);
        int x = gen.Random.Next(4, Math.Max(5, w - BitmapFont.MeasureWidth(word, scale) - 4));
        int y = gen.Random.Next(4, h - BitmapFont.GlyphHeight * scale - 4);
        var scene = new Scene(w, h, Palette.White, [], [new SceneText(word, x, y, scale, Palette.Black)]);
        return (scene, $"Is the word in the image \"{word}\"?", $"Is the word in the image \"{other}\"?");
    }

    private static (Scene, string, string) Arithmetic(SceneGenerator gen)
    {
        var (w, h) = gen.NextSize();
        // One-digit operands: the embedded models have ~1 M parameters; reading two digits and adding them is the skill.
        int a = gen.Random.Next(1, 10), b = gen.Random.Next(1, 10);
        string expr = $"{a} + {b} =";
        int scale = 2;
        var scene = new Scene(w, h, Palette.White, [],
            [new SceneText(expr, gen.Random.Next(4, w - BitmapFont.MeasureWidth(expr, scale) - 4), gen.Random.Next(4, h - 20), scale, Palette.Black)]);
        int wrong = a + b + (gen.Random.Next(2) == 0 || a + b < 5 ? 1 : -1) * gen.Random.Next(1, 4);
        return (scene, $"Is the answer to the arithmetic question in the image {a + b}?", $"Is the answer to the arithmetic question in the image {wrong}?");
    }
}
