namespace UniPrune.Engine.Synthetic;

/// <summary>Multiple-choice tables: MMBench-style (with circular copies), SEED-Bench-2-Plus-style text/charts, ScienceQA-style with hints.</summary>
internal static class McqGenerators
{
    private static readonly string[] Letters = ["A", "B", "C", "D", "E"];

    private sealed record Question(Scene Scene, string Text, IReadOnlyList<string> Options, int Correct, string Category, string? Hint = null, string? L2 = null);

    /// <summary>
    /// MMBench_DEV_EN-style: four options; every question is stored n times with options rotated k places at
    /// index = base + k·1,000,000 (VLMEvalKit's circular encoding), the copies back-referencing the base image.
    /// </summary>
    public static SyntheticTable MmBench(Random random, int questions)
    {
        var table = new SyntheticTable("MMBench_DEV_EN" + SyntheticSuite.Suffix,
            ["index", "question", "hint", "A", "B", "C", "D", "answer", "category", "l2-category", "split", "image"]);
        var gen = new SceneGenerator(random);
        for (int i = 0; i < questions; i++)
        {
            var q = (i % 4) switch
            {
                0 => ColorOf(gen),
                1 => CountOf(gen),
                2 => SpatialRelation(gen),
                _ => ShapeOf(gen),
            };
            string image = SyntheticSuite.Base64Png(q.Scene);
            for (int k = 0; k < q.Options.Count; k++)
            {
                var row = new Dictionary<string, string>
                {
                    ["index"] = SyntheticSuite.Int(i + k * 1_000_000L), ["question"] = q.Text, ["hint"] = q.Hint ?? "",
                    ["answer"] = Letters[((q.Correct - k) % q.Options.Count + q.Options.Count) % q.Options.Count],
                    ["category"] = q.Category, ["l2-category"] = q.L2 ?? "", ["split"] = "dev",
                    ["image"] = k == 0 ? image : SyntheticSuite.Int(i),
                };
                for (int j = 0; j < q.Options.Count; j++) row[Letters[j]] = q.Options[(j + k) % q.Options.Count];
                table.Add(row);
            }
        }
        return table;
    }

    /// <summary>SEED-Bench-2-Plus-style: questions about rendered text — charts (bar heights), maps (where a word is) and web pages (titles, buttons).</summary>
    public static SyntheticTable SeedBench2Plus(Random random, int questions)
    {
        var table = new SyntheticTable("SEEDBench2_Plus" + SyntheticSuite.Suffix, ["index", "image", "question", "A", "B", "C", "D", "answer", "category"]);
        var gen = new SceneGenerator(random);
        for (int i = 0; i < questions; i++)
        {
            var q = (i % 3) switch { 0 => BarChart(gen), 1 => WordMap(gen), _ => WebPage(gen) };
            AddPlain(table, i, q);
        }
        return table;
    }

    /// <summary>ScienceQA-style: the hint states a rule about colours; the image decides which object satisfies it (up to 5 options).</summary>
    public static SyntheticTable ScienceQa(Random random, int questions)
    {
        var table = new SyntheticTable("ScienceQA_TEST" + SyntheticSuite.Suffix, ["index", "image", "question", "hint", "A", "B", "C", "D", "E", "answer", "category"]);
        var gen = new SceneGenerator(random);
        string[] properties = ["hot", "magnetic", "heavy", "soft", "bright"];
        for (int i = 0; i < questions; i++)
        {
            string property = properties[i % properties.Length];
            var colors = Palette.Colors.OrderBy(_ => gen.Random.Next()).Take(gen.Random.Next(2, 5)).ToList();
            var shapes = Palette.Shapes.OrderBy(_ => gen.Random.Next()).ToList();
            var required = colors.Select((c, j) => new SceneObject(shapes[j % shapes.Count], c, 0, 0, 40)).ToList();
            var scene = gen.Objects(required.Count, required: required);
            int target = gen.Random.Next(required.Count);
            string hint = $"In this world, only {required[target].Color.Name} objects are {property}.";
            var options = required.Select(o => $"the {o.Color.Name} {Palette.Name(o.Shape)}").ToList();
            string question = $"Which object in the image is {property}?";
            // Some questions carry no hint: then the colour is named in the question itself, as ScienceQA mixes both.
            bool withHint = gen.Random.Next(4) != 0;
            if (!withHint) question = $"Which object in the image is {required[target].Color.Name}?";
            // Shuffled apart from the drawing order (the seeded draws per question are few and fixed, so the raw target index
            // correlated with the property asked).
            var (shuffled, correct) = Options(gen, options[target], options, options.Count);
            AddPlain(table, i, new Question(scene, question, shuffled, correct, withHint ? "natural science" : "language science", withHint ? hint : null));
        }
        return table;
    }

    private static void AddPlain(SyntheticTable table, int index, Question q)
    {
        var row = new Dictionary<string, string>
        {
            ["index"] = SyntheticSuite.Int(index), ["image"] = SyntheticSuite.Base64Png(q.Scene), ["question"] = q.Text,
            ["answer"] = Letters[q.Correct], ["category"] = q.Category,
        };
        if (table.Columns.Contains("hint")) row["hint"] = q.Hint ?? "";
        for (int j = 0; j < q.Options.Count; j++) row[Letters[j]] = q.Options[j];
        table.Add(row);
    }

    /// <summary>Shuffles <paramref name="distractors"/> with the right answer into <paramref name="count"/> options.</summary>
    private static (List<string>, int) Options(SceneGenerator gen, string right, IEnumerable<string> distractors, int count = 4)
    {
        var options = distractors.Where(d => d != right).Distinct().OrderBy(_ => gen.Random.Next()).Take(count - 1).Append(right)
            .OrderBy(_ => gen.Random.Next()).ToList();
        return (options, options.IndexOf(right));
    }

    private static Question ColorOf(SceneGenerator gen)
    {
        var shape = gen.Pick(Palette.Shapes);
        var color = gen.Pick(Palette.Colors);
        var others = Palette.Shapes.Where(s => s != shape).ToList();
        var required = new List<SceneObject> { new(shape, color, 0, 0, 44) };
        required.AddRange(Enumerable.Range(0, gen.Random.Next(1, 3)).Select(_ => new SceneObject(gen.Pick(others), gen.Pick(Palette.Colors), 0, 0, 36)));
        var (options, correct) = Options(gen, color.Name, Palette.Colors.Select(c => c.Name));
        return new Question(gen.Objects(required.Count, required: required), $"What color is the {Palette.Name(shape)}?", options, correct, "color_recognition", L2: "Fine-grained Perception (instance-level)");
    }

    private static Question CountOf(SceneGenerator gen)
    {
        var shape = gen.Pick(Palette.Shapes);
        int n = gen.Random.Next(1, 7);
        var others = Palette.Shapes.Where(s => s != shape).ToList();
        var required = Enumerable.Range(0, n).Select(_ => new SceneObject(shape, gen.Pick(Palette.Colors), 0, 0, 32)).ToList();
        required.AddRange(Enumerable.Range(0, gen.Random.Next(0, 3)).Select(_ => new SceneObject(gen.Pick(others), gen.Pick(Palette.Colors), 0, 0, 32)));
        var (options, correct) = Options(gen, SyntheticSuite.Int(n), Enumerable.Range(Math.Max(0, n - 3), 7).Select(v => SyntheticSuite.Int(v)));
        return new Question(gen.Objects(required.Count, (224, 168), required), $"How many {Palette.Plural(shape)} are in the image?", options, correct, "object_counting", L2: "Fine-grained Perception (instance-level)");
    }

    private static Question SpatialRelation(SceneGenerator gen)
    {
        var scene = gen.Objects(gen.Random.Next(3, 6));
        var distinct = scene.Objects.GroupBy(o => (o.Shape, o.Color)).Where(g => g.Count() == 1).Select(g => g.Single()).ToList();
        if (distinct.Count < 2) return SpatialRelation(gen);
        var anchor = distinct[gen.Random.Next(distinct.Count)];
        var leftmost = scene.Objects.Where(o => o != anchor).OrderBy(o => o.X).ThenBy(o => o.Y).First();
        if (scene.Objects.Count(o => o != anchor && o.X == leftmost.X) > 1) return SpatialRelation(gen);
        string Name(SceneObject o) => $"{o.Color.Name} {Palette.Name(o.Shape)}";
        var distractors = scene.Objects.Where(o => o != anchor && o != leftmost).Select(Name)
            .Concat(Palette.Colors.Select(c => $"{c.Name} {Palette.Name(gen.Pick(Palette.Shapes))}"));
        var (options, correct) = Options(gen, Name(leftmost), distractors);
        return new Question(scene, $"Apart from the {Name(anchor)}, which object is furthest to the left?", options, correct, "spatial_relationship", L2: "Relation Reasoning");
    }

    private static Question ShapeOf(SceneGenerator gen)
    {
        var color = gen.Pick(Palette.Colors);
        var shape = gen.Pick(Palette.Shapes);
        var required = new List<SceneObject> { new(shape, color, 0, 0, 44) };
        required.AddRange(Enumerable.Range(0, gen.Random.Next(1, 3)).Select(_ =>
            new SceneObject(gen.Pick(Palette.Shapes), gen.Pick(Palette.Colors.Where(c => c != color).ToList()), 0, 0, 36)));
        var (options, correct) = Options(gen, Palette.Name(shape), Palette.Shapes.Select(Palette.Name).Append("star"));
        return new Question(gen.Objects(required.Count, required: required), $"What shape is the {color.Name} object?", options, correct, "shape_recognition", L2: "Coarse Perception");
    }

    private static Question BarChart(SceneGenerator gen)
    {
        const int w = 224, h = 168;
        // Three-letter labels at font scale 2 (34 px) fit the 52-px bar pitch.
        var labels = Palette.Words.Select(s => s[..3]).Distinct().OrderBy(_ => gen.Random.Next()).Take(4).ToList();
        var heights = Enumerable.Range(0, 4).Select(_ => gen.Random.Next(2, 12) * 10).Distinct().ToList();
        if (heights.Count < 4) return BarChart(gen);
        var texts = new List<SceneText>();
        var bars = new List<SceneObject>();
        int baseY = h - 22;
        for (int i = 0; i < 4; i++)
        {
            int x = 10 + i * 52;
            texts.Add(new SceneText(labels[i], x, baseY + 4, 2, Palette.Black));
            // A bar is a stack of 10-px squares so the scene stays within the shape vocabulary.
            for (int y = baseY - 5; y > baseY - heights[i]; y -= 10) bars.Add(new SceneObject(ShapeKind.Square, Palette.Colors[2], x + 17, y, 10));
        }
        bool tallest = gen.Random.Next(2) == 0;
        int target = tallest ? heights.IndexOf(heights.Max()) : heights.IndexOf(heights.Min());
        var scene = new Scene(w, h, Palette.White, bars, texts);
        return new Question(scene, $"Which label has the {(tallest ? "tallest" : "shortest")} bar?", labels, target, "chart");
    }

    private static Question WordMap(SceneGenerator gen)
    {
        var (w, h) = (224, 224);
        var words = Palette.Words.Where(s => s.Length <= 6).OrderBy(_ => gen.Random.Next()).Take(4).ToList();
        string[] corners = ["top left", "top right", "bottom left", "bottom right"];
        var texts = new List<SceneText>();
        for (int i = 0; i < 4; i++)
        {
            int x = i % 2 == 0 ? 6 : w - BitmapFont.MeasureWidth(words[i], 2) - 6;
            int y = i < 2 ? 8 : h - 22;
            texts.Add(new SceneText(words[i], x, y, 2, Palette.Black));
        }
        int target = gen.Random.Next(4);
        // Options in random order: listed corner by corner, the question's corner alone would give the letter away.
        var (options, correct) = Options(gen, words[target], words);
        return new Question(new Scene(w, h, Palette.White, [], texts), $"Which place name is in the {corners[target]} corner of the map?", options, correct, "map");
    }

    private static Question WebPage(SceneGenerator gen)
    {
        var (w, h) = (224, 168);
        var words = Palette.Words.Where(s => s.Length <= 6).OrderBy(_ => gen.Random.Next()).Take(4).ToList();
        var texts = new List<SceneText>
        {
            new(words[0].ToUpperInvariant(), 8, 8, 3, Palette.Black),
            new(words[1], 8, 50, 2, Palette.Black),
            new(words[2], 8, 76, 2, Palette.Black),
        };
        var scene = new Scene(w, h, Palette.White, [], texts.Append(new SceneText(words[3], w - BitmapFont.MeasureWidth(words[3], 2) - 6, h - 22, 2, Palette.Colors[2])).ToList());
        bool askTitle = gen.Random.Next(2) == 0;
        // Options in random order and all lower case: the title first, or the only capitalised option, would give it away.
        var (options, correct) = Options(gen, words[askTitle ? 0 : 3], words);
        return new Question(scene, askTitle ? "What is the title of the web page?" : "What does the blue link at the bottom right say?",
            options, correct, "web");
    }
}
