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
}
