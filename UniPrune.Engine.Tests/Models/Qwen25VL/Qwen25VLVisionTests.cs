using UniPrune.Engine.Core;
using UniPrune.Engine.Models.Qwen25VL;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.Qwen25VL;

/// <summary>The vision tower against transformers 4.50's Qwen2.5-VL, stage by stage (golden folder qwen2_5_vl).</summary>
public class Qwen25VLVisionTests(ITestOutputHelper log)
{
    [Fact]
    public void WindowPlanEqualsTheReference()
    {
        using var golden = new Qwen25VLGolden();
        var plan = Qwen25VisionTower.PlanWindows(golden.Grids(), golden.Config.Vision);
        using var index = golden.Outputs.Read("vision_window_index");
        using var cu = golden.Outputs.Read("vision_cu_window_seqlens");
        Assert.Equal(index.data<long>().ToArray(), plan.WindowIndex);
        Assert.Equal(cu.data<int>().ToArray(), plan.CuWindowSeqlens);
        Assert.Equal([0, 192], plan.CuImageSeqlens);
    }

    [Theory]
    [InlineData(8, 8, new[] { 0, 64 })]                 // grid a multiple of the window: the reference's empty band adds nothing
    [InlineData(4, 20, new[] { 0, 32, 64, 80 })]         // 2×10 cells: windows of 2×4, 2×4, 2×2 cells
    [InlineData(18, 2, new[] { 0, 16, 32, 36 })]         // 9×1 cells: windows of 4×1, 4×1, 1×1 cells
    public void WindowPlanCutsEdgeWindows(int h, int w, int[] expectedCuPrefix)
    {
        using var golden = new Qwen25VLGolden();
        var plan = Qwen25VisionTower.PlanWindows([new GridThw(1, h, w)], golden.Config.Vision);
        Assert.Equal(expectedCuPrefix, plan.CuWindowSeqlens.Take(expectedCuPrefix.Length));
        Assert.Equal(h * w, plan.CuWindowSeqlens[^1]);
        Assert.Equal(Enumerable.Range(0, h * w / 4).Select(i => (long)i), plan.WindowIndex.Order());
    }

    [Fact]
    public void RotaryTableEqualsTheReference()
    {
        using var golden = new Qwen25VLGolden();
        using var angles = Qwen25VisionTower.RotaryAngles(golden.Grids(), golden.Config.Vision);
        using var expected = golden.Outputs.Read("vision_rotary_pos_emb");
        Qwen25VLGolden.AssertClose(expected, angles, "vision_rotary_pos_emb", log, atol: 1e-6, rtol: 1e-6);
    }

    [Fact]
    public void ImportanceIsOnlyComputedWhenAsked()
    {
        using var golden = new Qwen25VLGolden();
        using var tower = new Qwen25VisionTower(golden.Config.Vision, UniPrune.Engine.Models.Common.ParameterFactory.Cpu());
        using var pixels = golden.Inputs.Read("pixel_values");
        using var _ = no_grad();
        using var output = tower.Forward(pixels, golden.Grids());
        Assert.Null(output.AttentionReceived);
        Assert.Equal([48, 64], output.ImageEmbeds.shape);
    }

    [Fact]
    public void WrongPixelShapeNamesTheExpectedShape()
    {
        using var golden = new Qwen25VLGolden();
        using var tower = new Qwen25VisionTower(golden.Config.Vision, UniPrune.Engine.Models.Common.ParameterFactory.Cpu());
        using var pixels = zeros(10, 1176);
        var e = Assert.Throws<ArgumentException>(() => tower.Forward(pixels, golden.Grids()));
        Assert.Contains("expected [192, 1176]", e.Message);
    }
}

public class Qwen25VLMultiImageTests(ITestOutputHelper log)
{
    [Fact]
    public void TwoImagesInOneCallEqualTwoSeparateCalls()
    {
        // Windows, full-attention spans and the inverse permutation are per image: batching must change nothing.
        using var golden = new Qwen25VLGolden();
        using var model = golden.LoadModel();
        using var pixels = golden.Inputs.Read("pixel_values");
        var grid = golden.Grids().Single();
        using var twice = cat([pixels, pixels.flip(0)], 0);   // a second, different image with the same grid
        using var _ = no_grad();
        using var together = model.Vision.Forward(twice, [grid, grid], withImportance: true);
        using var first = model.Vision.Forward(pixels, [grid], withImportance: true);
        using var flipped = pixels.flip(0);
        using var second = model.Vision.Forward(flipped, [grid], withImportance: true);

        Assert.Equal([0, 64, 128, 160, 192, 256, 320, 352, 384], together.Plan.CuWindowSeqlens);
        Assert.Equal([0, 192, 384], together.Plan.CuImageSeqlens);
        using var separate = cat([first.ImageEmbeds, second.ImageEmbeds], 0);
        using var separateImportance = cat([first.AttentionReceived!, second.AttentionReceived!], 0);
        Qwen25VLGolden.AssertClose(separate, together.ImageEmbeds, "two images batched vs separate", log, atol: 1e-5, rtol: 1e-5);
        Qwen25VLGolden.AssertClose(separateImportance, together.AttentionReceived!, "importance batched vs separate", log, atol: 1e-6, rtol: 1e-5);
    }

    [Fact]
    public void TwoImagePromptContinuesPositionsAfterEachImage()
    {
        using var golden = new Qwen25VLGolden();
        using var model = golden.LoadModel();
        using var image = golden.Encode(model, UniPrune.Engine.Models.Abstractions.VisionExtras.None);
        var ids = golden.InputIds();
        long pad = golden.Config.Tokens.ImageToken;
        // prompt = text before the image, image, 2 text tokens, the same image again, the rest
        var before = ids.TakeWhile(id => id != pad).ToArray();
        var after = ids.SkipWhile(id => id != pad).SkipWhile(id => id == pad).ToArray();
        var placeholders = Enumerable.Repeat(pad, 48).ToArray();
        long[] prompt = [.. before, .. placeholders, after[0], 5, golden.Config.Tokens.VisionStart, .. placeholders, .. after];
        using var run = model.RunPrompt(prompt, [image, image], null, 2, new HashSet<long>());
        var p = run.Positions;
        int secondStart = before.Length + 48 + 3;
        // First image: positions 15..22 (8 columns, 6 rows); the 3 text tokens take 23, 24, 25; the second image starts at 26.
        Assert.Equal(26, p.Rows[0][secondStart]);
        Assert.Equal(26 + 5, p.Rows[1][secondStart + 47]);
        Assert.Equal(26 + 7, p.Rows[2][secondStart + 47]);
        Assert.Equal(26 + 8, p.Rows[0][secondStart + 48]);
        Assert.Equal(96, run.VisualTokens);
        var (embeds, layout, _) = model.Splice(prompt, [image, image]);
        using (embeds)
        {
            Assert.Equal([(0, 0, 48), (1, 48, 48)], layout.Units.Select(u => (u.ImageIndex, u.Offset, u.Count)));
            Assert.Equal(secondStart, layout.SequenceIndexOf(48));
        }
    }
}
