using System.Text;
using UniPrune.Engine.Models.Abstractions;

namespace UniPrune.Engine.Models.InternVL3;

/// <summary>How VLMEvalKit's InternVL wrapper (<c>InternVLChat.build_prompt</c>, version V2.0) phrases a question for a kind of dataset.</summary>
public enum InternVLQuestionStyle
{
    /// <summary>Question unchanged (POPE; MathVista, MathVision, MIA-Bench without CoT).</summary>
    Plain,
    /// <summary>MME: question + " Answer the question using a single word or phrase."</summary>
    YesNoShortAnswer,
    /// <summary>HallusionBench/AMBER: question + " Please answer yes or no. Answer the question using a single word or phrase."</summary>
    YesNoExplicit,
    /// <summary>OCRBench and the other short-answer VQA sets: question + "\nAnswer the question using a single word or phrase."</summary>
    ShortAnswerVqa,
    /// <summary>Multiple choice (<c>build_multi_choice_prompt</c>): [hint\n]question, "\nA. …" per option, then the answer instruction.</summary>
    MultipleChoice,
}

/// <summary>
/// InternVL3's prompt: the <c>internvl2_5</c> chat template (ChatML with the InternVL system message), VLMEvalKit's
/// question phrasing and image placement, and the expansion of each <c>&lt;image&gt;</c> into
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

    /// <summary>VLMEvalKit's InternVL question phrasing (datasets.md §1.5).</summary>
    public static string Question(InternVLQuestionStyle style, string question, string? hint = null, IReadOnlyList<(char Letter, string Text)>? options = null) => style switch
    {
        InternVLQuestionStyle.Plain => question,
        InternVLQuestionStyle.YesNoShortAnswer => question + " Answer the question using a single word or phrase.",
        InternVLQuestionStyle.YesNoExplicit => question + " Please answer yes or no. Answer the question using a single word or phrase.",
        InternVLQuestionStyle.ShortAnswerVqa => question + "\nAnswer the question using a single word or phrase.",
        InternVLQuestionStyle.MultipleChoice => MultipleChoice(question, hint, options ?? []),
        _ => throw new ArgumentOutOfRangeException(nameof(style)),
    };

    private static string MultipleChoice(string question, string? hint, IReadOnlyList<(char Letter, string Text)> options)
    {
        var prompt = new StringBuilder(hint is null ? question : hint + "\n" + question);
        foreach (var (letter, text) in options) prompt.Append('\n').Append(letter).Append(". ").Append(text);
        bool chinese = prompt.ToString().Any(ch => ch >= '\u4e00' && ch <= '\u9fff');
        prompt.Append(options.Count > 0
            ? chinese ? "\n请直接回答选项字母。" : "\nAnswer with the option's letter from the given choices directly."
            : chinese ? "\n请直接回答问题。" : "\nAnswer the question directly.");
        return prompt.ToString();
    }
}
