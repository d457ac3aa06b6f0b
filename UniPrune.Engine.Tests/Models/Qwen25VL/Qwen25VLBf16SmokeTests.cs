using System.Text.Json.Nodes;
using UniPrune.Engine.Core;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.Common;
using UniPrune.Engine.Models.Qwen25VL;
using UniPrune.Engine.Pruning;
using UniPrune.Engine.Pruning.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.Qwen25VL;

/// <summary>
/// The real 3B widths (ViT 1280/16 heads of 80, merger 5120, LLM 2048 with GQA 16/2, mrope [16,24,24]) in bfloat16,
/// cut to 2 vision blocks (one windowed, one full), 3 LLM layers and a 4096-row vocabulary, with random weights:
/// a 448×448-sized image (256 tokens) goes through every seam a method can use without a dtype or shape error.
/// </summary>
public class Qwen25VLBf16SmokeTests
{
    private static Qwen25VLModel BuildRandom()
    {
        var json = JsonNode.Parse(File.ReadAllText(Qwen25VLConfigTests.RealConfig("3b")))!.AsObject();
        json["num_hidden_layers"] = 3;   // K = 2 needs a layer 2
        json["vocab_size"] = 4096;
        // Special ids moved into the cut vocabulary (real ids − 150643, as in the golden sets).
        foreach (var key in new[] { "bos_token_id", "eos_token_id", "vision_start_token_id", "vision_end_token_id", "vision_token_id", "image_token_id", "video_token_id" })
            json[key] = json[key]!.GetValue<long>() - 150643 + 3000;
        json["vision_config"]!["depth"] = 2;
        json["vision_config"]!["fullatt_block_indexes"] = new JsonArray(1);
        var config = Qwen25VLConfig.FromJson(JsonConfig.Parse(json.ToJsonString(), "qwen2_5_vl_3b_cut.json"));
        var model = new Qwen25VLModel(config, new ParameterFactory(ScalarType.BFloat16, CPU));
        var generator = new TorchSharp.torch.Generator(20250101);
        using var _ = no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            if (p.dim() == 1) p.fill_(name.EndsWith("bias") ? 0.0 : 1.0);
            else p.normal_(0, 1.0 / Math.Sqrt(p.numel() / p.shape[0]), generator);   // N(0, 1/fan_in): activations stay O(1)
        }
        return model;
    }

    [Fact]
    public void RealWidthsRunEverySeamInBfloat16()
    {
        using var model = BuildRandom();
        var grid = new GridThw(1, 16, 16);   // 256 patches in 4 windows of 8×8 → 64 visual tokens
        using var pixels = randn(grid.Patches, model.Config.Vision.PatchVectorLength, generator: new TorchSharp.torch.Generator(7));
        using var image = model.EncodePixels(pixels, grid, VisionExtras.All);
        Assert.Equal([64, 2048], image.Embeddings.shape);
        Assert.Equal(ScalarType.BFloat16, image.Embeddings.dtype);
        Assert.Equal([64], image.AttentionReceived!.shape);
        // Every query row sums to 1: 256 rows of received attention, averaged per merge unit of 4.
        Assert.Equal(256.0 / 4, image.AttentionReceived.sum().item<float>(), 1);

        var t = model.Config.Tokens;
        long[] prompt = [7, 8, 9, t.VisionStart, .. Enumerable.Repeat(t.ImageToken, 64), t.VisionEnd, 10, 11, 12, 13];
        // vispruner: pre-LLM on the importance and merger outputs; dart: layer-1 keys and the final norm; fastv: a layer-1 attention row.
        foreach (var method in new[] { "vispruner", "dart", "fastv" })
        {
            var hooks = PruningRegistry.CreateHooks(method, new PruningSettings(1.0 / 3));
            using var run = model.RunPrompt(prompt, [image], hooks, 2, new HashSet<long>());
            Assert.True(run.VisualTokensKept is >= 16 and <= 28, $"{method}: kept {run.VisualTokensKept}; records {string.Join("; ", hooks.Records)}; llm input {run.LlmInput.shape[0]}");
            Assert.Equal(2, run.Greedy.Tokens.Length);
            Assert.All(run.Greedy.Tokens, id => Assert.InRange(id, 0, 4095));
            // Decoding continues after the unpruned maximum: 4 text + 8 rows of the 8×8 merged grid + 5 text.
            Assert.Equal(4 + 8 + 5, run.DecodePositions[0]);
        }
    }
}
