using UniPrune.Engine.Core;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.InternVL3;
using UniPrune.Engine.Tests.Models.Common;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.InternVL3;

/// <summary>
/// What a method sees at InternVL3's seams, against the selection/ inputs: the pre-LLM evidence, and layer 1's attention
/// row, post-RoPE keys and final-normed hidden states at the input of layer 2. (Stage parity, greedy tokens and the
/// pruning/ replays run in the data-driven GoldenParityTests through <see cref="InternVL3GoldenFamily"/>.)
/// </summary>
public class InternVL3LanguageGoldenTests(ITestOutputHelper log)
{
    public static TheoryData<string> Folders => new() { "internvl3", "internvl3_vit6b_style" };

    [Theory, MemberData(nameof(Folders))]
    public void SeamEvidenceMatchesTheSelectionInputs(string folder)
    {
        string dir = TestPaths.Golden(folder);
        using var model = InternVL3Model.Load(dir, ScalarType.Float32, CPU);
        using var inputs = SafetensorsFile.Open(Path.Combine(dir, "inputs.safetensors"));
        using var outputs = SafetensorsFile.Open(Path.Combine(dir, "outputs.safetensors"));
        using var selection = SafetensorsFile.Open(Path.Combine(dir, "selection", "selection_inputs.safetensors"));
        using var scope = NewDisposeScope();
        var ids = inputs.Read("input_ids").reshape(-1).data<long>().ToArray();
        using var image = model.EncodePixels(inputs.Read("pixel_values"), new InternVLImageTiles(2, HasThumbnail: true));
        var hooks = new RecordingHooks { ProbeLayer = 2, ProbeRows = [ids.Length - 1] };
        using var run = model.RunPrompt(ids, [image], hooks, 1, new HashSet<long>());

        GoldenAssert.Close(selection.Read("vispruner_internvl_importance"), hooks.ClsAttention!, "evidence: CLS attention per 2×2 group", log);
        GoldenAssert.Close(outputs.Read("image_embeds").reshape(-1, 64), hooks.VisualEmbeddings!, "evidence: image_embeds", log);
        GoldenAssert.Close(outputs.Read("vision_pixel_shuffled").reshape(-1, 256), hooks.Features!, "evidence: pixel-shuffled features", log);
        Assert.Equal(VisionTowerKind.InternVitPixelShuffle, hooks.Tower);
        Assert.Equal(new[] { VisualUnitKind.LocalTiles, VisualUnitKind.Thumbnail }, hooks.Units.Select(u => u.Kind));
        Assert.Equal(Enumerable.Range(64, 11).Select(i => (long)i), hooks.TextAfterImagePreLlm);
        GoldenAssert.Close(outputs.Read("image_embeds").reshape(-1, 64)[..3], hooks.ProjectedFeatures!, "evidence: Project(features) = mlp1", log);

        GoldenAssert.Close(selection.Read("llm_layer1_attn_last_token_per_head"), hooks.Attention![.., 0], "layer-1 attention per head", log);
        GoldenAssert.Close(selection.Read("llm_layer1_attn_last_token_mean"), hooks.Attention![.., 0].mean([0]), "layer-1 attention mean", log);
        GoldenAssert.Close(selection.Read("llm_layer1_key_states_post_rope"), hooks.Keys!, "layer-1 post-RoPE keys", log);
        GoldenAssert.Close(selection.Read("llm_hidden_after_layer1_final_norm"), hooks.FinalNormOfHidden!, "final norm of layer-1 output", log);
        Assert.Equal(Enumerable.Range(64, 11).Select(i => (long)i), hooks.TextAfterImage);
    }

    [Fact]
    public void WrongPlaceholderCountIsAnError()
    {
        string dir = TestPaths.Golden("internvl3");
        using var model = InternVL3Model.Load(dir, ScalarType.Float32, CPU);
        using var inputs = SafetensorsFile.Open(Path.Combine(dir, "inputs.safetensors"));
        using var scope = NewDisposeScope();
        var ids = inputs.Read("input_ids").reshape(-1).data<long>().ToArray();
        using var image = model.EncodePixels(inputs.Read("pixel_values"), new InternVLImageTiles(2, HasThumbnail: true), VisionExtras.None);
        var e = Assert.Throws<ArgumentException>(() => model.RunPrompt(ids[..^20].Concat(ids[^19..]).ToArray(), [image], null, 1, new HashSet<long>()).Dispose());
        Assert.Contains("47 <IMG_CONTEXT>", e.Message);
    }

    /// <summary>Keeps copies of what the model showed at its seams; decides nothing.</summary>
    private sealed class RecordingHooks : IPruningHooks
    {
        public int ProbeLayer { get; init; }
        public long[] ProbeRows { get; init; } = [];
        public Tensor? ClsAttention, VisualEmbeddings, Features, ProjectedFeatures, Attention, Keys, FinalNormOfHidden;
        public VisionTowerKind Tower;
        public IReadOnlyList<VisualUnit> Units = [];
        public IReadOnlyList<long> TextAfterImage = [], TextAfterImagePreLlm = [];

        // Seam tensors live in the model's forward scope; copies must outlive it.
        private static Tensor Keep(Tensor t) => t.clone().DetachFromDisposeScope();

        public PreLlmDecision? OnVisualTokens(PreLlmContext context)
        {
            ClsAttention = Keep(context.Vision.ClsAttention!);
            VisualEmbeddings = Keep(context.Vision.Embeddings);
            Features = Keep(context.Vision.FeaturesBeforeProjector!);
            ProjectedFeatures = Keep(context.Vision.Project!(context.Vision.FeaturesBeforeProjector![..3]));
            Tower = context.Vision.Tower;
            Units = context.Vision.Layout.Units;
            TextAfterImagePreLlm = context.TextAfterImage;
            return null;
        }

        public LayerProbe? ProbeBeforeLayer(int layerK, int numLayers) => layerK == ProbeLayer ? new LayerProbe(ProbeRows, NeedsKeys: true) : null;

        public LayerDecision? OnLayerInput(LayerContext context)
        {
            Attention = context.Attention is null ? null : Keep(context.Attention);
            Keys = context.Keys is null ? null : Keep(context.Keys);
            FinalNormOfHidden = Keep(context.FinalNorm(context.Hidden));
            TextAfterImage = context.TextAfterImage;
            return null;
        }
    }
}
