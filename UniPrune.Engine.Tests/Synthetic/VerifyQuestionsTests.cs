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
}
