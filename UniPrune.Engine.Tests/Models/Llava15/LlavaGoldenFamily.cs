using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.Common;
using UniPrune.Engine.Models.Llava15;
using UniPrune.Engine.Tests.Models.Common;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.Llava15;

/// <summary>LLaVA-1.5 against a golden folder made by transformers' LlavaForConditionalGeneration (float32, atol = rtol = 1e-4).</summary>
public sealed class LlavaGoldenFamily : IGoldenFamily
{
    public IReadOnlyList<string> ModelTypes => ["llava"];

    private const int NewTokens = 8;

    public void CheckStages(GoldenSet set, ITestOutputHelper log)
    {
        using var model = Llava15Model.Load(set.Folder, ModelLoadOptions.Cpu());
        using var pixels = set.Input("pixel_values");

        var (hiddenStates, clsPerHead) = model.TraceVision(pixels);
        GoldenAssert.Close(set.Output("vision_hidden_states"), hiddenStates, "vision hidden states", log);
        GoldenAssert.Close(set.Output("vision_cls_attn_selected_layer_per_head"), clsPerHead, "CLS attention per head", log);

        using var image = model.EncodePixels(pixels, VisionExtras.All);
        GoldenAssert.Close(set.Output("vision_selected_features"), image.FeaturesBeforeProjector!, "selected features", log);
        GoldenAssert.Close(set.Output("image_embeds"), image.Embeddings, "projected embeddings", log);
        GoldenAssert.Close(set.Output("vision_cls_attn_selected_layer_mean"), image.ClsAttention!, "CLS attention mean", log);
        if (set.HasSelectionInputs && set.SelectionInputs.Contains("vision_last_layer_q_proj"))
        {
            GoldenAssert.Close(set.SelectionInputs.Read("vision_last_layer_q_proj"), image.LastLayerQueries!, "last CLIP layer q_proj", log);
            GoldenAssert.Close(set.SelectionInputs.Read("vision_last_layer_k_proj"), image.LastLayerKeys!, "last CLIP layer k_proj", log);
        }

        var ids = set.Input("input_ids").reshape(-1).data<long>().ToArray();
        using var probe = ReplayHooks.Probe(3, [ids.Length - 1]);
        using var trace = new DecoderTrace();
        using var run = model.RunPrompt(ids, [image], probe, NewTokens, new HashSet<long>(), LogitsSelection.All, trace, keepStepLogits: true);

        GoldenAssert.Close(set.Output("inputs_embeds"), run.InputsEmbeds, "LLM input", log);
        for (int layer = 0; layer < 3; layer++)
            GoldenAssert.Close(set.Output($"llm_hidden_after_layer{layer}"), trace.LayerOutputs[layer], $"hidden after layer {layer}", log);
        GoldenAssert.Close(set.Output("llm_hidden_after_last_layer_prenorm"), trace.LayerOutputs[^1], "last layer before the final norm", log);
        GoldenAssert.Close(set.Output("llm_final_norm"), trace.FinalNorm!, "final norm", log);
        GoldenAssert.Close(set.Output("logits"), run.Prefill.Logits!, "logits (all positions)", log);
        GoldenAssert.Equal(set.Output("generated_token_ids"), run.Greedy.Tokens, "greedy tokens (KV cache)");
        GoldenAssert.Close(set.Output("generation_step_logits"), stack(run.Greedy.StepLogits!.ToArray()), "generation step logits", log);
        GoldenAssert.Close(set.Output("llm_layer2_attn_last_token_per_head"), probe.CapturedAttention!.squeeze(1), "layer-2 last-token attention per head", log);
        GoldenAssert.Close(set.Output("llm_layer2_attn_last_token_mean"), probe.CapturedAttention!.squeeze(1).mean([0]), "layer-2 last-token attention mean", log);
        Assert.Equal(ids.Length, run.VisualTokensKept + ids.Length - run.VisualTokens);
    }

    public void CheckPruningReference(GoldenSet set, string reference, ITestOutputHelper log)
    {
        using var model = Llava15Model.Load(set.Folder, ModelLoadOptions.Cpu());
        using var pixels = set.Input("pixel_values");
        using var image = model.EncodePixels(pixels, VisionExtras.None);
        var ids = set.Input("input_ids").reshape(-1).data<long>().ToArray();
        var keep = set.KeepVisualIndices(reference);
        using var expected = set.PruningTensors(reference);
        bool preLlm = reference.StartsWith("pre_llm");
        // Pre-LLM references renumber positions (LLaVA's own behaviour); intra-LLM ones keep the original ids (FastV-style).
        using var hooks = preLlm ? ReplayHooks.PreLlm(keep, PositionPolicy.Renumber) : ReplayHooks.IntraLlm(2, keep);
        using var trace = new DecoderTrace();
        using var run = model.RunPrompt(ids, [image], hooks, NewTokens, new HashSet<long>(), LogitsSelection.Last, trace, keepStepLogits: true);

        if (preLlm)
        {
            GoldenAssert.Close(expected.Read("inputs_embeds"), run.LlmInput, $"{reference} LLM input", log);
            GoldenAssert.Equal(expected.Read("position_ids"), run.LlmPositions.reshape(-1).data<long>().ToArray(), $"{reference} position ids");
            Assert.Equal(1, hooks.PreLlmCalls);
        }
        else Assert.Equal(1, hooks.LayerCalls);
        GoldenAssert.Close(expected.Read("logits_last"), run.Greedy.StepLogits![0], $"{reference} logits_last", log);
        GoldenAssert.Equal(expected.Read("generated_token_ids"), run.Greedy.Tokens, $"{reference} greedy tokens");
        GoldenAssert.Close(expected.Read("generation_step_logits"), stack(run.Greedy.StepLogits!.ToArray()), $"{reference} step logits", log);
        GoldenAssert.Equal(expected.Read("decode_position_ids"), run.DecodePositions, $"{reference} decode positions");
        GoldenAssert.Close(expected.Read("llm_final_norm"), trace.FinalNorm!, $"{reference} final norm", log);
        Assert.Equal(keep.Length, run.VisualTokensKept);
    }
}
