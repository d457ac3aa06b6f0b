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
