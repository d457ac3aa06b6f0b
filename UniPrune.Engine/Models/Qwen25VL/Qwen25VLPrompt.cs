using System.Text;
using UniPrune.Engine.Models.Abstractions;

namespace UniPrune.Engine.Models.Qwen25VL;

/// <summary>
/// Qwen2.5-VL's chat template as VLMEvalKit drives it (models.md §2.5): one user turn whose items are emitted in
/// message order (image → <c>&lt;|vision_start|&gt;&lt;|image_pad|&gt;&lt;|vision_end|&gt;</c>, text as is, no separators),
/// the template's default system prompt, and the generation prompt for the assistant turn.
/// </summary>
public static class Qwen25VLPrompt
{
    /// <summary>Inserted by the chat template when the conversation has no system message (VLMEvalKit sets none).</summary>
    public const string DefaultSystemPrompt = "You are a helpful assistant.";
    public const string ImStart = "<|im_start|>";
    public const string ImEnd = "<|im_end|>";
    public const string VisionStart = "<|vision_start|>";
    public const string VisionEnd = "<|vision_end|>";
    public const string ImagePad = "<|image_pad|>";

    public static string Render(PromptMessage message, string systemPrompt = DefaultSystemPrompt)
    {
        var text = new StringBuilder();
        text.Append(ImStart).Append("system\n").Append(systemPrompt).Append(ImEnd).Append('\n');
        text.Append(ImStart).Append("user\n");
        foreach (var segment in message.Segments)
        {
            switch (segment)
            {
                case ImageSegment: text.Append(VisionStart).Append(ImagePad).Append(VisionEnd); break;
                case TextSegment t: text.Append(t.Text); break;
                default: throw new ArgumentException($"unsupported prompt segment {segment.GetType().Name}");
            }
        }
        text.Append(ImEnd).Append('\n').Append(ImStart).Append("assistant\n");
        return text.ToString();
    }

    /// <summary>
    /// Replaces the i-th <paramref name="imagePadId"/> by <paramref name="tokensPerImage"/>[i] copies (the processor's
    /// expansion to grid_t·grid_h·grid_w/4 placeholders per image).
    /// </summary>
    public static long[] ExpandImagePads(IReadOnlyList<long> ids, long imagePadId, IReadOnlyList<int> tokensPerImage)
    {
        var expanded = new List<long>(ids.Count + tokensPerImage.Sum());
        int image = 0;
        foreach (long id in ids)
        {
            if (id != imagePadId) { expanded.Add(id); continue; }
            if (image >= tokensPerImage.Count)
                throw new ArgumentException($"the prompt has more {ImagePad} tokens than the {tokensPerImage.Count} images given");
            for (int k = 0; k < tokensPerImage[image]; k++) expanded.Add(imagePadId);
            image++;
        }
        if (image != tokensPerImage.Count)
            throw new ArgumentException($"{tokensPerImage.Count} images given but the prompt has {image} {ImagePad} tokens");
        return [.. expanded];
    }
}
