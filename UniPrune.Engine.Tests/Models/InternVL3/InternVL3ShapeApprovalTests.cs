using System.Text;
using UniPrune.Engine.Models.Common;
using UniPrune.Engine.Models.InternVL3;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.InternVL3;

/// <summary>
/// The full InternVL3-1B/8B skeletons built on the meta device from the real configs: every weight name and shape is
/// approved as text, and parameter totals are checked against models.md §6.1 (computed there from the hub files).
/// </summary>
public class InternVL3ShapeApprovalTests
{
    private static string Here => Path.Combine(TestPaths.RepoRoot, "UniPrune.Engine.Tests", "Models", "InternVL3");

    public static TheoryData<string, double, double, int, double> RealModels => new()
    {
        // name, vision M, projector M (and its decimals as printed), LLM M — models.md §6.1
        { "InternVL3-1B", 304.0, 4.48, 2, 629.7 },
        { "InternVL3-8B", 304.0, 27.5, 1, 7612.8 },
    };

    [Theory, MemberData(nameof(RealModels))]
    public void SkeletonShapesAreApproved(string name, double visionM, double projectorM, int projectorDecimals, double llmM)
    {
        var config = InternVL3Config.Load(Path.Combine(Here, "Configs", $"{name}.config.json"));
        using var model = new InternVL3Model(config, new ParameterFactory(ScalarType.BFloat16, META));
        var shapes = model.ParameterShapes();

        var text = new StringBuilder();
        foreach (var (key, shape) in shapes) text.Append(key).Append(" [").Append(string.Join(", ", shape)).Append("]\n");
        Approve($"{name}.shapes", text.ToString());

        double Millions(string prefix) => shapes.Where(s => s.Key.StartsWith(prefix, StringComparison.Ordinal))
            .Sum(s => (double)s.Shape.Aggregate(1L, (a, b) => a * b)) / 1e6;
        Assert.Equal(visionM, Millions("vision_model."), 1);
        Assert.Equal(projectorM, Millions("mlp1."), projectorDecimals);
        Assert.Equal(llmM, Millions("language_model."), 1);
        Assert.Equal(shapes.Count, shapes.Select(s => s.Key).Distinct().Count());
    }

    [Fact]
    public void RealConfigsGiveTheDocumentedDerivedSizes()
    {
        var small = InternVL3Config.Load(Path.Combine(Here, "Configs", "InternVL3-1B.config.json"));
        var large = InternVL3Config.Load(Path.Combine(Here, "Configs", "InternVL3-8B.config.json"));
        foreach (var c in new[] { small, large })
        {
            Assert.Equal(256, c.ImageTokensPerTile);
            Assert.Equal(4096, c.ProjectorInputSize);
            Assert.Equal(24, c.VisionLayersToRun);
            Assert.Equal(448, c.TileSize);
            Assert.Equal(2.0, c.Language.DynamicRopeFactor);
        }
        Assert.Equal((64, 14, 2), (small.Language.HeadDim, small.Language.NumAttentionHeads, small.Language.NumKeyValueHeads));
        Assert.Equal((128, 28, 4), (large.Language.HeadDim, large.Language.NumAttentionHeads, large.Language.NumKeyValueHeads));
    }

    /// <summary>Compares with <c>Approvals/{name}.approved.txt</c>; on a difference writes <c>.received.txt</c> next to it and fails.</summary>
    private static void Approve(string name, string received)
    {
        string dir = Path.Combine(Here, "Approvals");
        string approved = Path.Combine(dir, $"{name}.approved.txt"), receivedPath = Path.Combine(dir, $"{name}.received.txt");
        if (File.Exists(approved) && File.ReadAllText(approved) == received)
        {
            if (File.Exists(receivedPath)) File.Delete(receivedPath);
            return;
        }
        Directory.CreateDirectory(dir);
        File.WriteAllText(receivedPath, received);
        Assert.Fail($"{name}: output differs from {approved} (or it does not exist); review {receivedPath} and rename it to accept");
    }
}
