using UniPrune.Engine.Models.Common;
using UniPrune.Engine.Models.Qwen25VL;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.Qwen25VL;

/// <summary>
/// The real 3B and 7B skeletons built on the meta device from their config.json (nothing allocated): every parameter
/// name and shape is approved as text, and the totals are checked against models.md §6.1.
/// </summary>
public class Qwen25VLShapeTests
{
    [Theory]
    // vision (patch embed + 32 blocks), merger, LLM (embeddings, layers, norm, lm_head when untied): models.md §6.1
    [InlineData("3b", 631.98, 36.7, 3085.9)]
    [InlineData("7b", 631.98, 44.6, 7615.6)]
    public void MetaSkeletonShapesAreApprovedAndTotalsMatchTheSpec(string size, double visionM, double mergerM, double llmM)
    {
        var config = Qwen25VLConfig.Load(Qwen25VLConfigTests.RealConfig(size));
        using var model = Qwen25VLModel.OnMeta(config);
        var shapes = model.ParameterShapes().ToList();
        Assert.All(shapes, s => Assert.False(string.IsNullOrEmpty(s.Name)));
        ShapeApproval.Verify($"Qwen2.5-VL-{size.ToUpperInvariant()}-Instruct.shapes", ShapeApproval.Render(shapes));

        double Millions(Func<string, bool> part) => shapes.Where(s => part(s.Name)).Sum(s => s.Shape.Aggregate(1L, (a, b) => a * b)) / 1e6;
        Assert.Equal(visionM, Millions(n => n.StartsWith("visual.") && !n.StartsWith("visual.merger.")), 2);
        Assert.Equal(mergerM, Millions(n => n.StartsWith("visual.merger.")), 1);
        Assert.Equal(llmM, Millions(n => !n.StartsWith("visual.")), 1);
        Assert.Equal(config.Text.TieWordEmbeddings, !shapes.Any(s => s.Name == "lm_head.weight"));
    }
}
