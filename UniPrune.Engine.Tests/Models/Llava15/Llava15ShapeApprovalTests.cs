using System.Text;
using UniPrune.Engine.Models.Common;
using UniPrune.Engine.Models.Llava15;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.Llava15;

/// <summary>The full-size skeletons on the meta device (no memory): every parameter name and shape, approved as text.</summary>
public sealed class Llava15ShapeApprovalTests
{
    private static string Fixture(string name) => Path.Combine(TestPaths.Fixtures, "llava15", name);

    private static string Describe(Llava15Model model, Func<string, string> keyOf)
    {
        var sb = new StringBuilder();
        long total = 0, vision = 0, projector = 0, language = 0;
        foreach (var (name, p) in model.named_parameters())
        {
            long n = p.numel();
            total += n;
            if (name.StartsWith("vision_tower.")) vision += n; else if (name.StartsWith("multi_modal_projector.")) projector += n; else language += n;
            sb.Append(keyOf(name)).Append(" [").Append(string.Join(", ", p.shape)).Append("]\n");
        }
        return $"parameters: {total} (vision {vision}, projector {projector}, language {language})\n" + sb;
    }

    [Fact]
    public void Llava_1_5_7b_hf_skeleton()
    {
        var config = Llava15Config.Load(Fixture("llava-1.5-7b-hf"));
        Assert.Equal(["hidden_size", "num_attention_heads", "intermediate_size", "num_hidden_layers"], config.CompletedTextKeys);
        using var model = Llava15Model.OnMeta(config);
        var text = Describe(model, name => name);
        Approval.Verify("llava-1.5-7b-hf", text);
        // models.md §6.1: CLIP vision 303.5 M, projector 21.0 M, LLM (-hf, 32064 rows) 6738.9 M.
        AssertMillions(model, "vision_tower.", 303.5);
        AssertMillions(model, "multi_modal_projector.", 21.0);
        AssertMillions(model, "language_model.", 6738.9);
    }

    [Fact]
    public void Llava_1_5_13b_hf_skeleton()
    {
        using var model = Llava15Model.OnMeta(Llava15Config.Load(Fixture("llava-1.5-13b-hf")));
        Approval.Verify("llava-1.5-13b-hf", Describe(model, name => name));
        Assert.Equal(40, model.Config.Text.NumLayers);
        Assert.Equal(5120, model.Config.Text.HiddenSize);
    }

    /// <summary>The original layout builds the same modules; the text lists the keys the two liuhaotian/OpenAI files must hold.</summary>
    [Fact]
    public void Llava_v1_5_7b_original_layout_checkpoint_keys()
    {
        var config = Llava15Config.Load(Fixture("llava-v1.5-7b"));
        Assert.Equal(LlavaCheckpointLayout.Original, config.Layout);
        using var model = Llava15Model.OnMeta(config);
        var text = Describe(model, name => name.StartsWith("vision_tower.")
            ? "clip: " + Llava15CheckpointKeys.ClipKey(name) : "llava: " + Llava15CheckpointKeys.OriginalLlmKey(name));
        Approval.Verify("llava-v1.5-7b-original", text);
        AssertMillions(model, "language_model.", 6738.4);
    }

    private static void AssertMillions(Llava15Model model, string prefix, double millions)
    {
        long n = model.named_parameters().Where(p => p.name.StartsWith(prefix)).Sum(p => p.parameter.numel());
        Assert.True(Math.Abs(n / 1e6 - millions) < 0.05, $"{prefix}: {n / 1e6:F2} M parameters, models.md §6.1 says {millions} M");
    }
}
