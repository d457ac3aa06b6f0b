using UniPrune.Engine.Datasets;
using UniPrune.Engine.Models.Abstractions;

namespace UniPrune.Engine.Tests.Datasets;

public class PromptPolicyTests
{
    private static readonly Dictionary<long, DatasetSample> Mcq =
        VlmTsvReader.Read(Path.Combine(TestPaths.Fixtures, "datasets", "mcq_circular.tsv")).ToDictionary(s => s.IntegerIndex!.Value);
    private static readonly IReadOnlyList<DatasetSample> YesNo = VlmTsvReader.Read(Path.Combine(TestPaths.Fixtures, "datasets", "yorn_pairs.tsv"));
    private static readonly IReadOnlyList<DatasetSample> Mixed = VlmTsvReader.Read(Path.Combine(TestPaths.Fixtures, "datasets", "mixed_shapes.tsv"));

    private static string Layout(PromptPlan plan) => string.Concat(plan.Message.Segments.Select(s => s is ImageSegment i ? $"[img{i.ImageIndex}]" : "[text]"));

    [Fact]
    public void Dataset_default_mcq_prompt_has_hint_question_options_and_the_trailing_space()
    {
        var plan = PromptPolicy.For("Qwen2.5-VL-7B-Instruct").Build(new MmBenchDataset("EN"), Mcq[0]);
        Assert.Equal("Hint: The picture has one box.\nQuestion: What colour is the box?\nOptions:\nA. red\nB. blue\nC. green\nD. gray\n"
            + "Please select the correct answer from the options above. \n", plan.Text);
        Assert.Equal("[img0][text]", Layout(plan));
        Assert.Equal("dataset-default", plan.PromptMode);
        Assert.Equal(2048, plan.MaxNewTokens);
        Assert.Null(plan.QwenMinPixels);
    }

    [Fact]
    public void Default_mcq_prompt_skips_na_hint_and_na_options()
    {
        var plan = PromptPolicy.For(ModelFamilies.Qwen25VL).Build(new ScienceQaDataset(), Mcq[1]);
        Assert.Equal("Question: Which option is not a colour?\nOptions:\nA. blue\nC. square\nPlease select the correct answer from the options above. \n", plan.Text);
    }

    [Fact]
    public void Llava_and_internvl_mcq_prompt_asks_for_the_letter()
    {
        const string expected = "The picture has one box.\nWhat colour is the box?\nA. red\nB. blue\nC. green\nD. gray\nAnswer with the option's letter from the given choices directly.";
        var llava = PromptPolicy.For("llava_v1.5_7b").Build(new SeedBench2PlusDataset(), Mcq[0]);
        Assert.Equal(expected, llava.Text);
        Assert.Equal("[img0][text]", Layout(llava));
        Assert.Equal("llava-mcq", llava.PromptMode);
        var intern = PromptPolicy.For("InternVL3-8B").Build(new SeedBench2PlusDataset(), Mcq[0]);
        Assert.Equal(expected, intern.Text);
        Assert.Equal("[text][img0]", Layout(intern)); // InternVL's build_prompt lists text first
        Assert.Equal(4096, intern.MaxNewTokens);
        Assert.Equal(6, intern.InternVLMaxTiles);
    }

    [Fact]
    public void Chinese_mcq_prompts_switch_the_instruction()
    {
        Assert.Equal("盒子是什么颜色？\nA. 红色\nB. 绿色\n请直接回答选项字母。", PromptPolicy.For(ModelFamilies.Llava15).Build(new MmBenchDataset("CN"), Mcq[2]).Text);
        Assert.Equal("Question: 盒子是什么颜色？\nOptions:\nA. 红色\nB. 绿色\n请直接回答选项字母。",
            PromptPolicy.For(ModelFamilies.Qwen25VL, qwenCustomPrompt: true).Build(new MmBenchDataset("CN"), Mcq[2]).Text);
    }

    [Fact]
    public void Qwen_mixin_mcq_prompt_has_no_trailing_space_or_newline()
    {
        var plan = PromptPolicy.For(ModelFamilies.Qwen25VL, qwenCustomPrompt: true).Build(new MmBenchDataset("EN"), Mcq[1]);
        Assert.Equal("Question: Which option is not a colour?\nOptions:\nA. blue\nC. square\nPlease select the correct answer from the options above.", plan.Text);
        Assert.Equal("qwen-mixin", plan.PromptMode);
    }

    [Theory]
    [InlineData(ModelFamilies.Llava15, "MME", "Is the box red? Please answer yes or no.")]
    [InlineData(ModelFamilies.Qwen25VL, "MME", "Is the box red? Please answer yes or no.")]
    [InlineData(ModelFamilies.InternVL3, "MME", "Is the box red? Please answer yes or no. Answer the question using a single word or phrase.")]
    [InlineData(ModelFamilies.InternVL3, "HallusionBench", "Is the box red? Please answer yes or no. Please answer yes or no. Answer the question using a single word or phrase.")]
    [InlineData(ModelFamilies.InternVL3, "POPE", "Is the box red? Please answer yes or no.")]
    [InlineData(ModelFamilies.InternVL3, "OCRBench", "Is the box red? Please answer yes or no.\nAnswer the question using a single word or phrase.")]
    [InlineData(ModelFamilies.InternVL3, "MathVista_MINI", "Is the box red? Please answer yes or no.")]
    [InlineData(ModelFamilies.InternVL3, "MathVision_MINI", "Is the box red? Please answer yes or no.")]
    [InlineData(ModelFamilies.InternVL3, "MIA-Bench", "Is the box red? Please answer yes or no.")]
    [InlineData(ModelFamilies.Llava15, "OCRBench", "Is the box red? Please answer yes or no.")]
    [InlineData(ModelFamilies.Qwen25VL, "MathVista_MINI", "Is the box red? Please answer yes or no.")]
    public void Prompt_matrix_for_non_mcq_datasets(string family, string dataset, string expected)
    {
        var plan = PromptPolicy.For(family).Build(DatasetCatalog.Get(dataset), YesNo[0]);
        Assert.Equal(expected, plan.Text);
        Assert.Single(plan.Images);
    }

    [Theory]
    [InlineData("HallusionBench", "q Please answer yes or no.")]
    [InlineData("POPE", "q Please answer yes or no.")]
    [InlineData("MME", "q")]
    [InlineData("OCRBench", "q\nPlease try to answer the question with short words or phrases if possible.")]
    [InlineData("MIA-Bench", "q\nPlease try to answer the question with short words or phrases if possible.")]
    public void Qwen_mixin_suffixes_when_turned_on(string dataset, string expected)
    {
        var sample = TsvBuilder.Samples(["index", "question", "answer"], ["1", "q", "Yes"])[0];
        Assert.Equal(expected, PromptPolicy.For(ModelFamilies.Qwen25VL, qwenCustomPrompt: true).Build(DatasetCatalog.Get(dataset), sample).Text);
    }

    [Fact]
    public void Per_dataset_image_knobs_follow_the_wrappers()
    {
        var ocr = DatasetCatalog.Get("OCRBench");
        Assert.Equal(78_400, PromptPolicy.For(ModelFamilies.Qwen25VL).Build(ocr, YesNo[0]).QwenMinPixels);
        Assert.Equal(24, PromptPolicy.For(ModelFamilies.InternVL3).Build(ocr, YesNo[0]).InternVLMaxTiles);
        Assert.Null(PromptPolicy.For(ModelFamilies.Qwen25VL).Build(DatasetCatalog.Get("POPE"), YesNo[0]).QwenMinPixels);
        var multi = PromptPolicy.For(ModelFamilies.InternVL3).Build(new ScienceQaDataset(), Mixed[0]);
        Assert.Equal("[text][img0][img1]", Layout(multi));
        Assert.Equal(6, multi.InternVLMaxTiles);
        var llavaMulti = PromptPolicy.For(ModelFamilies.Llava15).Build(new ScienceQaDataset(), Mixed[0]);
        Assert.Equal("[img0][img1][text]", Layout(llavaMulti));
        Assert.Equal("How many boxes are there\nin the two pictures?\nA. 1\nB. 2\nC. 3.0\nAnswer with the option's letter from the given choices directly.", llavaMulti.Text);
    }

    [Fact]
    public void Mcq_without_options_asks_to_answer_directly()
    {
        var sample = TsvBuilder.Samples(["index", "question", "answer"], ["1", "Name the shape.", "A"])[0];
        Assert.Equal("Name the shape.\nAnswer the question directly.", PromptPolicy.DirectAnswerMultipleChoice(sample));
        Assert.Equal("Question: Name the shape.\n", ((TextSegment)new ScienceQaDataset().BuildDefaultPrompt(sample).Segments[^1]).Text);
    }

    [Fact]
    public void Unknown_families_and_misapplied_qwen_switch_are_errors()
    {
        Assert.Contains("known families", Assert.Throws<ArgumentException>(() => PromptPolicy.For("gpt-4v")).Message);
        Assert.Throws<ArgumentException>(() => PromptPolicy.For(ModelFamilies.Llava15, qwenCustomPrompt: true));
    }
}
