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
