using UniPrune.Engine.Scoring;

namespace UniPrune.Engine.Synthetic;

/// <summary>
/// MathVista-style math (counting, subtraction of a colour, rendered one-digit sums, a majority-colour multiple choice) and
/// MIA-Bench-style instruction following (a colour named under a format constraint). Small canvases (112–224 px a side,
/// 56 px cells), objects 24–44 px, at most six of them, text at font scale 2–3, answers of one or two short words.
/// </summary>
internal static class MathAndInstructionGenerators
{
    private const int Cell = 56;
    private static readonly int[] Sides = [112, 168, 224];

    private const string IntegerHint = "Hint: Please answer the question requiring an integer answer and provide the final value, e.g., 1, 2, 3, at the end.\nQuestion: ";
    private const string ChoiceHint = "Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.\nQuestion: ";

    /// <summary>
    /// MathVista_MINI's columns: <c>question</c> is the official query (hint, question, choices), free-form integers and
    /// multiple choice with <c>choices</c> as a list literal and <c>answer_option</c>, <c>skills</c> a list literal.
    /// </summary>
    public static SyntheticTable MathVista(Random random, int questions)
    {
        var table = new SyntheticTable("MathVista_MINI" + SyntheticSuite.Suffix,
            ["index", "image", "question", "answer", "choices", "answer_option", "unit", "precision", "question_type", "answer_type", "task", "skills"]);
        for (int i = 0; i < questions; i++)
        {
            var row = (i % 4) switch
            {
                0 => CountShape(random),
                1 => SubtractColor(random),
                2 => RenderedSum(random),
                _ => MajorityColor(random),
            };
            row["index"] = SyntheticSuite.Int(i);
            table.Add(row);
        }
        return table;
    }

    private static Dictionary<string, string> FreeForm(Scene scene, string question, int answer, string task, string skill) => new()
    {
        ["image"] = SyntheticSuite.Base64Png(scene), ["question"] = IntegerHint + question, ["answer"] = SyntheticSuite.Int(answer),
        ["choices"] = "", ["answer_option"] = "", ["unit"] = "", ["precision"] = "", ["question_type"] = "free_form", ["answer_type"] = "integer",
        ["task"] = task, ["skills"] = $"['{skill}']",
    };

    private static Dictionary<string, string> CountShape(Random random)
    {
        var shape = Pick(random, Palette.Shapes);
        int count = random.Next(1, 5);
        var objects = Repeat(random, count, () => shape);
        var others = Palette.Shapes.Where(s => s != shape).ToList();
        objects.AddRange(Repeat(random, random.Next(0, 3), () => Pick(random, others)));
        return FreeForm(Place(random, objects), $"How many {Palette.Plural(shape)} are there?", count, "visual question answering", "arithmetic reasoning");
    }

    private static Dictionary<string, string> SubtractColor(Random random)
    {
        int total = random.Next(3, 7);
        var removed = Pick(random, Palette.Colors);
        int removedCount = random.Next(1, total);
        var others = Palette.Colors.Where(c => c != removed).ToList();
        var objects = Enumerable.Range(0, total)
            .Select(k => new SceneObject(Pick(random, Palette.Shapes), k < removedCount ? removed : Pick(random, others), 0, 0, random.Next(24, 45)))
            .ToList();
        return FreeForm(Place(random, objects), $"Subtract all {removed.Name} objects. How many objects are left?", total - removedCount,
            "visual question answering", "arithmetic reasoning");
    }

    private static Dictionary<string, string> RenderedSum(Random random)
    {
        int a = random.Next(1, 9), b = random.Next(1, 10 - a); // one-digit operands, one-digit sum
        string expression = $"{a} + {b} = ?";
        int scale = random.Next(2, 4);
        int width = BitmapFont.MeasureWidth(expression, scale), height = BitmapFont.GlyphHeight * scale;
        int w = Pick(random, Sides.Where(s => s >= width + 16).ToList()), h = Pick(random, Sides);
        var text = new SceneText(expression, random.Next(8, w - width - 7), random.Next(8, h - height - 7), scale, Palette.Black);
        return FreeForm(new Scene(w, h, Palette.White, [], [text]), "What is the value of the expression in the image?", a + b,
            "math word problem", "arithmetic reasoning");
    }

    private static Dictionary<string, string> MajorityColor(Random random)
    {
        var colors = Shuffle(random, Palette.Colors).Take(3).ToList();
        int majority = random.Next(2, 4);
        int second = random.Next(0, majority), third = random.Next(0, Math.Min(majority, 7 - majority - second));
        var objects = new List<SceneObject>();
        foreach (var (color, count) in new[] { (colors[0], majority), (colors[1], second), (colors[2], third) })
            for (int k = 0; k < count; k++) objects.Add(new SceneObject(Pick(random, Palette.Shapes), color, 0, 0, random.Next(24, 45)));
        var options = Shuffle(random, colors);
        int correct = options.IndexOf(colors[0]);
        string letters = "ABC";
        string query = ChoiceHint + "Which color has the most objects?\nChoices:\n" + string.Join("\n", options.Select((c, k) => $"({letters[k]}) {c.Name}"));
        return new()
        {
            ["image"] = SyntheticSuite.Base64Png(Place(random, objects)), ["question"] = query, ["answer"] = colors[0].Name,
            ["choices"] = "[" + string.Join(", ", options.Select(c => $"'{c.Name}'")) + "]", ["answer_option"] = letters[correct].ToString(),
            ["unit"] = "", ["precision"] = "", ["question_type"] = "multi_choice", ["answer_type"] = "text",
            ["task"] = "figure question answering", ["skills"] = "['statistical reasoning']",
        };
    }

    /// <summary>
    /// MIA-Bench-style rows for MIA-Bench_SYN: a colour question about one or two uniquely shaped objects, under one of
    /// <see cref="FormatConstraints"/>; <c>answer</c> is the content, <c>keyword</c> what the two-word form must end with.
    /// </summary>
    public static SyntheticTable MiaBench(Random random, int questions)
    {
        var table = new SyntheticTable("MIA-Bench" + SyntheticSuite.Suffix, ["index", "image", "question", "answer", "constraint", "keyword"]);
        for (int i = 0; i < questions; i++)
        {
            // Each shape at most once, so "the circle" names one object.
            var shapes = Shuffle(random, Palette.Shapes).Take(random.Next(1, 4)).ToList();
            string constraint = FormatConstraints.All[i % FormatConstraints.All.Count];
            if (constraint == FormatConstraints.CommaList && shapes.Count < 2) shapes = Shuffle(random, Palette.Shapes).Take(2).ToList();
            var objects = shapes.Select(s => new SceneObject(s, Pick(random, Palette.Colors), 0, 0, random.Next(28, 45))).ToList();
            var scene = Place(random, objects);
            var asked = scene.Objects[0];
            string noun = Palette.Name(asked.Shape), answer = asked.Color.Name;
            string keyword = constraint == FormatConstraints.TwoWordsKeyword ? noun : "";
            string question = constraint switch
            {
                FormatConstraints.OneWordUppercase => $"What color is the {noun}? Answer with one word in capital letters.",
                FormatConstraints.PrefixAnswer => $"What color is the {noun}? Start your answer with \"Answer:\".",
                FormatConstraints.LowercasePeriod => $"What color is the {noun}? Answer in lower case and end with a period.",
                FormatConstraints.TwoWordsKeyword => $"What color is the {noun}? Answer in exactly two words, the second being \"{noun}\".",
                _ => $"Name the colors of the {noun} and the {Palette.Name(scene.Objects[1].Shape)}, separated by a comma.",
            };
            if (constraint == FormatConstraints.CommaList) answer = $"{asked.Color.Name}, {scene.Objects[1].Color.Name}";
            table.Add(new()
            {
                ["index"] = SyntheticSuite.Int(i), ["image"] = SyntheticSuite.Base64Png(scene), ["question"] = question,
                ["answer"] = answer, ["constraint"] = constraint, ["keyword"] = keyword,
            });
        }
        return table;
    }

    /// <summary>Places the objects (in order) in distinct random cells of a canvas just large enough for them.</summary>
    private static Scene Place(Random random, IReadOnlyList<SceneObject> objects)
    {
        var sizes = Sides.SelectMany(w => Sides.Select(h => (W: w, H: h))).Where(s => s.W / Cell * (s.H / Cell) >= objects.Count).ToList();
        var (width, height) = Pick(random, sizes);
        var cells = new List<(int X, int Y)>();
        for (int y = Cell / 2; y + Cell / 2 <= height; y += Cell)
            for (int x = Cell / 2; x + Cell / 2 <= width; x += Cell) cells.Add((x, y));
        var placed = new List<SceneObject>();
        foreach (var o in objects)
        {
            int k = random.Next(cells.Count);
            // A few pixels of jitter inside the cell: positions vary without ever overlapping a neighbour.
            int slack = (Cell - o.Size) / 2;
            placed.Add(o with { X = cells[k].X + random.Next(-slack, slack + 1), Y = cells[k].Y + random.Next(-slack, slack + 1) });
            cells.RemoveAt(k);
        }
        return new Scene(width, height, Palette.White, placed, []);
    }

    private static List<SceneObject> Repeat(Random random, int count, Func<ShapeKind> shape) =>
        Enumerable.Range(0, count).Select(_ => new SceneObject(shape(), Pick(random, Palette.Colors), 0, 0, random.Next(24, 45))).ToList();

    private static T Pick<T>(Random random, IReadOnlyList<T> items) => items[random.Next(items.Count)];

    private static List<T> Shuffle<T>(Random random, IReadOnlyList<T> items)
    {
        var list = items.ToList();
        for (int k = list.Count - 1; k > 0; k--)
        {
            int j = random.Next(k + 1);
            (list[k], list[j]) = (list[j], list[k]);
        }
        return list;
    }
}
