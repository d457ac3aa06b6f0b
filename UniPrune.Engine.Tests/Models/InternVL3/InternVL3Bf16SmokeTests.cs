using System.Text.Json.Nodes;
using UniPrune.Engine.Core;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.Common;
using UniPrune.Engine.Models.InternVL3;
using UniPrune.Engine.Pruning;
using UniPrune.Engine.Pruning.Abstractions;
using UniPrune.Engine.Tests.Models.Common;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.InternVL3;

/// <summary>bfloat16 runs: the golden model against its float32 reference, and the real 1B widths at a real 448-pixel tile.</summary>
public class InternVL3Bf16SmokeTests(ITestOutputHelper log)
{
    [Fact]
    public void GoldenModelInBfloat16StaysCloseToTheFloat32Reference()
    {
        string dir = TestPaths.Golden("internvl3");
        using var model = InternVL3Model.Load(dir, ScalarType.BFloat16, CPU);
        using var inputs = SafetensorsFile.Open(Path.Combine(dir, "inputs.safetensors"));
        using var outputs = SafetensorsFile.Open(Path.Combine(dir, "outputs.safetensors"));
        using var image = model.EncodePixels(inputs.Read("pixel_values"), new InternVLImageTiles(2, HasThumbnail: true), VisionExtras.All);
        using var run = model.RunPrompt(inputs.Read("input_ids").reshape(-1).data<long>().ToArray(), [image], null, 1, new HashSet<long>());
        var expected = outputs.Read("logits")[-1];
        double diff = (run.Prefill.Logits!.to_type(ScalarType.Float32) - expected).abs().max().item<float>();
        double scale = expected.abs().max().item<float>();
        log.WriteLine($"bf16 last-row logits: max |diff| {diff:E2} (logits up to {scale:F2})");
        // bf16 keeps 8 mantissa bits; through 4 ViT and 4 LLM layers a few percent of the logit range is expected.
        Assert.True(diff < 0.1 * scale, $"bf16 logits differ by {diff} (scale {scale})");
    }

    [Fact]
    public void RealOneBWidthsAtA448TileRunEverySeamInBfloat16()
    {
        // InternVL3-1B's widths (ViT 1024/16 heads, mlp1 4096→896, LLM 896 with GQA 14/2) cut to 2 ViT layers,
        // 3 LLM layers and 4096 vocabulary rows, random weights: one real 448×448 tile = 32×32 patches → 256 tokens.
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "UniPrune.Engine.Tests", "Models", "InternVL3", "Configs", "InternVL3-1B.config.json")))!.AsObject();
        json["vision_config"]!["num_hidden_layers"] = 2;
        json["llm_config"]!["num_hidden_layers"] = 3;
        json["llm_config"]!["vocab_size"] = 4096;
        var config = InternVL3Config.Read(JsonConfig.Parse(json.ToJsonString(), "internvl3_1b_cut.json"));
        using var model = new InternVL3Model(config, new ParameterFactory(ScalarType.BFloat16, CPU));
        var generator = new TorchSharp.torch.Generator(20250101);
        using (no_grad())
            foreach (var (name, p) in model.named_parameters())
            {
                if (p.dim() == 1) p.fill_(name.EndsWith("bias") ? 0.0 : name.EndsWith("ls1") || name.EndsWith("ls2") ? 0.1 : 1.0);
                else p.normal_(0, 1.0 / Math.Sqrt(p.numel() / p.shape[0]), generator);   // N(0, 1/fan_in)
            }

        using var scope = NewDisposeScope();
        using var image = model.EncodePixels(randn(1, 3, 448, 448, generator: generator), new InternVLImageTiles(1, HasThumbnail: false));
        Assert.Equal(new long[] { 256, 896 }, image.Embeddings.shape);
        Assert.Equal(new long[] { 256, 4096 }, image.FeaturesBeforeProjector!.shape);
        Assert.Equal(new long[] { 256 }, image.ClsAttention!.shape);
        Assert.Equal(1.0, image.ClsAttention.to_type(ScalarType.Float32).sum().item<float>(), 2);   // pooled CLS row: sums to 1 minus CLS→CLS

        // Ids: 10 text ids, 256 <IMG_CONTEXT> (id 4000 in the cut vocabulary), 10 text ids.
        var ids = Enumerable.Range(1, 10).Select(i => (long)i).Concat(Enumerable.Repeat(4000L, 256)).Concat(Enumerable.Range(20, 10).Select(i => (long)i)).ToArray();
        model.UseSpecialTokens(new InternVL3SpecialTokens(4000, 3998, 3999, 3000));
        foreach (var method in new[] { "vispruner", "fastv", "divprune" })
        {
            var hooks = PruningRegistry.CreateHooks(method, new PruningSettings(1.0 / 9));
            using var run = model.RunPrompt(ids, [image], hooks, 3, new HashSet<long>());
            log.WriteLine($"{method}: {run.VisualTokens} → {run.VisualTokensKept}");
            Assert.Equal(28, run.VisualTokensKept);   // round(256/9)
            Assert.Equal(3, run.Greedy.Tokens.Length);
        }
    }
}
