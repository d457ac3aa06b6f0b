using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.InternVL3;

namespace UniPrune.Engine.Tests.Models.InternVL3;

public class InternVL3PromptTests
{
    private const string Sys = "你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位联合开发的多模态大语言模型。";

    [Fact]
    public void OneImageFollowsTheInternvl25TemplateWithOneContextBlockPerImage()
    {
        var message = PromptMessage.ImageThenText("Is there a dog? Answer the question using a single word or phrase.");
        string text = InternVL3Prompt.Expand(InternVL3Prompt.UserContent(message), [3], tokensPerTile: 2);
        Assert.Equal(
            $"<|im_start|>system\n{Sys}<|im_end|>\n<|im_start|>user\n<img>{string.Concat(Enumerable.Repeat("<IMG_CONTEXT>", 6))}</img>\n" +
            "Is there a dog? Answer the question using a single word or phrase.<|im_end|>\n<|im_start|>assistant\n", text);
    }

    [Fact]
    public void SeveralImagesGetNumberedLinesAndAdjacentMarkersAreRemoved()
    {
        var message = new PromptMessage([new ImageSegment(0), new ImageSegment(1), new TextSegment("Compare them.")]);
        Assert.Equal("Image-1: <image>\nImage-2: <image>\nCompare them.", InternVL3Prompt.UserContent(message));
        // Interleaved images keep their in-text markers (the reference only strips the adjacent run).
        var interleaved = new PromptMessage([new TextSegment("A:"), new ImageSegment(0), new TextSegment(" B:"), new ImageSegment(1)]);
        Assert.Equal("Image-1: <image>\nImage-2: <image>\nA:<Image-1> B:<Image-2>", InternVL3Prompt.UserContent(interleaved));
        string expanded = InternVL3Prompt.Expand(InternVL3Prompt.UserContent(message), [2, 1], tokensPerTile: 1);
        Assert.Contains("Image-1: <img><IMG_CONTEXT><IMG_CONTEXT></img>\nImage-2: <img><IMG_CONTEXT></img>\nCompare them.", expanded);
    }

    [Fact]
    public void ChatAddsTheImagePlaceholderWhenMissing()
    {
        string expanded = InternVL3Prompt.Expand("What is this?", [1], tokensPerTile: 1);
        Assert.Contains("user\n<img><IMG_CONTEXT></img>\nWhat is this?<|im_end|>", expanded);
        Assert.Throws<ArgumentException>(() => InternVL3Prompt.Expand("<image>\nQ", [1, 1], 1));
    }
}
