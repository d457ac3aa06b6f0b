using System.Text.RegularExpressions;
using UniPrune.Engine.Datasets;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Synthetic;
using UniPrune.Engine.Training;

namespace UniPrune.Engine.Tests.Synthetic;

public class VerifyQuestionsTests
{
    [Fact]
    public void EachPictureWithObjectsGetsAsManyAbsentAsPresentObjectsAskedTruthfully()
    {
        var pictures = CaptionGenerator.Generate(seed: 4, count: 40);
        var table = VerifyQuestions.PopeStyle(pictures, perImage: 4, seed: 4);
        var byPicture = new List<List<Dictionary<string, string>>>();
        foreach (var row in table.Rows)
            if (row["image"].Length > 20) byPicture.Add([row]); else byPicture[^1].Add(row);
        var withObjects = pictures.Where(p => p.Scene.Objects.Count > 0).ToList();
        Assert.Equal(withObjects.Count, byPicture.Count);
        for (int i = 0; i < withObjects.Count; i++)
        {
            var scene = withObjects[i].Scene;
            var rows = byPicture[i];
            Assert.Equal(withObjects[i].Base64Png, rows[0]["image"]);
            int distinct = scene.Objects.Select(o => (o.Shape, o.Color)).Distinct().Count();
            Assert.Equal(2 * Math.Min(2, distinct), rows.Count);
            Assert.Equal(rows.Count(r => r["answer"] == "Yes"), rows.Count(r => r["answer"] == "No"));
            foreach (var row in rows)
            {
                bool present = scene.Objects.Any(o => row["question"] == $"Is there a {o.Color.Name} {Palette.Name(o.Shape)} in the image?");
                Assert.Equal(present ? "Yes" : "No", row["answer"]);
            }
        }
        Assert.Throws<ArgumentException>(() => VerifyQuestions.PopeStyle(pictures, perImage: 3, seed: 4));
    }

    [Fact]
    public void TheQuestionsReadBackThroughThePopeReaderWithTheCaptionPicturesKeys()
    {
        string folder = TestPaths.NewTempDir();
        try
        {
            var pictures = CaptionGenerator.Generate(seed: 2, count: 10);
            var captions = SyntheticTrainingSet.CaptionExamples(pictures);
            var verify = SyntheticTrainingSet.VerifyExamples(pictures, perImage: 2, seed: 2, folder, ModelFamilies.Llava15);
            Assert.NotEmpty(verify);
            var captionKeys = captions.Select(c => c.Plan.Images[0].Key).ToHashSet();
            Assert.All(verify, v => Assert.Contains(v.Plan.Images[0].Key, captionKeys));
            Assert.All(verify, v => Assert.Equal("POPE", v.Dataset));
            Assert.All(verify, v => Assert.StartsWith("Is there a ", Assert.IsType<TextSegment>(v.Plan.Message.Segments[^1]).Text));
        }
        finally { Directory.Delete(folder, true); }
    }

    [Fact]
    public void EachPictureWithOneTextIsAskedToReadItThroughTheOcrBenchReader()
    {
        string folder = TestPaths.NewTempDir();
        try
        {
            var pictures = CaptionGenerator.Generate(seed: 3, count: 30);
            var single = pictures.Where(p => p.Scene.Texts.Count == 1).ToList();
            Assert.NotEmpty(single);
            var table = VerifyQuestions.OcrStyle(pictures);
            Assert.Equal(single.Count, table.Rows.Count);
            for (int i = 0; i < single.Count; i++)
            {
                Assert.Equal(single[i].Base64Png, table.Rows[i]["image"]);
                Assert.Equal($"['{single[i].Scene.Texts[0].Text}']", table.Rows[i]["answer"]);
            }
            var reading = SyntheticTrainingSet.ReadingExamples(pictures, folder, ModelFamilies.Qwen25VL);
            var captionKeys = SyntheticTrainingSet.CaptionExamples(pictures).Select(c => c.FirstImageKey).ToHashSet();
            Assert.All(reading, r => Assert.Contains(r.FirstImageKey, captionKeys));
            Assert.Equal(single.Select(p => p.Scene.Texts[0].Text), reading.Select(r => r.Answer));
            Assert.Contains(reading, r => r.Plan.Message.Segments.OfType<TextSegment>().Any(t => t.Text.Contains("what is the number in the image?")));
        }
        finally { Directory.Delete(folder, true); }
    }

    [Fact]
    public void AttributePairsAreTruthfulOneYesOneNoPerPairAndReadBackThroughTheMmeReader()
    {
        var pictures = CaptionGenerator.Generate(seed: 6, count: 60);
        var table = VerifyQuestions.MmeStyle(pictures, seed: 6);
        var shapes = Palette.Shapes.ToDictionary(Palette.Name);
        foreach (var s in Palette.Shapes) shapes[Palette.Plural(s)] = s;
        var colors = Palette.Colors.ToDictionary(c => c.Name);
        Scene? scene = null;
        var byCategory = new Dictionary<string, int>();
        for (int r = 0; r < table.Rows.Count; r += 2)
        {
            var pair = new[] { table.Rows[r], table.Rows[r + 1] };
            Assert.Equal(pair[0]["category"], pair[1]["category"]);
            Assert.Equal(["No", "Yes"], pair.Select(x => x["answer"]).Order());
            if (pair[0]["image"].Length > 20) scene = pictures.Single(p => p.Base64Png == pair[0]["image"]).Scene;
            else Assert.Equal(pair[0]["image"], table.Rows.First(x => x["index"] == pair[0]["image"])["index"]);
            byCategory[pair[0]["category"]] = byCategory.GetValueOrDefault(pair[0]["category"]) + 1;
            foreach (var row in pair)
            {
                string q = row["question"];
                Assert.EndsWith(" Please answer yes or no.", q);
                bool truth;
                if (Regex.Match(q, @"^Are there (\d+) (\w+) in the image\?") is { Success: true } count)
                    truth = scene!.Count(shapes[count.Groups[2].Value]) == int.Parse(count.Groups[1].Value);
                else if (Regex.Match(q, @"^Is the (\w+) (\w+) to the left of the (\w+) (\w+)\?") is { Success: true } position)
                {
                    var a = scene!.Objects.Single(o => o.Color.Name == position.Groups[1].Value && Palette.Name(o.Shape) == position.Groups[2].Value);
                    var b = scene.Objects.Single(o => o.Color.Name == position.Groups[3].Value && Palette.Name(o.Shape) == position.Groups[4].Value);
                    truth = a.X < b.X;
                }
                else if (Regex.Match(q, @"^Is the (\w+) (\w+)\?") is { Success: true } color)
                    truth = scene!.Objects.Single(o => o.Shape == shapes[color.Groups[1].Value]).Color == colors[color.Groups[2].Value];
                else throw new Xunit.Sdk.XunitException($"unexpected question '{q}'");
                Assert.Equal(truth ? "Yes" : "No", row["answer"]);
            }
        }
        Assert.Equal(["color", "count", "position"], byCategory.Keys.Order());
        Assert.Equal(pictures.Count(p => p.Scene.Objects.Count > 0), byCategory["count"]);

        string folder = TestPaths.NewTempDir();
        try
        {
            var examples = SyntheticTrainingSet.AttributeExamples(pictures, seed: 6, folder, ModelFamilies.InternVL3);
            Assert.Equal(table.Rows.Count, examples.Count);
            Assert.All(examples, e => Assert.Equal("MME", e.Dataset));
            var captionKeys = SyntheticTrainingSet.CaptionExamples(pictures).Select(c => c.FirstImageKey).ToHashSet();
            Assert.All(examples, e => Assert.Contains(e.FirstImageKey, captionKeys));
            Assert.Equal(table.Rows.Select(r => r["answer"]), examples.Select(e => e.Answer));
        }
        finally { Directory.Delete(folder, true); }
    }
}
