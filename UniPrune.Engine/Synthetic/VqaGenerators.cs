namespace UniPrune.Engine.Synthetic;

/// <summary>Open-answer tables: OCRBench-style reading, MathVista-style counting/arithmetic, MIA-Bench-style format constraints.</summary>
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
                    text = new string(Enumerable.Range(0, 3).Select(_ => (char)('a' + gen.Random.Next(26))).ToArray());
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

    /// <summary>MathVista-style free-form integers: counting objects and evaluating rendered expressions; scored by exact integer match.</summary>
    public static SyntheticTable MathVista(Random random, int questions)
    {
        var table = new SyntheticTable("MathVista_MINI" + SyntheticSuite.Suffix,
            ["index", "image", "question", "answer", "question_type", "answer_type", "precision", "task", "skills"]);
        var gen = new SceneGenerator(random);
        for (int i = 0; i < questions; i++)
        {
            Scene scene;
            string question, task;
            int answer;
            if (i % 2 == 0)
            {
                var shape = gen.Pick(Palette.Shapes);
                answer = gen.Random.Next(0, 8);
                var others = Palette.Shapes.Where(s => s != shape).ToList();
                var required = Enumerable.Range(0, answer).Select(_ => new SceneObject(shape, gen.Pick(Palette.Colors), 0, 0, 32)).ToList();
                required.AddRange(Enumerable.Range(0, gen.Random.Next(0, 4)).Select(_ => new SceneObject(gen.Pick(others), gen.Pick(Palette.Colors), 0, 0, 32)));
                scene = gen.Objects(required.Count, (224, 168), required);
                question = $"How many {Palette.Plural(shape)} are there in the image?";
                task = "counting";
            }
            else
            {
                var (w, h) = gen.NextSize();
                int a = gen.Random.Next(2, 20), b = gen.Random.Next(2, 20);
                bool multiply = gen.Random.Next(3) == 0;
                answer = multiply ? a * b : a + b;
                string expr = $"{a} {(multiply ? "*" : "+")} {b}";
                scene = new Scene(w, h, Palette.White, [], [new SceneText(expr, gen.Random.Next(4, w - 80), gen.Random.Next(4, h - 20), 2, Palette.Black)]);
                question = "What is the value of the expression in the image?";
                task = "arithmetic";
            }
            table.Add(new()
            {
                ["index"] = SyntheticSuite.Int(i), ["image"] = SyntheticSuite.Base64Png(scene), ["question"] = question,
                ["answer"] = SyntheticSuite.Int(answer), ["question_type"] = "free_form", ["answer_type"] = "integer",
                ["precision"] = "", ["task"] = task, ["skills"] = task == "counting" ? "numeric commonsense" : "arithmetic reasoning",
            });
        }
        return table;
    }

    /// <summary>
    /// MIA-Bench-style instruction following, scored by rule instead of a judge: each row names its constraint
    /// (`constraint`) and the content the answer must carry (`answer`).
    /// </summary>
    public static SyntheticTable MiaBench(Random random, int questions)
    {
        var table = new SyntheticTable("MIA-Bench" + SyntheticSuite.Suffix, ["index", "image", "instruction", "constraint", "answer", "type"]);
        var gen = new SceneGenerator(random);
        for (int i = 0; i < questions; i++)
        {
            var shape = gen.Pick(Palette.Shapes);
            var color = gen.Pick(Palette.Colors);
            var others = Palette.Shapes.Where(s => s != shape).ToList();
            var required = new List<SceneObject> { new(shape, color, 0, 0, 44) };
            required.AddRange(Enumerable.Range(0, gen.Random.Next(0, 3)).Select(_ => new SceneObject(gen.Pick(others), gen.Pick(Palette.Colors), 0, 0, 36)));
            var scene = gen.Objects(required.Count, required: required);
            string noun = Palette.Name(shape);
            var (instruction, constraint) = (i % 4) switch
            {
                0 => ($"Name the color of the {noun}. Answer with one word in capital letters.", "uppercase_one_word"),
                1 => ($"What color is the {noun}? Start your answer with \"Answer:\".", "prefix_answer"),
                2 => ($"Name the color of the {noun}, in lower case, followed by a period.", "lowercase_period"),
                _ => ($"Tell me the color of the {noun} in exactly two words, the second being \"{noun}\".", "two_words_ending_noun"),
            };
            table.Add(new()
            {
                ["index"] = SyntheticSuite.Int(i), ["image"] = SyntheticSuite.Base64Png(scene), ["instruction"] = instruction,
                ["constraint"] = constraint, ["answer"] = color.Name, ["type"] = "format",
            });
        }
        return table;
    }
}
