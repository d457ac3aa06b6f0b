using System.Text;
using UniPrune.Engine.Models.Abstractions;

namespace UniPrune.Engine.Models.Llava15;

/// <summary>Which chat layout a LLaVA-1.5 prompt uses.</summary>
public enum LlavaPromptStyle
{
    /// <summary>
    /// VLMEvalKit's LLaVA wrapper (what the benchmark reproduces, datasets.md §1.5): its own system prompt ("human"),
    /// "USER: " + text verbatim with every image as " &lt;image&gt; " + " ASSISTANT: ".
    /// </summary>
    VlmEvalKit,
    /// <summary>LLaVA's own conv_vicuna_v1 as its eval scripts use it (models.md §1.4): "SYS USER: &lt;image&gt;\n{q} ASSISTANT:".</summary>
    VicunaV1,
    /// <summary>llava-hf's chat template: "USER: &lt;image&gt;\n{text} ASSISTANT:", no system prompt.</summary>
    LlavaHf,
}

/// <summary>LLaVA-1.5 prompt strings and LLaVA's tokenizer_image_token convention.</summary>
public static class Llava15Prompt
{
    public const string ImagePlaceholder = "<image>";

    public const string VlmEvalKitSystem =
        "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the human's questions. ";

    public const string VicunaV1System =
        "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions.";

    public static string Build(PromptMessage message, LlavaPromptStyle style)
    {
        var sb = new StringBuilder();
        switch (style)
        {
            case LlavaPromptStyle.VlmEvalKit:
                sb.Append(VlmEvalKitSystem).Append("USER: ");
                foreach (var segment in message.Segments)
                    sb.Append(segment switch { TextSegment t => t.Text, ImageSegment => " " + ImagePlaceholder + " ", _ => throw Unknown(segment) });
                sb.Append(" ASSISTANT: ");
                break;
            case LlavaPromptStyle.VicunaV1:
                // model_vqa: each image as "<image>\n" ahead of its text; sep " " after the system and the user turn.
                sb.Append(VicunaV1System).Append(" USER: ");
                foreach (var segment in message.Segments)
                    sb.Append(segment switch { TextSegment t => t.Text, ImageSegment => ImagePlaceholder + "\n", _ => throw Unknown(segment) });
                sb.Append(" ASSISTANT:");
                break;
            case LlavaPromptStyle.LlavaHf:
                // The template renders all images first, then every text item followed by a space.
                sb.Append("USER: ");
                foreach (var _ in message.Segments.OfType<ImageSegment>()) sb.Append(ImagePlaceholder).Append('\n');
                foreach (var t in message.Segments.OfType<TextSegment>()) sb.Append(t.Text).Append(' ');
                sb.Append("ASSISTANT:");
                break;
            default: throw new ArgumentOutOfRangeException(nameof(style));
        }
        return sb.ToString();
    }

    /// <summary>
    /// LLaVA's tokenizer_image_token: split at "&lt;image&gt;", tokenise every chunk on its own (each would start with BOS; only
    /// the first keeps it) and put <see cref="Llava15Config.ImageSentinel"/> at each split.
    /// </summary>
    public static long[] Tokenize(string prompt, ITextTokenizer tokenizer, long bosTokenId)
    {
        var ids = new List<long> { bosTokenId };
        var chunks = prompt.Split(ImagePlaceholder);
        for (int i = 0; i < chunks.Length; i++)
        {
            if (i > 0) ids.Add(Llava15Config.ImageSentinel);
            if (chunks[i].Length > 0) ids.AddRange(tokenizer.Encode(chunks[i]));
        }
        return ids.ToArray();
    }

    /// <summary>Images referenced by a message, in order.</summary>
    public static int ImageCount(PromptMessage message) => message.Segments.Count(s => s is ImageSegment);

    private static ArgumentException Unknown(PromptSegment s) => new($"unknown prompt segment {s.GetType().Name}");
}
