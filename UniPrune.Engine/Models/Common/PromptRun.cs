using UniPrune.Engine.Generation;
using UniPrune.Engine.Models.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Models.Common;

/// <summary>
/// Everything one tokenised prompt run produced, for the harness (as a <see cref="GenerationResult"/>) and for parity
/// tests: the greedy run, the LLM inputs before and after the pre-LLM seam, decode positions and counts. Shared by every
/// family; a family with more to report (Qwen's M-RoPE ids) derives from it.
/// </summary>
public class PromptRun : IDisposable
{
    public PromptRun() { }

    /// <summary>Takes over <paramref name="run"/>'s tensors (a derived record adds family detail; dispose only the new one).</summary>
    [System.Diagnostics.CodeAnalysis.SetsRequiredMembers]
    protected PromptRun(PromptRun run)
    {
        Greedy = run.Greedy; InputsEmbeds = run.InputsEmbeds; LlmInput = run.LlmInput; LlmPositions = run.LlmPositions;
        Prefill = run.Prefill; DecodePositions = run.DecodePositions; PromptTokens = run.PromptTokens;
        VisualTokens = run.VisualTokens; VisualTokensKept = run.VisualTokensKept; MethodMs = run.MethodMs;
    }

    public required GreedyRun Greedy { get; init; }
    /// <summary>The spliced prompt embeddings before any pruning (L0, H).</summary>
    public required Tensor InputsEmbeds { get; init; }
    /// <summary>What entered decoder layer 0 (L', H) and its position ids ((1, L') or Qwen's (3, L')).</summary>
    public required Tensor LlmInput { get; init; }
    public required Tensor LlmPositions { get; init; }
    public required DecoderOutput Prefill { get; init; }
    /// <summary>RoPE position of each generated token when it is fed back.</summary>
    public required long[] DecodePositions { get; init; }
    public required int PromptTokens { get; init; }
    public required int VisualTokens { get; init; }
    public required int VisualTokensKept { get; init; }
    public required double MethodMs { get; init; }

    /// <summary>Generated ids without the stop token that ended the run, if one did.</summary>
    public long[] AnswerTokens => Greedy.StoppedAtStopToken ? Greedy.Tokens[..^1] : Greedy.Tokens;

    /// <summary>The harness's record of this run, with <paramref name="answer"/> already decoded by the family's rules.</summary>
    public GenerationResult ToResult(string answer, IEnumerable<EncodedImage> images) =>
        new(answer, Greedy.Tokens, PromptTokens, VisualTokens, VisualTokensKept,
            new StageTimings(images.Sum(i => i.VisionMs), Greedy.PrefillMs, Greedy.DecodeMs, MethodMs));

    public void Dispose()
    {
        Greedy.Dispose(); InputsEmbeds.Dispose(); LlmInput.Dispose(); LlmPositions.Dispose(); Prefill.Logits?.Dispose();
        GC.SuppressFinalize(this);
    }
}
