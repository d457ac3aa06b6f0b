using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.Qwen25VL;

namespace UniPrune.Engine.Tests.Models.Qwen25VL;

public class Qwen25VLPromptTests
{
    [Fact]
    public void ImageThenTextFollowsTheChatTemplateWithTheDefaultSystemPrompt()
    {
        string text = Qwen25VLPrompt.Render(PromptMessage.ImageThenText("What is shown?\nAnswer the question using a single word or phrase."));
        Assert.Equal(
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" +
            "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What is shown?\nAnswer the question using a single word or phrase.<|im_end|>\n" +
            "<|im_start|>assistant\n", text);
    }

    [Fact]
    public void SegmentsAreEmittedInMessageOrder()
    {
        var message = new PromptMessage([new TextSegment("A: "), new ImageSegment(0), new TextSegment(" B: "), new ImageSegment(1), new TextSegment("?")]);
        string text = Qwen25VLPrompt.Render(message, "sys");
        Assert.Equal("<|im_start|>system\nsys<|im_end|>\n<|im_start|>user\nA: <|vision_start|><|image_pad|><|vision_end|> B: <|vision_start|><|image_pad|><|vision_end|>?<|im_end|>\n<|im_start|>assistant\n", text);
    }

    [Fact]
    public void GoldenPromptLayoutIsTheTemplateLayout()
    {
        // The golden input_ids spell the template with ids (real ids − 150643): 15 tokens before the image, the
        // placeholders, <|vision_end|>, the question, and the 5 closing tokens.
        using var golden = new Qwen25VLGolden();
        using var idsTensor = golden.Inputs.Read("input_ids");
        var ids = idsTensor.data<long>().ToArray();
        long imStart = 1001, imEnd = 1002, newline = 198;
        Assert.Equal(imStart, ids[0]);
        Assert.Equal(golden.Config.Tokens.VisionStart, ids[14]);
        Assert.Equal(golden.Config.Tokens.ImageToken, ids[15]);
        Assert.Equal(golden.Config.Tokens.VisionEnd, ids[15 + 48]);
        Assert.Equal([imEnd, newline, imStart, 91, newline], ids[^5..]);
        var collapsed = ids.Take(16).Concat(ids.Skip(15 + 48)).ToArray();
        Assert.Equal(ids, Qwen25VLPrompt.ExpandImagePads(collapsed, golden.Config.Tokens.ImageToken, [48]));
    }

    [Fact]
    public void PadCountMustMatchTheImages()
    {
        var e = Assert.Throws<ArgumentException>(() => Qwen25VLPrompt.ExpandImagePads([1, 9, 2], 9, [4, 4]));
        Assert.Contains("2 images given but the prompt has 1", e.Message);
    }
}
