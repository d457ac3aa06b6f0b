using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.Common;
using UniPrune.Engine.Models.Qwen25VL;
using UniPrune.Engine.Tests.Models.Common;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.Qwen25VL;

/// <summary>
/// Qwen2.5-VL against a golden folder made by transformers 4.50's Qwen2_5_VLForConditionalGeneration (float32,
/// atol = rtol = 1e-4, tokens exact): every vision stage (patch embed, rotary table, window index, cu_window_seqlens,
/// block outputs in window order, merger input in both orders, image_embeds, the attention-received importance),
/// the LLM input, 3-row position ids, rope_deltas, decode positions, hidden states, final norm, logits, the layer-2
/// attention probe and 8 greedy tokens with KV cache; and the pruning/ replays.
/// </summary>
public sealed class Qwen25VLGoldenFamily : IGoldenFamily
{
    public IReadOnlyList<string> ModelTypes => [Qwen25VLConfig.ModelType];

    private const int NewTokens = 8;

    internal static GridThw[] Grids(GoldenSet set)
    {
        var v = set.Input("image_grid_thw").reshape(-1).data<long>().ToArray();
        return Enumerable.Range(0, v.Length / 3).Select(i => new GridThw((int)v[3 * i], (int)v[3 * i + 1], (int)v[3 * i + 2])).ToArray();
    }

    /// <summary>One EncodedImage per grid, cut from the stacked pixel rows.</summary>
    internal static List<EncodedImage> Encode(Qwen25VLModel model, GoldenSet set, VisionExtras extras, VisionTrace? trace = null)
    {
        using var pixels = set.Input("pixel_values");
        var images = new List<EncodedImage>();
        long row = 0;
        foreach (var grid in Grids(set))
        {
            using var rows = pixels.narrow(0, row, grid.Patches);
            images.Add(model.EncodePixels(rows, grid, extras, trace));
            row += grid.Patches;
        }
        return images;
    }

    public void CheckStages(GoldenSet set, ITestOutputHelper log)
    {
        using var model = Qwen25VLModel.Load(set.Folder, ModelLoadOptions.Cpu());
        var grids = Grids(set);
        Assert.Single(grids);   // the stage tensors below describe one image

        // Vision tower, stage by stage.
        var plan = Qwen25VisionTower.PlanWindows(grids, model.Config.Vision);
        GoldenAssert.Equal(set.Output("vision_window_index"), plan.WindowIndex, "window index");
        GoldenAssert.Equal(set.Output("vision_cu_window_seqlens").to_type(ScalarType.Int64), plan.CuWindowSeqlens.Select(c => (long)c).ToArray(), "cu_window_seqlens");
        using var vision = new VisionTrace();
        var images = Encode(model, set, VisionExtras.All, vision);
        try
        {
            GoldenAssert.Close(set.Output("vision_patch_embed"), vision.PatchEmbed!, "patch embedding", log);
            GoldenAssert.Close(set.Output("vision_rotary_pos_emb"), vision.RotaryAngles!, "vision rotary angles", log, atol: 1e-6, rtol: 1e-6);
            GoldenAssert.Close(set.Output("vision_block_outputs_window_order"), stack(vision.BlockOutputsWindowOrder), "vision block outputs (window order)", log);
            GoldenAssert.Close(set.Output("vision_features_pre_merger_window_order"), vision.BlockOutputsWindowOrder[^1], "merger input (window order)", log);
            GoldenAssert.Close(set.Output("vision_features_pre_merger"), images[0].FeaturesBeforeProjector!.reshape(-1, model.Config.Vision.HiddenSize), "merger input (natural order)", log);
            GoldenAssert.Close(set.Output("image_embeds"), images[0].Embeddings, "image_embeds", log);
            if (set.HasSelectionInputs && set.SelectionInputs.Contains("vispruner_qwen_importance"))
            {
                GoldenAssert.Close(set.SelectionInputs.Read("vision_last_block_attn_received_window_order"), vision.AttentionReceivedPerPatchWindowOrder!, "attention received per patch (window order)", log);
                GoldenAssert.Close(set.SelectionInputs.Read("vispruner_qwen_importance"), images[0].AttentionReceived!, "attention-received importance", log);
            }

            // Language model, with the layer-2 attention probe on the last prompt row.
            var ids = set.Input("input_ids").reshape(-1).data<long>().ToArray();
            using var probe = ReplayHooks.Probe(3, [ids.Length - 1]);
            using var trace = new DecoderTrace();
            using var run = model.RunPrompt(ids, images, probe, NewTokens, new HashSet<long>(), LogitsSelection.All, trace, keepStepLogits: true);

            GoldenAssert.Close(set.Output("inputs_embeds"), run.InputsEmbeds, "LLM input", log);
            GoldenAssert.Equal(set.Input("position_ids"), run.Positions.Rows.SelectMany(r => r).ToArray(), "M-RoPE position ids");
            GoldenAssert.Equal(set.Input("rope_deltas"), [run.Positions.RopeDelta], "rope_deltas");
            // Decode step k feeds its token at L + k + rope_deltas on all three rows.
            var decode = set.Input("decode_position_ids").reshape(3, -1);
            for (int r = 0; r < 3; r++) GoldenAssert.Equal(decode[r], run.DecodePositions, $"decode positions (row {r})");
            for (int layer = 0; layer < 3; layer++)
                GoldenAssert.Close(set.Output($"llm_hidden_after_layer{layer}"), trace.LayerOutputs[layer], $"hidden after layer {layer}", log);
            GoldenAssert.Close(set.Output("llm_hidden_after_last_layer_prenorm"), trace.LayerOutputs[^1], "last layer before the final norm", log);
            GoldenAssert.Close(set.Output("llm_final_norm"), trace.FinalNorm!, "final norm", log);
            GoldenAssert.Close(set.Output("logits"), run.Prefill.Logits!, "logits (all positions)", log);
            GoldenAssert.Equal(set.Output("generated_token_ids"), run.Greedy.Tokens, "greedy tokens (KV cache)");
            GoldenAssert.Close(set.Output("generation_step_logits"), stack(run.Greedy.StepLogits!.ToArray()), "generation step logits", log);
            GoldenAssert.Close(set.Output("llm_layer2_attn_last_token_per_head"), probe.CapturedAttention!.squeeze(1), "layer-2 last-token attention per head", log);
            GoldenAssert.Close(set.Output("llm_layer2_attn_last_token_mean"), probe.CapturedAttention!.squeeze(1).mean([0]), "layer-2 last-token attention mean", log);
        }
        finally
        {
            foreach (var image in images) image.Dispose();
        }
    }

    public void CheckPruningReference(GoldenSet set, string reference, ITestOutputHelper log)
    {
        using var model = Qwen25VLModel.Load(set.Folder, ModelLoadOptions.Cpu());
        var images = Encode(model, set, VisionExtras.None);
        try
        {
            var ids = set.Input("input_ids").reshape(-1).data<long>().ToArray();
            var keep = set.KeepVisualIndices(reference);
            using var expected = set.PruningTensors(reference);
            bool preLlm = reference.StartsWith("pre_llm");
            // Both keep the original 3-D ids; a pre-LLM "Renumber" request would be gathered too (multi-row ids).
            using var hooks = preLlm ? ReplayHooks.PreLlm(keep, PositionPolicy.KeepOriginal) : ReplayHooks.IntraLlm(2, keep);
            using var trace = new DecoderTrace();
            using var run = model.RunPrompt(ids, images, hooks, NewTokens, new HashSet<long>(), LogitsSelection.Last, trace, keepStepLogits: true);
            var rows = expected.Read("keep_sequence_indices").data<long>().ToArray();

            if (preLlm)
            {
                GoldenAssert.Close(expected.Read("inputs_embeds"), run.LlmInput, $"{reference} LLM input", log);
                GoldenAssert.Equal(expected.Read("position_ids"), run.LlmPositions.reshape(-1).data<long>().ToArray(), $"{reference} gathered 3-D position ids");
                for (int layer = 0; layer < 3; layer++)
                    GoldenAssert.Close(expected.Read($"llm_hidden_after_layer{layer}"), trace.LayerOutputs[layer], $"{reference} hidden after layer {layer}", log);
                Assert.Equal(1, hooks.PreLlmCalls);
            }
            else
            {
                GoldenAssert.Equal(expected.Read("position_ids_from_layer2"), run.Positions.Gather(rows).SelectMany(r => r).ToArray(), $"{reference} 3-D ids from layer 2");
                for (int layer = 0; layer < 2; layer++) Assert.Equal(ids.Length, trace.LayerOutputs[layer].shape[0]);
                GoldenAssert.Close(expected.Read("llm_hidden_after_layer2"), trace.LayerOutputs[2], $"{reference} hidden after layer 2", log);
                Assert.Equal(1, hooks.LayerCalls);
            }
            GoldenAssert.Close(expected.Read("llm_hidden_after_last_layer_prenorm"), trace.LayerOutputs[^1], $"{reference} last layer before the final norm", log);
            GoldenAssert.Close(expected.Read("llm_final_norm"), trace.FinalNorm!, $"{reference} final norm", log);
            GoldenAssert.Close(expected.Read("logits_last"), run.Greedy.StepLogits![0], $"{reference} logits_last", log);
            GoldenAssert.Equal(expected.Read("generated_token_ids"), run.Greedy.Tokens, $"{reference} greedy tokens");
            GoldenAssert.Close(expected.Read("generation_step_logits"), stack(run.Greedy.StepLogits!.ToArray()), $"{reference} step logits", log);
            // P-QWEN: decoding continues at L + rope_deltas + k, not at L' + k + rope_deltas.
            GoldenAssert.Equal(expected.Read("decode_position_ids"), run.DecodePositions[..NewTokens], $"{reference} decode positions");
            Assert.Equal(keep.Length, run.VisualTokensKept);
        }
        finally
        {
            foreach (var image in images) image.Dispose();
        }
    }
}
