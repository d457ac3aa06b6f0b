namespace UniPrune.Engine.Synthetic;

/// <summary>Open-answer tables: OCRBench-style reading (MathVista and MIA-Bench styles are in <see cref="MathAndInstructionGenerators"/>).</summary>
internal static class VqaGenerators
{
    /// <summary>OCRBench-style: the answer column is a Python list literal of accepted strings, matched as a substring.</summary>
    public static SyntheticTable OcrBench(Random random, int questions)
    {
        var table = new SyntheticTable("OCRBench" + SyntheticSuite.Suffix, ["index", "image", "question", "answer", "category"]);
        var gen = new SceneGenerator(random);
        for (int i = 0; i < questions; i++)
        {
            var (w, h) = gen.NextSize();
            string category, text, question;
            int scale = 2;
            switch (i % 4)
            {
                case 0: category = "Regular Text Recognition"; text = gen.Pick(Palette.Words); question = "what is written in the image?"; break;
                case 1: category = "Digit String Recognition"; text = SyntheticSuite.Int(gen.Random.Next(10, 1000)); question = "what is the number in the image?"; break;
                case 2:
                    category = "Non-Semantic Text Recognition";
                    text = gen.Letters(3);
                    question = "what is written in the image?";
                    break;
                default:
                    category = "Key Information Extraction";
                    string name = gen.Pick(Palette.Words);
                    text = SyntheticSuite.Int(gen.Random.Next(10, 999));
                    // A receipt needs the widest canvas: "item: rocket" is 142 px at scale 2.
                    var lines = new List<SceneText>
                    {
                        new($"item: {name}", 6, 8, scale, Palette.Black),
                        new($"total: {text}", 6, 8 + 10 * scale, scale, Palette.Black),
                        new($"tax: {gen.Random.Next(1, 99)}", 6, 8 + 20 * scale, scale, Palette.Black),
                    };
                    table.Add(Row(i, new Scene(224, gen.Pick(new[] { 112, 168, 224 }), Palette.White, [], lines), "what is the total on the receipt?", text, category));
                    continue;
            }
            scale = MmeGenerator.TextScale(gen, w, text);
            int x = gen.Random.Next(4, Math.Max(5, w - BitmapFont.MeasureWidth(text, scale) - 4));
            int y = gen.Random.Next(4, h - BitmapFont.GlyphHeight * scale - 4);
            var scene = gen.Objects(gen.Random.Next(0, 3), (w, h));
            // Text over free space: drop any object whose cell the text crosses.
            var clear = scene.Objects.Where(o => Math.Abs(o.Y - y) > SceneGenerator.Cell).ToList();
            table.Add(Row(i, scene with { Objects = clear, Texts = [new SceneText(text, x, y, scale, Palette.Black)] }, question, text, category));
        }
        return table;

        static Dictionary<string, string> Row(int i, Scene scene, string question, string answer, string category) => new()
        {
            ["index"] = SyntheticSuite.Int(i), ["image"] = SyntheticSuite.Base64Png(scene), ["question"] = question,
            ["answer"] = $"['{answer}']", ["category"] = category,
        };
    }
}
