using System.Text.Json;
using UniPrune.Engine.Core;
using UniPrune.Engine.Generation;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.Common;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.Common;

/// <summary>
/// The shared decoder on its own, against the language-model half of two golden sets: LLaVA's LLaMA (MHA, no bias,
/// θ 1e4) and InternVL3's Qwen2 (GQA 4/2, q/k/v bias, θ 1e6). Starts from the reference inputs_embeds, so only the
/// decoder, the KV cache, the attention probe and the pruning seam are under test.
/// </summary>
public sealed class CausalDecoderGoldenTests(ITestOutputHelper log)
{
    public static TheoryData<string> Families => new() { "llava", "internvl3" };

    private sealed class Fixture : IDisposable
    {
        public required string Folder { get; init; }
        public required CausalLanguageModel Model { get; init; }
        public required SafetensorsFile Outputs { get; init; }
        public required VisualLayout Layout { get; init; }
        public required int PromptLength { get; init; }
        public void Dispose() { Model.Dispose(); Outputs.Dispose(); }
        public Tensor Out(string name) => Outputs.Read(name);
    }

    private static Fixture Open(string family)
    {
        string folder = TestPaths.Golden(family);
        var root = JsonConfig.Load(Path.Combine(folder, "config.json"));
        var text = family == "llava" ? root.Section("text_config") : root.Section("llm_config");
        int hidden = text.Int("hidden_size"), heads = text.Int("num_attention_heads");
        var config = new DecoderConfig(hidden, text.Int("intermediate_size"), text.Int("num_hidden_layers"), heads,
            text.Int("num_key_value_heads"), hidden / heads, text.Int("vocab_size"), text.Double("rms_norm_eps"),
            text.Double("rope_theta"), AttentionBias: family != "llava", TieWordEmbeddings: false);
        var model = new CausalLanguageModel(config, ParameterFactory.Cpu());
        using (var checkpoint = Checkpoint.Open(folder))
            WeightLoader.Load(model, checkpoint, name => "language_model." + name, key => !key.StartsWith("language_model."));

        long imageToken = family == "llava" ? root.Long("image_token_index") : 1024;
        using var inputs = SafetensorsFile.Open(Path.Combine(folder, "inputs.safetensors"));
        var ids = inputs.Read("input_ids").reshape(-1).data<long>().ToArray();
        var visual = Enumerable.Range(0, ids.Length).Where(i => ids[i] == imageToken).Select(i => (long)i).ToArray();
        var layout = new VisualLayout([new VisualUnit(VisualUnitKind.Image, 0, 0, visual.Length, 1, visual.Length)], visual, ids.Length);
        return new Fixture
        {
            Folder = folder, Model = model, Layout = layout, PromptLength = ids.Length,
            Outputs = SafetensorsFile.Open(Path.Combine(folder, "outputs.safetensors")),
        };
    }

    private static Tensor Arange(long n) => arange(n, dtype: ScalarType.Int64).unsqueeze(0);

    [Theory, MemberData(nameof(Families))]
    public void Prefill_matches_every_reference_stage_and_the_layer2_attention_probe(string family)
    {
        using var f = Open(family);
        using var embeds = f.Out("inputs_embeds");
        using var probe = ReplayHooks.Probe(3, [f.PromptLength - 1]);
        using var trace = new DecoderTrace();
        using var session = new DecoderSession(f.Model);
        var output = session.Prefill(embeds, Arange(f.PromptLength),
            new IntraLlmPruning { Hooks = probe, Layout = f.Layout, PromptEmbeddings = embeds }, logits: LogitsSelection.All, trace: trace);

        for (int layer = 0; layer < 3; layer++)
            GoldenAssert.Close(f.Out($"llm_hidden_after_layer{layer}"), trace.LayerOutputs[layer], $"{family} hidden after layer {layer}", log);
        GoldenAssert.Close(f.Out("llm_hidden_after_last_layer_prenorm"), trace.LayerOutputs[^1], $"{family} last layer", log);
        GoldenAssert.Close(f.Out("llm_final_norm"), trace.FinalNorm!, $"{family} final norm", log);
        GoldenAssert.Close(f.Out("logits"), output.Logits!, $"{family} logits", log);

        Assert.NotNull(probe.CapturedAttention);
        GoldenAssert.Close(f.Out("llm_layer2_attn_last_token_per_head"), probe.CapturedAttention!.squeeze(1), $"{family} layer-2 attention per head", log);
        GoldenAssert.Close(f.Out("llm_layer2_attn_last_token_mean"), probe.CapturedAttention!.squeeze(1).mean([0]), $"{family} layer-2 attention mean", log);
        Assert.Equal(f.PromptLength, session.NextPosition);
    }

    [Theory, MemberData(nameof(Families))]
    public void Greedy_decoding_with_kv_cache_gives_the_reference_tokens_and_step_logits(string family)
    {
        using var f = Open(family);
        using var embeds = f.Out("inputs_embeds");
        using var session = new DecoderSession(f.Model);
        using var run = GreedyDecoder.Run(() => session.Prefill(embeds, Arange(f.PromptLength)).Logits!, session.Step, CPU, 8, new HashSet<long>(), keepStepLogits: true);
        GoldenAssert.Equal(f.Out("generated_token_ids"), run.Tokens, $"{family} tokens");
        GoldenAssert.Close(f.Out("generation_step_logits"), stack(run.StepLogits!.ToArray()), $"{family} step logits", log);
        for (int layer = 0; layer < f.Model.NumLayers; layer++) Assert.Equal(f.PromptLength + 7, session.Cache.Length(layer));
    }

    [Theory, MemberData(nameof(Families))]
    public void Probe_before_layer2_returns_layer1_post_rope_keys_and_attention_as_the_selection_references(string family)
    {
        using var f = Open(family);
        using var embeds = f.Out("inputs_embeds");
        using var probe = ReplayHooks.Probe(2, [f.PromptLength - 1]);
        using var session = new DecoderSession(f.Model);
        session.Prefill(embeds, Arange(f.PromptLength), new IntraLlmPruning { Hooks = probe, Layout = f.Layout, PromptEmbeddings = embeds });
        using var selection = SafetensorsFile.Open(Path.Combine(f.Folder, "selection", "selection_inputs.safetensors"));
        GoldenAssert.Close(selection.Read("llm_layer1_key_states_post_rope"), probe.CapturedKeys!, $"{family} layer-1 keys", log);
        GoldenAssert.Close(selection.Read("llm_layer1_attn_last_token_per_head"), probe.CapturedAttention!.squeeze(1), $"{family} layer-1 attention", log);
    }

    private sealed class AppendAndTrimHooks(Tensor appended) : IPruningHooks
    {
        public int[]? CacheLengthsSeen;
        public PreLlmDecision? OnVisualTokens(PreLlmContext context) => null;
        public LayerProbe? ProbeBeforeLayer(int layerK, int numLayers) => layerK == 2 ? new LayerProbe([]) : null;
        public LayerDecision? OnLayerInput(LayerContext context) =>
            new([0, 1], PositionPolicy.Renumber, AppendedVisual: appended);
        public KvCacheTrim? AfterPrefill(IReadOnlyList<int> cachedRowsPerLayer)
        {
            CacheLengthsSeen = cachedRowsPerLayer.ToArray();
            return new KvCacheTrim(new Dictionary<int, long[]> { [0] = [0, 1, 2] });
        }
    }

    [Fact]
    public void Appended_visual_tokens_join_the_reduced_sequence_and_a_cache_trim_shortens_only_its_layer()
    {
        using var f = Open("llava");
        using var embeds = f.Out("inputs_embeds");
        using var appended = embeds.narrow(0, f.Layout.FirstSequenceIndex + 2, 3).clone();   // 3 stand-in merged tokens
        var hooks = new AppendAndTrimHooks(appended);
        using var trace = new DecoderTrace();
        using var session = new DecoderSession(f.Model);
        var output = session.Prefill(embeds, Arange(f.PromptLength), new IntraLlmPruning { Hooks = hooks, Layout = f.Layout, PromptEmbeddings = embeds }, trace: trace);
        int reduced = f.PromptLength - f.Layout.Count + 2 + 3;
        Assert.Equal(reduced, output.SequenceLength);
        Assert.Equal(5, output.Layout!.Count);
        Assert.Equal(reduced, session.NextPosition);   // renumbered: the reduced length
        Assert.NotNull(hooks.CacheLengthsSeen);
        Assert.Equal([f.PromptLength, f.PromptLength, reduced, reduced], hooks.CacheLengthsSeen);
        Assert.Equal(3, session.Cache.Length(0));
        Assert.Equal(f.PromptLength, session.Cache.Length(1));
        Assert.Equal(reduced, session.Cache.Length(2));
        Assert.Equal(reduced, trace.LayerOutputs[2].shape[0]);
    }

    public static TheoryData<string, string> PruningReferences()
    {
        var data = new TheoryData<string, string>();
        foreach (var family in new[] { "llava", "internvl3" })
            foreach (var json in Directory.GetFiles(Path.Combine(TestPaths.Golden(family), "pruning"), "*_keep*.json").Order())
                data.Add(family, Path.GetFileNameWithoutExtension(json));
        return data;
    }

    [Theory, MemberData(nameof(PruningReferences))]
    public void Replayed_keep_sets_reproduce_the_pruned_reference_runs(string family, string reference)
    {
        using var f = Open(family);
        string stem = Path.Combine(f.Folder, "pruning", reference);
        using var json = JsonDocument.Parse(File.ReadAllText(stem + ".json"));
        var keep = json.RootElement.GetProperty("keep_visual_indices").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        using var expected = SafetensorsFile.Open(stem + ".safetensors");
        using var embeds = f.Out("inputs_embeds");
        using var trace = new DecoderTrace();
        using var session = new DecoderSession(f.Model);
        bool preLlm = reference.StartsWith("pre_llm");
        using var hooks = ReplayHooks.IntraLlm(2, keep);

        Func<Tensor> prefill;
        if (preLlm)
        {
            var plan = SequencePlan.Build(f.Layout, f.PromptLength, keep);
            var prunedEmbeds = plan.GatherRows(embeds, f.Layout, keep, null);
            var positions = plan.Positions(Arange(f.PromptLength), PositionPolicy.Renumber);
            GoldenAssert.Close(expected.Read("inputs_embeds"), prunedEmbeds, $"{reference} gathered embeddings", log);
            GoldenAssert.Equal(expected.Read("position_ids"), positions.reshape(-1).data<long>().ToArray(), $"{reference} positions");
            prefill = () => session.Prefill(prunedEmbeds, positions, trace: trace).Logits!;
        }
        else
            prefill = () => session.Prefill(embeds, Arange(f.PromptLength),
                new IntraLlmPruning { Hooks = hooks, Layout = f.Layout, PromptEmbeddings = embeds }, trace: trace).Logits!;

        var decodePositions = new List<long>();
        using var run = GreedyDecoder.Run(prefill, token => { decodePositions.Add(session.NextPosition); return session.Step(token); },
            CPU, 8, new HashSet<long>(), keepStepLogits: true);
        decodePositions.Add(session.NextPosition);

        GoldenAssert.Close(expected.Read("logits_last"), run.StepLogits![0], $"{reference} logits_last", log);
        GoldenAssert.Equal(expected.Read("generated_token_ids"), run.Tokens, $"{reference} tokens");
        GoldenAssert.Close(expected.Read("generation_step_logits"), stack(run.StepLogits!.ToArray()), $"{reference} step logits", log);
        GoldenAssert.Equal(expected.Read("decode_position_ids"), decodePositions, $"{reference} decode positions");
        GoldenAssert.Close(expected.Read("llm_hidden_after_layer2"), trace.LayerOutputs[2], $"{reference} hidden after layer 2", log);
        GoldenAssert.Close(expected.Read("llm_final_norm"), trace.FinalNorm!, $"{reference} final norm", log);

        long kept = expected.Read("keep_sequence_indices").shape[0];
        for (int layer = 0; layer < f.Model.NumLayers; layer++)
        {
            long prompt = preLlm || layer < 2 ? (preLlm ? kept : f.PromptLength) : kept;
            Assert.Equal(prompt + 7, session.Cache.Length(layer));
        }
        if (!preLlm) Assert.Equal(1, hooks.LayerCalls);
    }
}
