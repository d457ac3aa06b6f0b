using UniPrune.Engine.Core;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.InternVL3;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.InternVL3;

/// <summary>Vision-side parity with the reference (InternViT, pixel shuffle, mlp1, CLS attention) for both golden folders.</summary>
public class InternVL3VisionGoldenTests(ITestOutputHelper log)
{
    public static TheoryData<string> Folders => new() { "internvl3", "internvl3_vit6b_style" };
    private const double Tolerance = 1e-4;

    [Theory, MemberData(nameof(Folders))]
    public void VisionStagesMatchTheReference(string folder)
    {
        string dir = TestPaths.Golden(folder);
        using var model = InternVL3Model.Load(dir, ScalarType.Float32, CPU);
        using var inputs = SafetensorsFile.Open(Path.Combine(dir, "inputs.safetensors"));
        using var outputs = SafetensorsFile.Open(Path.Combine(dir, "outputs.safetensors"));
        using var scope = NewDisposeScope();

        using var vit = model.EncodeTiles(inputs.Read("pixel_values"), keepHiddenStates: true, clsAttention: true);
        var expectedHidden = outputs.Read("vision_hidden_states");
        Assert.Equal(expectedHidden.shape[0], vit.HiddenStates!.Count);
        for (int i = 0; i < vit.HiddenStates.Count; i++)
            Close($"vision_hidden_states[{i}]", vit.HiddenStates[i], expectedHidden[i]);
        Close("vision_selected_features", vit.SelectedFeatures, outputs.Read("vision_selected_features"));
        Close("vision_cls_attn_selected_layer_per_head", vit.ClsAttentionPerHead!, outputs.Read("vision_cls_attn_selected_layer_per_head"));
        Close("vision_cls_attn_selected_layer_mean", vit.ClsAttentionPerHead![.., .., 1..].mean([1]), outputs.Read("vision_cls_attn_selected_layer_mean"));

        // Each later stage starts from the reference's previous stage, so a failure points at one step.
        var shuffled = model.PixelShuffle(outputs.Read("vision_selected_features"));
        Close("vision_pixel_shuffled", shuffled, outputs.Read("vision_pixel_shuffled"));
        Close("image_embeds", model.Project(outputs.Read("vision_pixel_shuffled")), outputs.Read("image_embeds"));

        using var selection = SafetensorsFile.Open(Path.Combine(dir, "selection", "selection_inputs.safetensors"));
        Close("vispruner_internvl_importance", InternVL3Model.PoolClsAttentionPerGroup(vit.ClsAttentionPerHead!),
            selection.Read("vispruner_internvl_importance"));
    }

    [Theory, MemberData(nameof(Folders))]
    public void SplicingMatchesTheReferenceInputsEmbeds(string folder)
    {
        string dir = TestPaths.Golden(folder);
        using var model = InternVL3Model.Load(dir, ScalarType.Float32, CPU);
        using var inputs = SafetensorsFile.Open(Path.Combine(dir, "inputs.safetensors"));
        using var outputs = SafetensorsFile.Open(Path.Combine(dir, "outputs.safetensors"));
        using var scope = NewDisposeScope();
        var ids = inputs.Read("input_ids").reshape(-1).data<long>().ToArray();
        // 224×112 picture: 2 local tiles + thumbnail (golden README); <IMG_CONTEXT> is id 1024 in the tiny vocabulary.
        Assert.Equal(1024, model.Tokens!.ImageContext);
        using var image = model.EncodePixels(inputs.Read("pixel_values"), new InternVLImageTiles(2, HasThumbnail: true), VisionExtras.None);
        Assert.Equal(new VisualUnit(VisualUnitKind.LocalTiles, 0, 0, 32, 4, 4, 2), image.Units[0]);
        Assert.Equal(new VisualUnit(VisualUnitKind.Thumbnail, 0, 32, 16, 4, 4), image.Units[1]);
        var (embeds, layout) = model.Splice(ids, [image], 1024);
        Assert.Equal(Enumerable.Range(16, 48).Select(i => (long)i), layout.SequenceIndices);
        Assert.Equal(2, layout.Units.Count);
        Close("inputs_embeds", embeds, outputs.Read("inputs_embeds"));
        // Two images: offsets continue over the first image's tokens and each unit names its image.
        using var single = model.EncodePixels(inputs.Read("pixel_values")[..1], new InternVLImageTiles(1, HasThumbnail: false), VisionExtras.None);
        var twoImageIds = ids[..64].Concat(Enumerable.Repeat(1024L, 16)).Concat(ids[64..]).ToArray();
        var (_, twoLayout) = model.Splice(twoImageIds, [image, single], 1024);
        Assert.Equal(new VisualUnit(VisualUnitKind.Image, 1, 48, 16, 4, 4), twoLayout.Units[2]);
    }

    [Fact]
    public void PixelShuffleV2ConcatenatesEachTwoByTwoBlockRowMajor()
    {
        using var model = InternVL3Model.Load(TestPaths.Golden("internvl3"), ScalarType.Float32, CPU);
        using var scope = NewDisposeScope();
        // One tile, 4×4 patches, 1 channel whose value is the patch index: merged token (i, j) must read
        // patches (2i,2j), (2i,2j+1), (2i+1,2j), (2i+1,2j+1).
        var features = arange(16, ScalarType.Float32).reshape(1, 16, 1);
        var merged = model.PixelShuffle(features).reshape(4, 4);
        float[][] expected = [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]];
        for (int t = 0; t < 4; t++)
            Assert.Equal(expected[t], merged[t].data<float>().ToArray());
    }

    internal static double Close(string name, Tensor actual, Tensor expected, ITestOutputHelper? log = null)
    {
        Assert.Equal(expected.shape, actual.shape);
        var a = actual.to_type(ScalarType.Float64); var e = expected.to_type(ScalarType.Float64);
        double maxAbs = (a - e).abs().max().item<double>();
        bool ok = ((a - e).abs() <= Tolerance + Tolerance * e.abs()).all().item<bool>();
        Assert.True(ok, $"{name}: max |diff| {maxAbs:E2} exceeds atol = rtol = {Tolerance}");
        return maxAbs;
    }

    private void Close(string name, Tensor actual, Tensor expected) =>
        log.WriteLine($"{name}: max |diff| {Close(name, actual, expected, log):E2}");
}
