using System.Text;
using UniPrune.Engine.Models.Abstractions;

namespace UniPrune.Engine.Datasets;

/// <summary>The model families whose VLMEvalKit wrappers have dataset-specific prompt rules (keys of <see cref="PromptPolicy"/>).</summary>
public static class ModelFamilies
{
    public const string Llava15 = "llava-1.5";
    public const string Qwen25VL = "qwen2.5-vl";
    public const string InternVL3 = "internvl3";

    public static IReadOnlyList<string> All { get; } = [Llava15, Qwen25VL, InternVL3];

    /// <summary>Accepts the canonical names and common spellings ("llava_v1.5_7b", "Qwen2.5-VL-7B-Instruct", "InternVL3-8B").</summary>
    public static string Normalize(string family)
    {
        string f = family.Trim().ToLowerInvariant().Replace('_', '-');
        if (f.StartsWith("llava")) return Llava15;
        if (f.StartsWith("qwen2.5-vl") || f.StartsWith("qwen25vl") || f.StartsWith("qwen2-5-vl")) return Qwen25VL;
        if (f.StartsWith("internvl3")) return InternVL3;
        throw new ArgumentException($"unknown model family '{family}'; known families: {string.Join(", ", All)}");
    }
}

/// <summary>
/// Everything one request needs besides the model: the message (ordered image and text segments; the model applies
/// its own chat template), the images it refers to, and the per-dataset knobs VLMEvalKit's wrapper sets by name.
/// </summary>
/// <param name="MaxNewTokens">The wrapper's generation cap (the same for every dataset).</param>
/// <param name="QwenMinPixels">Qwen2.5-VL only: a min_pixels override for this dataset (OCRBench: 10·10·28·28), else null.</param>
/// <param name="InternVLMaxTiles">InternVL3 only: max_num tiles per image for this request, else null.</param>
/// <param name="PromptMode">Which builder made the text: "dataset-default", "llava-mcq", "internvl-custom" or "qwen-mixin".</param>
public sealed record PromptPlan(
    PromptMessage Message,
    IReadOnlyList<SampleImage> Images,
    int MaxNewTokens,
    int? QwenMinPixels,
    int? InternVLMaxTiles,
    string PromptMode)
{
    /// <summary>All text segments concatenated (for hashing and logs).</summary>
    public string Text => string.Concat(Message.Segments.OfType<TextSegment>().Select(t => t.Text));
}

/// <summary>
/// VLMEvalKit's prompt choice (<c>inference.py</c>): the model wrapper's custom <c>build_prompt</c> where its
/// <c>use_custom_prompt(dataset)</c> says so, otherwise the dataset's own. The wrappers' rules branch on dataset
/// names; they live here, keyed on family and dataset, so model code never sees a dataset name (datasets.md §1.5, §3).
/// </summary>
public sealed class PromptPolicy
{
    public const int LlavaMaxNewTokens = 2048;
    public const int QwenMaxNewTokens = 2048;
    public const int InternVLMaxNewTokens = 4096;
    /// <summary>Qwen2VLChat lowers min_pixels for OCRBench to 10·10·28·28.</summary>
    public const int QwenOcrBenchMinPixels = 10 * 10 * 28 * 28;
    /// <summary>InternVLChat caps the tiles over all images of a request at 64.</summary>
    public const int InternVLTotalMaxTiles = 64;

    public string Family { get; }
    /// <summary>Qwen only: VLMEvalKit's shipped config sets use_custom_prompt=False; true turns the Qwen2VLPromptMixin on.</summary>
    public bool QwenCustomPrompt { get; }

    private PromptPolicy(string family, bool qwenCustomPrompt) { Family = family; QwenCustomPrompt = qwenCustomPrompt; }

    public static PromptPolicy For(string family, bool qwenCustomPrompt = false)
    {
        string normalized = ModelFamilies.Normalize(family);
        if (qwenCustomPrompt && normalized != ModelFamilies.Qwen25VL)
            throw new ArgumentException($"qwenCustomPrompt applies to {ModelFamilies.Qwen25VL} only, not '{family}'");
        return new PromptPolicy(normalized, qwenCustomPrompt);
    }

    public PromptPlan Build(VlmDataset dataset, DatasetSample sample) => Family switch
    {
        ModelFamilies.Llava15 => BuildLlava(dataset, sample),
        ModelFamilies.Qwen25VL => BuildQwen(dataset, sample),
        ModelFamilies.InternVL3 => BuildInternVL(dataset, sample),
        _ => throw new InvalidOperationException($"no prompt rules for family '{Family}'"),
    };

    // LLaVA: custom prompt for MCQ only (image first, then the "Answer with the option's letter" text).
    private static PromptPlan BuildLlava(VlmDataset dataset, DatasetSample sample) =>
        dataset.Kind == DatasetKind.MultipleChoice
            ? Plan(ImagesThenText(sample, DirectAnswerMultipleChoice(sample)), sample, LlavaMaxNewTokens, null, null, "llava-mcq")
            : Plan(dataset.BuildDefaultPrompt(sample), sample, LlavaMaxNewTokens, null, null, "dataset-default");

    private PromptPlan BuildQwen(VlmDataset dataset, DatasetSample sample)
    {
        int? minPixels = dataset.Name == "OCRBench" ? QwenOcrBenchMinPixels : null;
        if (!QwenCustomPrompt) return Plan(dataset.BuildDefaultPrompt(sample), sample, QwenMaxNewTokens, minPixels, null, "dataset-default");
        string question = sample.Require("question", "the question text");
        string? text = dataset.Kind switch
        {
            DatasetKind.MultipleChoice => QwenMultipleChoice(sample),
            DatasetKind.YesNo when dataset.Name is "HallusionBench" or "POPE" => question + " Please answer yes or no.",
            DatasetKind.Vqa when dataset.Name != "MMVet" => question + "\nPlease try to answer the question with short words or phrases if possible.",
            _ => null, // MME keeps the dataset prompt
        };
        return text is null
            ? Plan(dataset.BuildDefaultPrompt(sample), sample, QwenMaxNewTokens, minPixels, null, "dataset-default")
            : Plan(ImagesThenText(sample, text), sample, QwenMaxNewTokens, minPixels, null, "qwen-mixin");
    }

    private static PromptPlan BuildInternVL(VlmDataset dataset, DatasetSample sample)
    {
        string name = dataset.Name;
        string question = sample.Require("question", "the question text");
        string prompt = dataset.Kind switch
        {
            DatasetKind.YesNo when name.Contains("MME") => question + " Answer the question using a single word or phrase.",
            DatasetKind.YesNo when name.Contains("HallusionBench") || name.Contains("AMBER")
                => question + " Please answer yes or no. Answer the question using a single word or phrase.",
            DatasetKind.YesNo => question,
            DatasetKind.MultipleChoice => DirectAnswerMultipleChoice(sample),
            DatasetKind.Vqa when ContainsAny(name, "LLaVABench", "WildVision") => question + "\nAnswer this question in detail.",
            DatasetKind.Vqa when ContainsAny(name, "OCRVQA", "TextVQA", "ChartQA", "DocVQA", "InfoVQA", "OCRBench", "DUDE", "SLIDEVQA", "GQA", "MMLongBench_DOC")
                => question + "\nAnswer the question using a single word or phrase.",
            DatasetKind.Vqa when ContainsAny(name, "MathVista", "MathVision", "VCR", "MTVQA", "MMVet", "MMDU", "CRPE", "MIA-Bench", "MM-Math",
                "DynaMath", "QSpatial", "WeMath", "LogicVista", "MM-IFEval", "ChartMimic") => question,
            DatasetKind.Vqa => question + "\nAnswer the question using a single word or phrase.",
            _ => question,
        };
        int maxNum = ContainsAny(name, "InfoVQA_VAL", "InfoVQA_TEST", "OCRBench", "HRBench4K", "HRBench8K") ? 24
            : ContainsAny(name, "DocVQA_VAL", "DocVQA_TEST", "DUDE", "MMLongBench_DOC", "SLIDEVQA") ? 18
            : ContainsAny(name, "ChartQA_TEST", "MMMU_DEV_VAL", "MMMU_TEST", "MME-RealWorld", "VCR_EN", "VCR_ZH", "OCRVQA", "BMMR") ? 12
            : 6;
        int images = Math.Max(1, sample.Images.Count);
        int tiles = Math.Max(1, Math.Min(maxNum, InternVLTotalMaxTiles / images));
        // InternVL's build_prompt lists the text first, then the images; its chat template places the images.
        var segments = new List<PromptSegment> { new TextSegment(prompt) };
        segments.AddRange(sample.Images.Select((_, i) => (PromptSegment)new ImageSegment(i)));
        return Plan(new PromptMessage(segments), sample, InternVLMaxNewTokens, null, tiles, "internvl-custom");
    }

    private static bool ContainsAny(string name, params string[] keys) => keys.Any(name.Contains);

    private static PromptPlan Plan(PromptMessage message, DatasetSample sample, int maxNewTokens, int? minPixels, int? tiles, string mode) =>
        new(message, sample.Images, maxNewTokens, minPixels, tiles, mode);

    internal static PromptMessage ImagesThenText(DatasetSample sample, string text)
    {
        var segments = sample.Images.Select((_, i) => (PromptSegment)new ImageSegment(i)).ToList();
        segments.Add(new TextSegment(text));
        return new PromptMessage(segments);
    }

    /// <summary>VLMEvalKit's <c>cn_string</c>: any CJK unified ideograph U+4E00..U+9FFF.</summary>
    public static bool HasChinese(string text) => text.Any(c => c >= '\u4e00' && c <= '\u9fff');

    /// <summary>LLaVA's MCQ prompt and InternVL's <c>build_multi_choice_prompt</c>: [hint\n]question, "\nL. text" per option, then the instruction.</summary>
    public static string DirectAnswerMultipleChoice(DatasetSample sample)
    {
        string question = sample.Require("question", "the question text");
        var prompt = new StringBuilder(sample.Hint is { } hint ? hint + "\n" + question : question);
        foreach (var option in sample.Options) prompt.Append('\n').Append(option.Letter).Append(". ").Append(option.Text);
        bool chinese = HasChinese(prompt.ToString());
        prompt.Append(sample.Options.Count > 0
            ? chinese ? "\n请直接回答选项字母。" : "\nAnswer with the option's letter from the given choices directly."
            : chinese ? "\n请直接回答问题。" : "\nAnswer the question directly.");
        return prompt.ToString();
    }

    /// <summary>The Qwen2VLPromptMixin MCQ text: the dataset layout with its own last line, right-stripped.</summary>
    public static string QwenMultipleChoice(DatasetSample sample)
    {
        var prompt = new StringBuilder();
        if (sample.Hint is { } hint) prompt.Append("Hint: ").Append(hint).Append('\n');
        prompt.Append("Question: ").Append(sample.Require("question", "the question text")).Append('\n');
        if (sample.Options.Count > 0)
        {
            prompt.Append("Options:\n");
            foreach (var option in sample.Options) prompt.Append(option.Letter).Append(". ").Append(option.Text).Append('\n');
            prompt.Append(HasChinese(prompt.ToString()) ? "请直接回答选项字母。" : "Please select the correct answer from the options above.");
        }
        return PythonRStrip(prompt.ToString());
    }

    private static string PythonRStrip(string text)
    {
        int end = text.Length;
        while (end > 0 && PythonText.IsWhitespace(text[end - 1])) end--;
        return text[..end];
    }
}
