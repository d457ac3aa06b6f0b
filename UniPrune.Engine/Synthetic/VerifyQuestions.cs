namespace UniPrune.Engine.Synthetic;

/// <summary>
/// Training-only existence questions about the caption pictures, in POPE's table format (so the POPE reader and each
/// family's POPE prompt policy lay them out exactly as the benchmark asks): per picture, as many absent objects as
/// present ones, the absent ones preferably sharing a colour or a shape with a present one (POPE's adversarial
/// sampler). A caption teaches the model to list what it sees; these teach it to check one named thing against the
/// picture, half "Yes" and half "No" per picture, so within the picture only the image tells the answers apart.
/// Never part of the benchmark tables.
/// </summary>
public static class VerifyQuestions
{
    /// <param name="perImage">Questions per picture with objects (even; half present, half absent); pictures of text only get none.</param>
    public static SyntheticTable PopeStyle(IReadOnlyList<CaptionedImage> pictures, int perImage, int seed)
    {
        if (perImage < 2 || perImage % 2 != 0) throw new ArgumentException($"--verify {perImage}: expected an even number of questions per picture, at least 2");
        var random = new Random(seed);
        var table = new SyntheticTable("POPE" + SyntheticSuite.Suffix, ["index", "image", "question", "answer", "category"]);
        var all = Palette.Shapes.SelectMany(s => Palette.Colors.Select(c => (Shape: s, Color: c))).ToList();
        int index = 0;
        foreach (var picture in pictures)
        {
            var scene = picture.Scene;
            var present = scene.Objects.Select(o => (o.Shape, o.Color)).Distinct().OrderBy(_ => random.Next()).Take(perImage / 2).ToList();
            if (present.Count == 0) continue;
            var absent = all.Where(o => !scene.Has(o.Shape, o.Color)).ToList();
            var adversarial = absent.Where(o => scene.Objects.Any(p => p.Shape == o.Shape || p.Color == o.Color)).OrderBy(_ => random.Next());
            var negatives = adversarial.Concat(absent.OrderBy(_ => random.Next())).Distinct().Take(present.Count).ToList();
            var rows = present.Select(o => (o, Answer: "Yes")).Concat(negatives.Select(o => (o, Answer: "No"))).OrderBy(_ => random.Next()).ToList();
            int first = index;
            foreach (var ((shape, color), answer) in rows)
            {
                table.Add(new()
                {
                    ["index"] = SyntheticSuite.Int(index), ["image"] = index == first ? picture.Base64Png : SyntheticSuite.Int(first),
                    ["question"] = $"Is there a {color.Name} {Palette.Name(shape)} in the image?", ["answer"] = answer, ["category"] = "verify",
                });
                index++;
            }
        }
        return table;
    }

    /// <summary>
    /// Training-only question pairs in MME's table format about the caption pictures: per picture with objects, a count
    /// pair ("Are there n squares?" with the true n, then n ± 1), a colour pair for a shape drawn once ("Is the circle red?"
    /// with its colour, then another) and a position pair for two objects each the only one of its colour and shape
    /// ("Is the A to the left of the B?" both ways round), in the words of the suite's MME generator. Each pair is one
    /// "Yes" and one "No" about the same picture, so only the picture tells them apart. Never part of the benchmark tables.
    /// </summary>
    public static SyntheticTable MmeStyle(IReadOnlyList<CaptionedImage> pictures, int seed)
    {
        var random = new Random(unchecked(seed * 31 + 7));
        var table = new SyntheticTable("MME" + SyntheticSuite.Suffix, ["index", "image", "image_path", "question", "answer", "category"]);
        foreach (var (picture, p) in pictures.Select((x, i) => (x, i)))
        {
            var scene = picture.Scene;
            if (scene.Objects.Count == 0) continue;
            var pairs = new List<(string Category, string Yes, string No)>();
            var shape = scene.Objects[random.Next(scene.Objects.Count)].Shape;
            int n = scene.Count(shape);
            int wrong = n == 1 || random.Next(2) == 0 ? n + 1 : n - 1;
            pairs.Add(("count", MmeGenerator.CountQuestion(shape, n), MmeGenerator.CountQuestion(shape, wrong)));
            var single = scene.Objects.Where(o => scene.Count(o.Shape) == 1).ToList();
            if (single.Count > 0)
            {
                var o = single[random.Next(single.Count)];
                var other = Palette.Colors.Where(c => c != o.Color).ToList()[random.Next(Palette.Colors.Count - 1)];
                pairs.Add(("color", MmeGenerator.ColorQuestion(o.Shape, o.Color), MmeGenerator.ColorQuestion(o.Shape, other)));
            }
            var unique = scene.Objects.Where(o => scene.Count(o.Shape, o.Color) == 1).OrderBy(_ => random.Next()).ToList();
            if (unique.Count >= 2 && unique[0].X != unique[1].X)
            {
                var (left, right) = unique[0].X < unique[1].X ? (unique[0], unique[1]) : (unique[1], unique[0]);
                pairs.Add(("position", MmeGenerator.LeftOfQuestion(left, right), MmeGenerator.LeftOfQuestion(right, left)));
            }
            int first = table.Rows.Count;
            foreach (var (category, yes, no) in pairs)
            {
                // Which of the pair comes first is random, as in the suite's MME table.
                bool yesFirst = random.Next(2) == 0;
                foreach (var (question, answer) in yesFirst ? new[] { (yes, "Yes"), (no, "No") } : [(no, "No"), (yes, "Yes")])
                {
                    int index = table.Rows.Count;
                    table.Add(new()
                    {
                        ["index"] = SyntheticSuite.Int(index), ["image"] = index == first ? picture.Base64Png : SyntheticSuite.Int(first),
                        ["image_path"] = $"verify/{p:D5}.png", ["question"] = question + MmeGenerator.Suffix, ["answer"] = answer, ["category"] = category,
                    });
                }
            }
        }
        return table;
    }

    /// <summary>
    /// Training-only reading questions in OCRBench's table format: each caption picture that shows one run of text is asked
    /// for it ("what is the number in the image?" for digits, else "what is written in the image?", OCRBench's own
    /// questions), answered with the text. A caption names the text among everything else; these ask for it alone, through
    /// the OCRBench reader and each family's OCRBench prompt, on pictures that packing already shares with their captions.
    /// </summary>
    public static SyntheticTable OcrStyle(IReadOnlyList<CaptionedImage> pictures)
    {
        var table = new SyntheticTable("OCRBench" + SyntheticSuite.Suffix, ["index", "image", "question", "answer", "category"]);
        foreach (var picture in pictures)
        {
            if (picture.Scene.Texts is not [var text]) continue;
            bool digits = text.Text.All(char.IsAsciiDigit);
            table.Add(new()
            {
                ["index"] = SyntheticSuite.Int(table.Rows.Count), ["image"] = picture.Base64Png,
                ["question"] = digits ? "what is the number in the image?" : "what is written in the image?",
                ["answer"] = $"['{text.Text}']", ["category"] = digits ? "Digit String Recognition" : "Regular Text Recognition",
            });
        }
        return table;
    }
}
