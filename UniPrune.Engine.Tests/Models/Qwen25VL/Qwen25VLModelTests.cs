using UniPrune.Engine.Models.Qwen25VL;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.Qwen25VL;

/// <summary>The whole model against transformers 4.50 on the golden folder: LLM input, M-RoPE ids, every layer, logits, 8 greedy tokens.</summary>
public class Qwen25VLModelTests(ITestOutputHelper log)
{
    [Fact]
    public void EveryLanguageStageAndEightGreedyTokensMatchTheReference()
    {
        using var golden = new Qwen25VLGolden();
        using var model = Qwen25VLModel.Load(golden.Folder, ScalarType.Float32);
        using var ids = golden.Inputs.Read("input_ids");
        using var pixels = golden.Inputs.Read("pixel_values");
        using var trace = new Qwen25VLTrace();
        var input = new Qwen25VLInput { InputIds = ids.data<long>().ToArray(), PixelValues = pixels, Grids = golden.Grids() };

        using var result = model.Generate(input, maxNewTokens: 8, stopTokens: new HashSet<long>(), keepStepLogits: true, trace: trace);

        Check("image_embeds", trace.ImageEmbeds!);
        Check("inputs_embeds", trace.InputsEmbeds!);
        using (var expected = golden.Inputs.Read("position_ids"))
            Assert.Equal(expected.data<long>().ToArray(), trace.Positions!.Rows.SelectMany(r => r).ToArray());
        using (var delta = golden.Inputs.Read("rope_deltas")) Assert.Equal(delta.item<long>(), trace.Positions!.RopeDelta);
        for (int layer = 0; layer < 3; layer++) Check($"llm_hidden_after_layer{layer}", trace.Decoder.LayerOutputs[layer]);
        Check("llm_hidden_after_last_layer_prenorm", trace.Decoder.LayerOutputs[^1]);
        Check("llm_final_norm", trace.Decoder.FinalNorm!);
        Check("logits", trace.PromptLogits!);

        using var generated = golden.Outputs.Read("generated_token_ids");
        Assert.Equal(generated.data<long>().ToArray(), result.Run.Tokens);
        using (var stepLogits = stack(result.Run.StepLogits!)) Check("generation_step_logits", stepLogits);
        using (var decode = golden.Inputs.Read("decode_position_ids"))
            Assert.Equal(decode.data<long>()[0], result.FirstDecodePosition);

        void Check(string name, Tensor actual)
        {
            using var expected = golden.Outputs.Contains(name) ? golden.Outputs.Read(name) : golden.Inputs.Read(name);
            Qwen25VLGolden.AssertClose(expected, actual, name, log);
        }
    }
}
