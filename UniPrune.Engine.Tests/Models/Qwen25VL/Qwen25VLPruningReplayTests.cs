using System.Text.Json;
using UniPrune.Engine.Core;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.Qwen25VL;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.Qwen25VL;

/// <summary>
/// The golden pruning/ references: the reference decoder run with a fixed keep set, pre-LLM (rows and their original
/// 3-D ids gathered before layer 0) and intra-LLM at K = 2, then 8 greedy tokens from L + rope_deltas (P-QWEN).
/// One case per JSON file in the folder.
/// </summary>
public class Qwen25VLPruningReplayTests(ITestOutputHelper log)
{
    private static string PruningFolder => Path.Combine(TestPaths.Golden("qwen2_5_vl"), "pruning");

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.EnumerateFiles(PruningFolder, "*.json").Order(StringComparer.Ordinal))
            if (!Path.GetFileName(file).StartsWith('_')) data.Add(Path.GetFileNameWithoutExtension(file));
        return data;
    }

    /// <summary>Replays a recorded keep set at one seam; never scores anything.</summary>
    private sealed class ReplayHooks(long[] keepVisual, int? intraLayer) : IPruningHooks
    {
        public PreLlmDecision? OnVisualTokens(PreLlmContext context) =>
            intraLayer is null ? new PreLlmDecision(keepVisual, Positions: PositionPolicy.KeepOriginal) : null;

        public LayerProbe? ProbeBeforeLayer(int layerK, int numLayers) => layerK == intraLayer ? new LayerProbe([]) : null;

        public LayerDecision? OnLayerInput(LayerContext context) =>
            context.Layer == intraLayer ? new LayerDecision(keepVisual, PositionPolicy.KeepOriginal) : null;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ReplayedKeepSetMatchesTheReference(string name)
    {
        using var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(PruningFolder, name + ".json")));
        string kind = meta.RootElement.GetProperty("kind").GetString()!;
        int? intraLayer = kind switch { "pre_llm" => null, "intra_llm" => meta.RootElement.GetProperty("K").GetInt32(), _ => throw new InvalidDataException($"{name}.json: unknown kind '{kind}'") };
        using var reference = SafetensorsFile.Open(Path.Combine(PruningFolder, name + ".safetensors"));
        using var golden = new Qwen25VLGolden();
        using var model = Qwen25VLModel.Load(golden.Folder, ScalarType.Float32);
        using var ids = golden.Inputs.Read("input_ids");
        using var pixels = golden.Inputs.Read("pixel_values");
        using var keepVisual = reference.Read("keep_visual_indices");
        using var keepRows = reference.Read("keep_sequence_indices");
        using var trace = new Qwen25VLTrace();
        var input = new Qwen25VLInput { InputIds = ids.data<long>().ToArray(), PixelValues = pixels, Grids = golden.Grids() };

        using var result = model.Generate(input, maxNewTokens: 8, new ReplayHooks(keepVisual.data<long>().ToArray(), intraLayer),
            stopTokens: new HashSet<long>(), keepStepLogits: true, trace: trace);

        var rows = keepRows.data<long>().ToArray();
        int keptLength = rows.Length;
        if (intraLayer is null)
        {
            Check("inputs_embeds", trace.LlmInputsEmbeds!);
            using (var expected = reference.Read("position_ids")) Assert.Equal(expected.data<long>().ToArray(), trace.LlmPositionIds!.data<long>().ToArray());
            for (int layer = 0; layer < 3; layer++) Check($"llm_hidden_after_layer{layer}", trace.Decoder.LayerOutputs[layer]);
        }
        else
        {
            // Layers below K ran on the whole prompt; the reference states they equal the unpruned outputs bit for bit.
            for (int layer = 0; layer < intraLayer; layer++) Assert.Equal(73, trace.Decoder.LayerOutputs[layer].shape[0]);
            using (var expected = reference.Read("position_ids_from_layer2"))
                Assert.Equal(expected.data<long>().ToArray(), trace.Positions!.Gather(rows).SelectMany(r => r).ToArray());
            Check("llm_hidden_after_layer2", trace.Decoder.LayerOutputs[2]);
        }
        Assert.Equal(keptLength, trace.Decoder.LayerOutputs[^1].shape[0]);
        Check("llm_hidden_after_last_layer_prenorm", trace.Decoder.LayerOutputs[^1]);
        Check("llm_final_norm", trace.Decoder.FinalNorm!);
        using (var last = trace.PromptLogits![-1]) Check("logits_last", last);
        using (var stepLogits = stack(result.Run.StepLogits!)) Check("generation_step_logits", stepLogits);
        using (var expected = reference.Read("generated_token_ids")) Assert.Equal(expected.data<long>().ToArray(), result.Run.Tokens);
        using (var decode = reference.Read("decode_position_ids")) Assert.Equal(decode.data<long>()[0], result.FirstDecodePosition);
        Assert.Equal(keepVisual.shape[0], result.VisualTokensKept);

        void Check(string tensorName, Tensor actual)
        {
            using var expected = reference.Read(tensorName);
            Qwen25VLGolden.AssertClose(expected, actual, $"{name}/{tensorName}", log);
        }
    }
}
