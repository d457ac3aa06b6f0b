namespace UniPrune.Engine.Models.Abstractions;

/// <summary>One segment of a prompt: text, or the i-th image of the request.</summary>
public abstract record PromptSegment;
public sealed record TextSegment(string Text) : PromptSegment;
public sealed record ImageSegment(int ImageIndex) : PromptSegment;

/// <summary>
/// A dataset-agnostic prompt: ordered text and image segments (VLMEvalKit's message list). The model applies its
/// own chat template and system prompt; it never sees the dataset's name.
/// </summary>
public sealed record PromptMessage(IReadOnlyList<PromptSegment> Segments)
{
    public static PromptMessage ImageThenText(string text) => new([new ImageSegment(0), new TextSegment(text)]);
}

/// <summary>Greedy, bounded decoding settings (the benchmark never samples).</summary>
public sealed record GenerationOptions(int MaxNewTokens, IReadOnlyList<int>? ExtraStopTokenIds = null);

/// <summary>Wall-clock milliseconds per stage of one request (device-synchronised by the model).</summary>
public sealed record StageTimings(double VisionMs, double PrefillMs, double DecodeMs, double MethodMs)
{
    public double TotalMs => VisionMs + PrefillMs + DecodeMs;
}

/// <summary>What one request produced: the answer, token counts, and stage times.</summary>
public sealed record GenerationResult(
    string Text,
    IReadOnlyList<long> TokenIds,
    int PromptTokens,
    int VisualTokens,
    int VisualTokensKept,
    StageTimings Timings);

/// <summary>Identity stamped into every result so a baseline names exactly what produced it.</summary>
public sealed record ModelIdentity(string Family, string Name, string ConfigSha256, string WeightsSha256, string DType, string Device);
