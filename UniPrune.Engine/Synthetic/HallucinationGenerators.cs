namespace UniPrune.Engine.Synthetic;

/// <summary>Hallucination tables: POPE-style object existence with three negative-sampling splits, and HallusionBench-style question groups.</summary>
internal static class HallucinationGenerators
{
    private static string ObjectName(ShapeKind s, NamedColor c) => $"{c.Name} {Palette.Name(s)}";

    /// <summary>
    /// POPE-style: per image, present objects are asked as positives; negatives come from the three POPE samplers:
    /// random (any absent object), popular (absent objects most frequent across the split) and adversarial (absent
    /// objects sharing a colour or shape with a present one, the analogue of co-occurrence). A row that several
    /// samplers produce lists them all in `category`, as POPE's TSV does.
    /// </summary>
    public static SyntheticTable Pope(Random random, int images)
    {
        var table = new SyntheticTable("POPE" + SyntheticSuite.Suffix, ["index", "image", "question", "answer", "category"]);
        var gen = new SceneGenerator(random);
        var scenes = Enumerable.Range(0, images).Select(_ => gen.Objects(gen.Random.Next(2, 6))).ToList();
        var frequency = scenes.SelectMany(s => s.Objects.Select(o => ObjectName(o.Shape, o.Color)).Distinct())
            .GroupBy(n => n).ToDictionary(g => g.Key, g => g.Count());
        var all = Palette.Shapes.SelectMany(s => Palette.Colors.Select(c => (s, c))).ToList();
        var popularOrder = all.OrderByDescending(o => frequency.GetValueOrDefault(ObjectName(o.s, o.c))).ThenBy(o => ObjectName(o.s, o.c)).ToList();
        int index = 0;
        foreach (var scene in scenes)
        {
            string image = SyntheticSuite.Base64Png(scene);
            int first = index;
            var rows = new Dictionary<string, (string Answer, SortedSet<string> Splits)>();
            void Add(string name, string answer, string split)
            {
                if (!rows.TryGetValue(name, out var r)) rows[name] = r = (answer, new SortedSet<string>());
                r.Splits.Add(split);
            }
            var present = scene.Objects.Select(o => ObjectName(o.Shape, o.Color)).Distinct().Take(2).ToList();
            var absent = all.Where(o => !scene.Has(o.s, o.c)).ToList();
            foreach (var split in new[] { "adversarial", "popular", "random" })
            {
                foreach (var p in present) Add(p, "Yes", split);
                var negatives = split switch
                {
                    "random" => absent.OrderBy(_ => gen.Random.Next()).Take(present.Count),
                    "popular" => popularOrder.Where(o => !scene.Has(o.s, o.c)).Take(present.Count),
                    _ => absent.Where(o => scene.Objects.Any(p => p.Shape == o.s || p.Color == o.c)).OrderBy(_ => gen.Random.Next()).Take(present.Count),
                };
                foreach (var (s, c) in negatives) Add(ObjectName(s, c), "No", split);
            }
            foreach (var (name, (answer, splits)) in rows.OrderBy(r => r.Key, StringComparer.Ordinal))
            {
                table.Add(new()
                {
                    ["index"] = SyntheticSuite.Int(index), ["image"] = index == first ? image : SyntheticSuite.Int(first),
                    ["question"] = $"Is there a {name} in the image?", ["answer"] = answer, ["category"] = string.Join(",", splits),
                });
                index++;
            }
        }
        return table;
    }

    /// <summary>
    /// HallusionBench-style groups: each set has an original figure and an edited one (one object recoloured), asked
    /// the same questions, so answers flip with the edit. Indices carry l2-category, set, figure and question ids in
    /// fields [3], [4], [5] as HallusionBench's do. VD questions depend on the image; VS questions state a premise in the
    /// text that the figure must override.
    /// </summary>
    public static SyntheticTable HallusionBench(Random random, int sets)
    {
        var table = new SyntheticTable("HallusionBench" + SyntheticSuite.Suffix, ["index", "image", "question", "answer", "category", "l2-category"]);
        var gen = new SceneGenerator(random);
        for (int set = 0; set < sets; set++)
        {
            var original = gen.Objects(gen.Random.Next(2, 5));
            var target = original.Objects[0];
            var newColor = gen.Pick(Palette.Colors.Where(c => c != target.Color && !original.Has(target.Shape, c)).ToList());
            var edited = original with { Objects = original.Objects.Select((o, i) => i == 0 ? o with { Color = newColor } : o).ToList() };
            string l2 = set % 2 == 0 ? "figure" : "illusion";
            string category = set % 3 == 2 ? "VS" : "VD";
            var figures = new[] { original, edited };
            for (int fig = 0; fig < 2; fig++)
            {
                string image = SyntheticSuite.Base64Png(figures[fig]);
                string firstIndex = $"synthetic_{category}_{l2}_{set}_{fig}_0";
                var questions = new[]
                {
                    ($"Is there a {target.Color.Name} {Palette.Name(target.Shape)} in the image?", fig == 0),
                    ($"Is there a {newColor.Name} {Palette.Name(target.Shape)} in the image?", fig == 1),
                };
                for (int q = 0; q < questions.Length; q++)
                {
                    var (text, yes) = questions[q];
                    if (category == "VS") text = $"Someone says the picture shows a {target.Color.Name} {Palette.Name(target.Shape)}. Looking at the picture, {char.ToLowerInvariant(text[0])}{text[1..]}";
                    table.Add(new()
                    {
                        ["index"] = $"synthetic_{category}_{l2}_{set}_{fig}_{q}", ["image"] = q == 0 ? image : firstIndex, ["question"] = text,
                        ["answer"] = yes ? "Yes" : "No", ["category"] = category, ["l2-category"] = l2,
                    });
                }
            }
        }
        return table;
    }
}
