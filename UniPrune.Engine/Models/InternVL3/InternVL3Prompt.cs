using System.Text;
using UniPrune.Engine.Models.Abstractions;

namespace UniPrune.Engine.Models.InternVL3;

/// <summary>
/// InternVL3's prompt: the <c>internvl2_5</c> chat template (ChatML with the InternVL system message), VLMEvalKit's
/// image placement (the question phrasing per dataset lives in Datasets.PromptPolicy), and the expansion of each <c>&lt;image&gt;</c> into
/// <c>&lt;img&gt;</c> + <c>&lt;IMG_CONTEXT&gt;</c>×(tokens per tile · tiles) + <c>&lt;/img&gt;</c>.
/// </summary>
public static class InternVL3Prompt
{
    public const string ImagePlaceholder = "<image>";
    public const string ImageStart = "<img>";
    public const string ImageEnd = "</img>";
    public const string ImageContext = "<IMG_CONTEXT>";
    public const string EndOfTurn = "<|im_end|>";

    /// <summary>The <c>internvl2_5</c> template's system message (InternVL's remote code always uses it).</summary>
    public const string SystemMessage = "你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位联合开发的多模态大语言模型。";

    /// <summary>
    /// One user turn in the <c>internvl2_5</c> template (separator style MPT):
    /// <c>&lt;|im_start|&gt;system\n{SYS}&lt;|im_end|&gt;\n&lt;|im_start|&gt;user\n{content}&lt;|im_end|&gt;\n&lt;|im_start|&gt;assistant\n</c>.
    /// </summary>
    public static string ChatTemplate(string userContent) =>
        $"<|im_start|>system\n{SystemMessage}{EndOfTurn}\n<|im_start|>user\n{userContent}{EndOfTurn}\n<|im_start|>assistant\n";

    /// <summary>
    /// VLMEvalKit's <c>reorganize_prompt</c>: one image → <c>&lt;image&gt;\n</c> + the text items joined by "\n";
    /// several images → one <c>Image-k: &lt;image&gt;\n</c> line per image, then the text items concatenated
    /// (VLMEvalKit's in-text image markers are removed only when all images were adjacent, as the reference does).
    /// No image → the text items joined by "\n".
    /// </summary>
    public static string UserContent(PromptMessage message)
    {
        int images = message.Segments.Count(s => s is ImageSegment);
        var texts = message.Segments.OfType<TextSegment>().Select(t => t.Text);
        if (images == 0) return string.Join("\n", texts);
        if (images == 1) return ImagePlaceholder + "\n" + string.Join("\n", texts);
        var body = new StringBuilder();
        int imageNumber = 1;
        foreach (var segment in message.Segments)
            body.Append(segment switch
            {
                TextSegment t => t.Text,
                ImageSegment => $"<Image-{imageNumber++}>",
                _ => throw new ArgumentException($"unknown prompt segment {segment.GetType().Name}"),
            });
        string markersInARow = string.Concat(Enumerable.Range(1, images).Select(i => $"<Image-{i}>"));
        string header = string.Concat(Enumerable.Range(1, images).Select(i => $"Image-{i}: {ImagePlaceholder}\n"));
        return (header + body).Replace(markersInARow, "");
    }

    /// <summary>
    /// The full prompt text with every <c>&lt;image&gt;</c> expanded, in order, for the given tiles per image
    /// (what <c>InternVLChatModel.chat</c> tokenises). Adds <c>&lt;image&gt;\n</c> in front when an image is given but the
    /// content has no placeholder, as chat() does.
    /// </summary>
    public static string Expand(string userContent, IReadOnlyList<int> tilesPerImage, int tokensPerTile)
    {
        if (tilesPerImage.Count > 0 && !userContent.Contains(ImagePlaceholder)) userContent = ImagePlaceholder + "\n" + userContent;
        string query = ChatTemplate(userContent);
        foreach (int tiles in tilesPerImage)
        {
            int at = query.IndexOf(ImagePlaceholder, StringComparison.Ordinal);
            if (at < 0) throw new ArgumentException($"the prompt has fewer {ImagePlaceholder} placeholders than the {tilesPerImage.Count} images given");
            var block = new StringBuilder(ImageStart);
            for (int i = 0; i < tokensPerTile * tiles; i++) block.Append(ImageContext);
            block.Append(ImageEnd);
            query = string.Concat(query.AsSpan(0, at), block.ToString(), query.AsSpan(at + ImagePlaceholder.Length));
        }
        return query;
    }
}
