using System.Diagnostics;
using UniPrune.Engine.Generation;
using UniPrune.Engine.Models.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Models.Common;

/// <summary>
/// The part of a prompt run every family shares once its prompt is spliced: the pre-LLM seam (the hook call and the
/// re-layout of rows and position ids, timed together as method time), prefill through the decoder with the intra-LLM
/// seam, and greedy decoding with the position each generated token is fed at. Families differ only in how they build
/// the pre-LLM context and, for Qwen's M-RoPE, in where decoding continues.
/// </summary>
public static class PromptRunner
{
    /// <summary>
    /// Runs a spliced prompt. Call inside the caller's inference mode and dispose scope: the returned tensors are moved
    /// out of that scope. <paramref name="nextPosition"/> fixes where decoding continues (Qwen: max M-RoPE id + 1 whatever
    /// is dropped, the P-QWEN fix); null continues at the prompt length, or at the reduced length when a pre-LLM
    /// decision renumbers the ids.
    /// </summary>
    public static PromptRun Run(CausalLanguageModel model, IRotaryEmbedding? rotary, Tensor embeds, Tensor positions, VisualLayout layout,
        IPruningHooks? hooks, Func<PreLlmContext> preLlmContext, long? nextPosition, int maxNewTokens, IReadOnlySet<long> stopTokenIds,
        LogitsSelection prefillLogits, DecoderTrace? trace, bool keepStepLogits)
    {
        int promptLength = (int)embeds.shape[0];
        Tensor llmInput = embeds, llmPositions = positions;
        long next = nextPosition ?? promptLength;
        double methodMs = 0;
        DecoderOutput? prefill = null;
        var decodePositions = new List<long>();
        using var session = new DecoderSession(model, rotary);

        Tensor Prefill()
        {
            var currentLayout = layout;
            if (hooks is not null && layout.Count > 0)
            {
                var context = preLlmContext();
                var clock = Stopwatch.StartNew();
                var decision = hooks.OnVisualTokens(context);
                if (decision is not null)
                {
                    var plan = SequencePlan.Build(layout, promptLength, decision.Kept, decision.ExtraTokens);
                    llmInput = plan.GatherRows(embeds, layout, decision.Kept, decision.Embeddings);
                    llmPositions = plan.Positions(positions, decision.Positions);
                    if (nextPosition is null && decision.Positions == PositionPolicy.Renumber) next = plan.Length;
                    currentLayout = plan.Layout;
                }
                methodMs += clock.Elapsed.TotalMilliseconds;
            }
            var pruning = hooks is null ? null : new IntraLlmPruning { Hooks = hooks, Layout = currentLayout, PromptEmbeddings = embeds };
            prefill = session.Prefill(llmInput, llmPositions, pruning, next, prefillLogits, trace);
            methodMs += prefill.HookMilliseconds;
            var logits = prefill.Logits!;
            return prefillLogits == LogitsSelection.All ? logits[-1] : logits.alias();
        }
        Tensor Step(long token)
        {
            decodePositions.Add(session.NextPosition);
            return session.Step(token);
        }

        var greedy = GreedyDecoder.Run(Prefill, Step, model.Device, maxNewTokens, stopTokenIds, keepStepLogits);
        decodePositions.Add(session.NextPosition);
        return new PromptRun
        {
            Greedy = greedy,
            InputsEmbeds = embeds.MoveToOuterDisposeScope(),
            LlmInput = llmInput.MoveToOuterDisposeScope(),
            LlmPositions = llmPositions.MoveToOuterDisposeScope(),
            Prefill = prefill! with { Logits = prefill!.Logits?.MoveToOuterDisposeScope() },
            DecodePositions = decodePositions.ToArray(),
            PromptTokens = promptLength,
            VisualTokens = layout.Count,
            VisualTokensKept = prefill!.Layout?.Count ?? layout.Count,
            MethodMs = methodMs,
        };
    }
}
