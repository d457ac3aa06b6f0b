using UniPrune.Engine.Core;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.InternVL3;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.InternVL3;

/// <summary>
/// End-to-end parity with the reference from <c>pixel_values</c>/<c>input_ids</c>: every stage, the layer-2 attention row
/// (through the pruning seam), 8 greedy tokens with the KV cache and their step logits; then the pruning/ references
/// (fixed keep sets replayed through the seams) and the selection/ inputs a method reads at layer 1.
/// </summary>
public class InternVL3LanguageGoldenTests(ITestOutputHelper log)
{
    public static TheoryData<string> Folders => new() { "internvl3", "internvl3_vit6b_style" };
    private const long ImageContextId = 1024; // <IMG_CONTEXT> in the tiny vocabulary (real: 151667)
    private static readonly InternVLImageTiles[] GoldenTiles = [new(2, HasThumbnail: true)];

    private double Close(string name, Tensor actual, Tensor expected)
    {
        double diff = InternVL3VisionGoldenTests.Close(name, actual, expected);
        log.WriteLine($"{name}: max |diff| {diff:E2}");
        return diff;
    }

    private static InternVL3Input GoldenInput(SafetensorsFile inputs) =>
        new(inputs.Read("pixel_values"), GoldenTiles, inputs.Read("input_ids").reshape(-1).data<long>().ToArray(), ImageContextId);

    [Theory, MemberData(nameof(Folders))]
    public void EveryStageAndTheGreedyTokensMatchTheReference(string folder)
    {
        string dir = TestPaths.Golden(folder);
        using var model = InternVL3Model.Load(dir, ScalarType.Float32, CPU);
        using var inputs = SafetensorsFile.Open(Path.Combine(dir, "inputs.safetensors"));
        using var outputs = SafetensorsFile.Open(Path.Combine(dir, "outputs.safetensors"));
        using var scope = NewDisposeScope();
        long length = inputs.Read("input_ids").numel();
        var probe = new RecordingHooks { AttentionBeforeLayer = 3, AttentionRows = [length - 1] };
        using var trace = new InternVL3Trace();
        using var result = model.Generate(GoldenInput(inputs), 8, new HashSet<long>(), probe, trace, keepStepLogits: true);

        var hidden = outputs.Read("vision_hidden_states");
        for (int i = 0; i < trace.VisionHiddenStates.Count; i++) Close($"vision_hidden_states[{i}]", trace.VisionHiddenStates[i], hidden[i]);
        Close("vision_selected_features", trace.SelectedFeatures!, outputs.Read("vision_selected_features"));
        Close("vision_cls_attn_selected_layer_per_head", trace.ClsAttentionPerHead!, outputs.Read("vision_cls_attn_selected_layer_per_head"));
        Close("vision_pixel_shuffled", trace.PixelShuffled!, outputs.Read("vision_pixel_shuffled"));
        Close("image_embeds", trace.ImageEmbeds!, outputs.Read("image_embeds"));
        Close("inputs_embeds", trace.InputsEmbeds!, outputs.Read("inputs_embeds"));
        for (int layer = 0; layer < 3; layer++)
            Close($"llm_hidden_after_layer{layer}", trace.Decoder.LayerOutputs[layer], outputs.Read($"llm_hidden_after_layer{layer}"));
        Close("llm_hidden_after_last_layer_prenorm", trace.Decoder.LayerOutputs[^1], outputs.Read("llm_hidden_after_last_layer_prenorm"));
        Close("llm_final_norm", trace.Decoder.FinalNorm!, outputs.Read("llm_final_norm"));
        Close("logits", trace.Logits!, outputs.Read("logits"));

        // Layer 2's softmax row of the last prompt token, captured through the intra-LLM seam (probe before layer 3).
        var attention = probe.Attention!; // (heads, rows, L)
        Close("llm_layer2_attn_last_token_per_head", attention[.., 0], outputs.Read("llm_layer2_attn_last_token_per_head"));
        Close("llm_layer2_attn_last_token_mean", attention[.., 0].mean([0]), outputs.Read("llm_layer2_attn_last_token_mean"));

        // Vision evidence a pre-LLM method receives.
        using var selection = SafetensorsFile.Open(Path.Combine(dir, "selection", "selection_inputs.safetensors"));
        Close("evidence: vispruner_internvl_importance", probe.ClsAttention!, selection.Read("vispruner_internvl_importance"));
        Close("evidence: image_embeds", probe.VisualEmbeddings!, outputs.Read("image_embeds").reshape(-1, 64));
        Assert.Equal(48, result.VisualTokens);
        Assert.Equal(48, result.VisualTokensKept);

        Assert.Equal(outputs.Read("generated_token_ids").data<long>().ToArray(), result.Run.Tokens);
        Close("generation_step_logits", stack(result.Run.StepLogits!.ToArray()), outputs.Read("generation_step_logits"));
    }

    [Theory]
    [InlineData("internvl3", 16)]
    [InlineData("internvl3", 5)]
    [InlineData("internvl3_vit6b_style", 16)]
    [InlineData("internvl3_vit6b_style", 5)]
    public void PreLlmReferenceReplaysExactly(string folder, int keep)
    {
        string dir = TestPaths.Golden(folder);
        using var model = InternVL3Model.Load(dir, ScalarType.Float32, CPU);
        using var inputs = SafetensorsFile.Open(Path.Combine(dir, "inputs.safetensors"));
        using var reference = SafetensorsFile.Open(Path.Combine(dir, "pruning", $"pre_llm_keep{keep}.safetensors"));
        using var scope = NewDisposeScope();
        var hooks = new RecordingHooks { PreLlmKeep = reference.Read("keep_visual_indices").data<long>().ToArray() };
        using var trace = new InternVL3Trace();
        using var result = model.Generate(GoldenInput(inputs), 8, new HashSet<long>(), hooks, trace, keepStepLogits: true);

        for (int layer = 0; layer < 3; layer++)
            Close($"pre_llm_keep{keep}.llm_hidden_after_layer{layer}", trace.Decoder.LayerOutputs[layer], reference.Read($"llm_hidden_after_layer{layer}"));
        Close($"pre_llm_keep{keep}.llm_hidden_after_last_layer_prenorm", trace.Decoder.LayerOutputs[^1], reference.Read("llm_hidden_after_last_layer_prenorm"));
        Close($"pre_llm_keep{keep}.llm_final_norm", trace.Decoder.FinalNorm!, reference.Read("llm_final_norm"));
        Close($"pre_llm_keep{keep}.logits_last", trace.Logits![^1], reference.Read("logits_last"));
        Assert.Equal(reference.Read("generated_token_ids").data<long>().ToArray(), result.Run.Tokens);
        Close($"pre_llm_keep{keep}.generation_step_logits", stack(result.Run.StepLogits!.ToArray()), reference.Read("generation_step_logits"));
        Assert.Equal(keep, result.VisualTokensKept);
    }

    [Theory]
    [InlineData("internvl3", 16)]
    [InlineData("internvl3", 5)]
    [InlineData("internvl3_vit6b_style", 16)]
    [InlineData("internvl3_vit6b_style", 5)]
    public void IntraLlmReferenceAtLayerTwoReplaysExactly(string folder, int keep)
    {
        string dir = TestPaths.Golden(folder);
        using var model = InternVL3Model.Load(dir, ScalarType.Float32, CPU);
        using var inputs = SafetensorsFile.Open(Path.Combine(dir, "inputs.safetensors"));
        using var reference = SafetensorsFile.Open(Path.Combine(dir, "pruning", $"intra_llm_k2_keep{keep}.safetensors"));
        using var scope = NewDisposeScope();
        var hooks = new RecordingHooks { IntraLayer = 2, IntraKeep = reference.Read("keep_visual_indices").data<long>().ToArray() };
        using var trace = new InternVL3Trace();
        using var result = model.Generate(GoldenInput(inputs), 8, new HashSet<long>(), hooks, trace, keepStepLogits: true);

        Close($"intra_k2_keep{keep}.llm_hidden_after_layer2", trace.Decoder.LayerOutputs[2], reference.Read("llm_hidden_after_layer2"));
        Close($"intra_k2_keep{keep}.llm_hidden_after_last_layer_prenorm", trace.Decoder.LayerOutputs[^1], reference.Read("llm_hidden_after_last_layer_prenorm"));
        Close($"intra_k2_keep{keep}.llm_final_norm", trace.Decoder.FinalNorm!, reference.Read("llm_final_norm"));
        Close($"intra_k2_keep{keep}.logits_last", trace.Logits![^1], reference.Read("logits_last"));
        Assert.Equal(reference.Read("generated_token_ids").data<long>().ToArray(), result.Run.Tokens);
        Close($"intra_k2_keep{keep}.generation_step_logits", stack(result.Run.StepLogits!.ToArray()), reference.Read("generation_step_logits"));
        Assert.Equal(keep, result.VisualTokensKept);
    }

    [Theory, MemberData(nameof(Folders))]
    public void LayerOneEvidenceMatchesTheSelectionInputs(string folder)
    {
        string dir = TestPaths.Golden(folder);
        using var model = InternVL3Model.Load(dir, ScalarType.Float32, CPU);
        using var inputs = SafetensorsFile.Open(Path.Combine(dir, "inputs.safetensors"));
        using var selection = SafetensorsFile.Open(Path.Combine(dir, "selection", "selection_inputs.safetensors"));
        using var scope = NewDisposeScope();
        long length = inputs.Read("input_ids").numel();
        var hooks = new RecordingHooks { AttentionBeforeLayer = 2, AttentionRows = [length - 1], NeedsKeys = true };
        using var result = model.Generate(GoldenInput(inputs), 1, new HashSet<long>(), hooks);
        Close("llm_layer1_attn_last_token_per_head", hooks.Attention![.., 0], selection.Read("llm_layer1_attn_last_token_per_head"));
        Close("llm_layer1_attn_last_token_mean", hooks.Attention![.., 0].mean([0]), selection.Read("llm_layer1_attn_last_token_mean"));
        Close("llm_layer1_key_states_post_rope", hooks.Keys!, selection.Read("llm_layer1_key_states_post_rope"));
        Close("llm_hidden_after_layer1_final_norm", hooks.FinalNormOfHidden!, selection.Read("llm_hidden_after_layer1_final_norm"));
        Assert.Equal(Enumerable.Range(64, 11).Select(i => (long)i), hooks.TextAfterImage);
    }

    /// <summary>Replays fixed decisions and keeps copies of what the model showed at its seams.</summary>
    private sealed class RecordingHooks : IPruningHooks
    {
        public long[]? PreLlmKeep { get; init; }
        public int? IntraLayer { get; init; }
        public long[]? IntraKeep { get; init; }
        public int? AttentionBeforeLayer { get; init; }
        public long[] AttentionRows { get; init; } = [];
        public bool NeedsKeys { get; init; }

        public Tensor? ClsAttention, VisualEmbeddings, Attention, Keys, FinalNormOfHidden;
        public IReadOnlyList<long> TextAfterImage = [];

        // Seam tensors live in the model's forward scope; copies must outlive it.
        private static Tensor Keep(Tensor t) => t.clone().DetachFromDisposeScope();

        public PreLlmDecision? OnVisualTokens(PreLlmContext context)
        {
            ClsAttention = Keep(context.Vision.ClsAttention!);
            VisualEmbeddings = Keep(context.Vision.Embeddings);
            return PreLlmKeep is null ? null : new PreLlmDecision(PreLlmKeep, Positions: PositionPolicy.Renumber);
        }

        public LayerProbe? ProbeBeforeLayer(int layerK, int numLayers) =>
            layerK == AttentionBeforeLayer ? new LayerProbe(AttentionRows, NeedsKeys)
            : layerK == IntraLayer ? new LayerProbe([])
            : null;

        public LayerDecision? OnLayerInput(LayerContext context)
        {
            if (context.Layer == AttentionBeforeLayer)
            {
                Attention = context.Attention is null ? null : Keep(context.Attention);
                Keys = context.Keys is null ? null : Keep(context.Keys);
                FinalNormOfHidden = Keep(context.FinalNorm(context.Hidden));
                TextAfterImage = context.TextAfterImage;
            }
            return context.Layer == IntraLayer ? new LayerDecision(IntraKeep!, PositionPolicy.KeepOriginal) : null;
        }
    }
}
