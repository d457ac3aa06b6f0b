using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.Common;
using UniPrune.Engine.Models.InternVL3;
using UniPrune.Engine.Tests.Models.Common;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.InternVL3;

/// <summary>
/// InternVL3 against a golden folder made by OpenGVLab's remote code (InternVLChatModel + transformers' Qwen2, float32,
/// atol = rtol = 1e-4): every stage from pixel_values/input_ids, the 8 greedy tokens with the KV cache, and the
/// pruning/ keep sets replayed through the seams. Works for both ViT styles (300M: LayerNorm + qkv bias; 6B: RMSNorm + qk-norm).
/// </summary>
public sealed class InternVL3GoldenFamily : IGoldenFamily
{
    public IReadOnlyList<string> ModelTypes => ["internvl_chat"];

    private const int NewTokens = 8;

    /// <summary>The golden image's tiling: num_patches_list tiles, the last being the thumbnail when there is more than one.</summary>
    private static InternVLImageTiles TilesOf(GoldenSet set, InternVL3Model model)
    {
        var counts = set.Input("num_patches_list").data<long>().ToArray();
        Assert.Single(counts);
        int total = (int)counts[0];
        bool thumbnail = total > 1 && model.Config.UseThumbnail;
        return new InternVLImageTiles(thumbnail ? total - 1 : total, thumbnail);
    }

    public void CheckStages(GoldenSet set, ITestOutputHelper log)
    {
        using var model = InternVL3Model.Load(set.Folder, ModelLoadOptions.Cpu());
        using var pixels = set.Input("pixel_values");

        using (var vit = model.TraceVision(pixels))
        {
            GoldenAssert.Close(set.Output("vision_hidden_states"), vit.HiddenStates, "vision hidden states (every layer)", log);
            GoldenAssert.Close(set.Output("vision_cls_attn_selected_layer_per_head"), vit.ClsAttentionPerHead, "CLS attention per head", log);
            GoldenAssert.Close(set.Output("vision_cls_attn_selected_layer_mean"), vit.ClsAttentionPerHead[.., .., 1..].mean([1]), "CLS attention mean", log);
            GoldenAssert.Close(set.Output("vision_selected_features"), vit.HiddenStates[-1][.., 1..], "selected features (CLS dropped)", log);
            GoldenAssert.Close(set.Output("vision_pixel_shuffled"), vit.PixelShuffled, "pixel-shuffled features", log);
        }

        using var image = model.EncodePixels(pixels, TilesOf(set, model), VisionExtras.All);
        GoldenAssert.Close(set.Output("image_embeds").reshape(-1, image.Embeddings.shape[1]), image.Embeddings, "image_embeds (mlp1)", log);
        if (set.HasSelectionInputs)
            GoldenAssert.Close(set.SelectionInputs.Read("vispruner_internvl_importance"), image.ClsAttention!, "CLS attention per 2×2 group", log);

        var ids = set.Input("input_ids").reshape(-1).data<long>().ToArray();
        using var probe = ReplayHooks.Probe(3, [ids.Length - 1]);
        using var trace = new DecoderTrace();
        using var run = model.RunPrompt(ids, [image], probe, NewTokens, new HashSet<long>(), LogitsSelection.All, trace, keepStepLogits: true);

        GoldenAssert.Close(set.Output("inputs_embeds"), run.InputsEmbeds, "inputs_embeds", log);
        for (int layer = 0; layer < 3; layer++)
            GoldenAssert.Close(set.Output($"llm_hidden_after_layer{layer}"), trace.LayerOutputs[layer], $"hidden after layer {layer}", log);
        GoldenAssert.Close(set.Output("llm_hidden_after_last_layer_prenorm"), trace.LayerOutputs[^1], "last layer before the final norm", log);
        GoldenAssert.Close(set.Output("llm_final_norm"), trace.FinalNorm!, "final norm", log);
        GoldenAssert.Close(set.Output("logits"), run.Prefill.Logits!, "logits (all positions)", log);
        GoldenAssert.Close(set.Output("llm_layer2_attn_last_token_per_head"), probe.CapturedAttention!.squeeze(1), "layer-2 last-token attention per head", log);
        GoldenAssert.Close(set.Output("llm_layer2_attn_last_token_mean"), probe.CapturedAttention!.squeeze(1).mean([0]), "layer-2 last-token attention mean", log);
        GoldenAssert.Equal(set.Output("generated_token_ids"), run.Greedy.Tokens, "greedy tokens (KV cache)");
        GoldenAssert.Close(set.Output("generation_step_logits"), stack(run.Greedy.StepLogits!.ToArray()), "generation step logits", log);
        Assert.Equal((ids.Length, 48, 48), (run.PromptTokens, run.VisualTokens, run.VisualTokensKept));
        Assert.Equal(Enumerable.Range(ids.Length, NewTokens).Select(i => (long)i), run.DecodePositions);
    }

    public void CheckPruningReference(GoldenSet set, string reference, ITestOutputHelper log)
    {
        using var model = InternVL3Model.Load(set.Folder, ModelLoadOptions.Cpu());
        using var pixels = set.Input("pixel_values");
        using var image = model.EncodePixels(pixels, TilesOf(set, model), VisionExtras.None);
        var ids = set.Input("input_ids").reshape(-1).data<long>().ToArray();
        var keep = set.KeepVisualIndices(reference);
        using var expected = set.PruningTensors(reference);
        GoldenAssert.Equal(expected.Read("keep_visual_indices"), keep, $"{reference} keep set (json = safetensors)");
        bool preLlm = reference.StartsWith("pre_llm");
        // Pre-LLM: contiguous positions on the shorter sequence (InternVL's own behaviour, UniPruneBench's policy);
        // intra-LLM at K = 2: kept rows keep their original ids, decoding continues the unpruned sequence.
        using var hooks = preLlm ? ReplayHooks.PreLlm(keep, PositionPolicy.Renumber) : ReplayHooks.IntraLlm(2, keep);
        using var trace = new DecoderTrace();
        using var run = model.RunPrompt(ids, [image], hooks, NewTokens, new HashSet<long>(), LogitsSelection.Last, trace, keepStepLogits: true);

        if (preLlm)
        {
            GoldenAssert.Close(expected.Read("inputs_embeds"), run.LlmInput, $"{reference} LLM input", log);
            GoldenAssert.Equal(expected.Read("position_ids"), run.LlmPositions.reshape(-1).data<long>().ToArray(), $"{reference} position ids");
            for (int layer = 0; layer < 3; layer++)
                GoldenAssert.Close(expected.Read($"llm_hidden_after_layer{layer}"), trace.LayerOutputs[layer], $"{reference} hidden after layer {layer}", log);
            Assert.Equal(1, hooks.PreLlmCalls);
        }
        else
        {
            GoldenAssert.Close(expected.Read("llm_hidden_after_layer2"), trace.LayerOutputs[2], $"{reference} hidden after layer 2 (kept rows)", log);
            Assert.Equal(1, hooks.LayerCalls);
        }
        GoldenAssert.Close(expected.Read("llm_hidden_after_last_layer_prenorm"), trace.LayerOutputs[^1], $"{reference} last layer", log);
        GoldenAssert.Close(expected.Read("llm_final_norm"), trace.FinalNorm!, $"{reference} final norm", log);
        GoldenAssert.Close(expected.Read("logits_last"), run.Greedy.StepLogits![0], $"{reference} logits_last", log);
        GoldenAssert.Equal(expected.Read("generated_token_ids"), run.Greedy.Tokens, $"{reference} greedy tokens");
        GoldenAssert.Close(expected.Read("generation_step_logits"), stack(run.Greedy.StepLogits!.ToArray()), $"{reference} step logits", log);
        GoldenAssert.Equal(expected.Read("decode_position_ids"), run.DecodePositions, $"{reference} decode positions");
        Assert.Equal(keep.Length, run.VisualTokensKept);
    }
}
