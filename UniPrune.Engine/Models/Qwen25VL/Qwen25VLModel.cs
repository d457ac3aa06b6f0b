using System.Diagnostics;
using UniPrune.Engine.Core;
using UniPrune.Engine.Generation;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.Common;
using static TorchSharp.torch;

namespace UniPrune.Engine.Models.Qwen25VL;

// Qwen2.5-VL end to end, read top to bottom: vision tower → splice the merger outputs into the placeholder rows →
// 3-row M-RoPE ids on the full prompt → pre-LLM seam (gather rows and their original 3-D ids) → the shared causal
// decoder with the intra-LLM seam → greedy decoding from an explicit next position (methods.md §1.4, P-QWEN).

/// <summary>M-RoPE (models.md §2.6) for the shared decoder: position ids are (3, L) rows t, h, w.</summary>
public sealed class MropeRotaryEmbedding : IRotaryEmbedding
{
    private readonly Tensor _inverseFrequencies;   // (head_dim/2) float32
    private readonly int[] _section;

    public int PositionRows => 3;
    public int HeadDim { get; }

    public MropeRotaryEmbedding(int headDim, double theta, IReadOnlyList<int> mropeSection)
    {
        if (mropeSection.Count != 3 || mropeSection.Sum() * 2 != headDim)
            throw new ArgumentException($"mrope_section [{string.Join(",", mropeSection)}] must be 3 integers summing to head_dim/2 = {headDim / 2}");
        HeadDim = headDim;
        _section = [.. mropeSection];
        _inverseFrequencies = RotaryEmbedding.InverseFrequencies(headDim, theta);
    }

    /// <summary>
    /// Frequency slot j takes its angle from stream t, h or w by mrope_section ([16,24,24]: slots 0–15 from t, 16–39
    /// from h, 40–63 from w); the half table is duplicated (rotate-half). float32, cast to <paramref name="dtype"/>
    /// before the rotation, as the reference does.
    /// </summary>
    public (Tensor Cos, Tensor Sin) CosSin(Tensor positionIds, ScalarType dtype)
    {
        if (positionIds.dim() != 2 || positionIds.shape[0] != 3)
            throw new ArgumentException($"M-RoPE expects position ids of shape (3, L); got [{string.Join(", ", positionIds.shape)}]");
        using var scope = NewDisposeScope();
        var inv = _inverseFrequencies.to(positionIds.device);
        var angles = positionIds.to_type(ScalarType.Float32).unsqueeze(-1) * inv;   // (3, L, head_dim/2)
        var pieces = new Tensor[3];
        long slot = 0;
        for (int stream = 0; stream < 3; stream++)
        {
            pieces[stream] = angles[stream].narrow(-1, slot, _section[stream]);
            slot += _section[stream];
        }
        var half = cat(pieces, -1);
        var table = cat([half, half], -1);
        return (table.cos().to_type(dtype).MoveToOuterDisposeScope(), table.sin().to_type(dtype).MoveToOuterDisposeScope());
    }
}

/// <summary>One request's model input: token ids with every image's placeholders expanded, and its patch rows.</summary>
public sealed class Qwen25VLInput
{
    public required long[] InputIds { get; init; }
    /// <summary>(Σ patches, C·T·P·P) rows of all images in prompt order; null for a text-only prompt.</summary>
    public Tensor? PixelValues { get; init; }
    public IReadOnlyList<GridThw> Grids { get; init; } = [];
}

/// <summary>Every intermediate stage of one run (golden parity tests); tensors are copies owned by the trace.</summary>
public sealed class Qwen25VLTrace : IDisposable
{
    public VisionTrace Vision { get; } = new();
    public Tensor? ImageEmbeds { get; internal set; }
    /// <summary>LLM input before any pre-LLM drop (L, H).</summary>
    public Tensor? InputsEmbeds { get; internal set; }
    public MropePositions? Positions { get; internal set; }
    /// <summary>What entered layer 0 after the pre-LLM seam: rows (L', H) and their 3-D ids (3, L').</summary>
    public Tensor? LlmInputsEmbeds { get; internal set; }
    public Tensor? LlmPositionIds { get; internal set; }
    /// <summary>Residual stream after every layer and the final norm, over the rows each layer processed.</summary>
    public DecoderTrace Decoder { get; } = new();
    /// <summary>float32 logits at every row that reached the head (L', V).</summary>
    public Tensor? PromptLogits { get; internal set; }

    public void Dispose()
    {
        Vision.Dispose();
        ImageEmbeds?.Dispose();
        InputsEmbeds?.Dispose();
        LlmInputsEmbeds?.Dispose();
        LlmPositionIds?.Dispose();
        Decoder.Dispose();
        PromptLogits?.Dispose();
    }
}

/// <summary>What one greedy run produced, with token counts and stage times (milliseconds).</summary>
public sealed record Qwen25VLGeneration(
    GreedyRun Run,
    int PromptTokens,
    int VisualTokens,
    int VisualTokensKept,
    long FirstDecodePosition,
    double VisionMs,
    double HookMs) : IDisposable
{
    public void Dispose() => Run.Dispose();
}

/// <summary>
/// Qwen2.5-VL-3B/7B-Instruct. Parameters are named as the hub files name them: <c>visual.*</c> for the vision tower,
/// <c>language.model.*</c> / <c>language.lm_head.weight</c> for <c>model.*</c> / <c>lm_head.weight</c> (the 3B ties
/// lm_head to embed_tokens and has no such tensor).
/// </summary>
public sealed class Qwen25VLModel : nn.Module
{
    private readonly Qwen25VisionTower visual;
    private readonly CausalLanguageModel language;
    private readonly MropeRotaryEmbedding _rotary;

    public Qwen25VLConfig Config { get; }
    public ScalarType DType { get; }
    public Device Device { get; }
    public Qwen25VisionTower Vision => visual;
    public CausalLanguageModel Language => language;

    /// <summary>Builds the model with uninitialised parameters (the meta device builds a shape-only skeleton).</summary>
    public Qwen25VLModel(Qwen25VLConfig config, ParameterFactory factory) : base(nameof(Qwen25VLModel))
    {
        Config = config; DType = factory.DType; Device = factory.Device;
        visual = new Qwen25VisionTower(config.Vision, factory);
        language = new CausalLanguageModel(DecoderConfigOf(config.Text), factory);
        _rotary = new MropeRotaryEmbedding(config.Text.HeadDim, config.Text.RopeTheta, config.Text.MropeSection);
        RegisterComponents();
    }

    public static DecoderConfig DecoderConfigOf(Qwen25VLTextConfig t) => new(
        HiddenSize: t.HiddenSize, IntermediateSize: t.IntermediateSize, NumLayers: t.NumLayers, NumHeads: t.NumHeads,
        NumKvHeads: t.NumKeyValueHeads, HeadDim: t.HeadDim, VocabSize: t.VocabSize, RmsNormEps: t.RmsNormEps,
        RopeTheta: t.RopeTheta, AttentionBias: true, TieWordEmbeddings: t.TieWordEmbeddings, HiddenAct: Activation.Silu);

    /// <summary>
    /// Loads a checkpoint folder (config.json + model.safetensors or a sharded index) strictly: every parameter must
    /// be present with its shape and every tensor must be used (rotary inv_freq buffers and, for tied models, a
    /// redundant lm_head are tolerated). Old and new transformers names are both accepted.
    /// </summary>
    public static Qwen25VLModel Load(string folder, ScalarType dtype, Device? device = null)
    {
        var config = Qwen25VLConfig.Load(Path.Combine(folder, "config.json"));
        using var checkpoint = Checkpoint.Open(folder);
        var model = new Qwen25VLModel(config, new ParameterFactory(dtype, device ?? CPU));
        try { model.LoadWeights(checkpoint); }
        catch { model.Dispose(); throw; }
        return model;
    }

    public void LoadWeights(Checkpoint checkpoint)
    {
        var index = Qwen25VLCheckpointKeys.Index(checkpoint);
        var tiedHead = Config.Text.TieWordEmbeddings ? index.GetValueOrDefault(Qwen25VLCheckpointKeys.LmHead) : null;
        WeightLoader.Load(this, checkpoint,
            name => index.TryGetValue(HubName(name), out var key) ? key : HubName(name),
            key => Qwen25VLCheckpointKeys.IsIgnorable(key) || key == tiedHead);
    }

    /// <summary>This module's parameter name → the hub file's tensor name.</summary>
    public static string HubName(string parameterName) =>
        parameterName.StartsWith("language.", StringComparison.Ordinal) ? parameterName["language.".Length..] : parameterName;

    /// <summary>Every parameter by hub name with its shape, in registration order (meta-device shape approvals).</summary>
    public IEnumerable<(string Name, long[] Shape)> ParameterShapes() =>
        named_parameters().Select(p => (HubName(p.name), p.parameter.shape));

    /// <summary>
    /// Runs one request: vision tower, splice, pruning seams (when <paramref name="hooks"/> is given), prefill and
    /// greedy decoding with a KV cache. Stops after <paramref name="maxNewTokens"/> or at a stop token.
    /// </summary>
    public Qwen25VLGeneration Generate(Qwen25VLInput input, int maxNewTokens, IPruningHooks? hooks = null,
        IReadOnlySet<long>? stopTokens = null, bool keepStepLogits = false, Qwen25VLTrace? trace = null)
    {
        using var _ = inference_mode();
        using var scope = NewDisposeScope();
        var tokens = Config.Tokens;
        var ids = input.InputIds;
        int length = ids.Length;

        // Vision tower and splice: placeholder rows, in order, take the merger outputs.
        var clock = Stopwatch.StartNew();
        using var vision = input.Grids.Count == 0 ? null
            : visual.Forward(input.PixelValues ?? throw new ArgumentException("image grids were given without pixel_values"),
                input.Grids, withImportance: hooks is not null, trace?.Vision);
        GreedyDecoder.Synchronize(Device);
        double visionMs = clock.Elapsed.TotalMilliseconds;

        var positions = MropePositions.Compute(ids, input.Grids, Config.Vision.SpatialMergeSize, tokens.ImageToken, tokens.VideoToken);
        var layout = VisualLayoutOf(ids, input.Grids);
        var embeds = language.Embed(tensor(ids, dtype: ScalarType.Int64));
        if (vision is not null)
        {
            var rows = tensor(layout.SequenceIndices.ToArray(), dtype: ScalarType.Int64, device: Device);
            embeds = embeds.index_copy(0, rows, vision.ImageEmbeds.to(DType, Device));
        }
        var positionIds = tensor(positions.Rows.SelectMany(r => r).ToArray(), [3, length], dtype: ScalarType.Int64, device: Device);
        if (trace is not null)
        {
            trace.ImageEmbeds = vision is null ? null : VisionTrace.Keep(vision.ImageEmbeds);
            trace.InputsEmbeds = VisionTrace.Keep(embeds);
            trace.Positions = positions;
        }

        // Pre-LLM seam: kept rows keep their original 3-D ids; decoding continues after the unpruned maximum (P-QWEN).
        var llmEmbeds = embeds;
        var llmPositions = positionIds;
        var llmLayout = layout;
        double hookMs = 0;
        if (hooks is not null && vision is not null)
        {
            var context = new PreLlmContext
            {
                Vision = new VisionEvidence
                {
                    Embeddings = vision.ImageEmbeds.to(DType, Device),
                    FeaturesBeforeProjector = vision.FeaturesBeforeMerger,
                    AttentionReceived = vision.AttentionReceived,
                    Layout = layout,
                    Tower = VisionTowerKind.QwenWindowedNoCls,
                    Project = visual.ProjectUnits,
                },
                TextEmbeddings = embeds.index_select(0, tensor(TextRows(layout, length), dtype: ScalarType.Int64, device: Device)),
                TextAfterImage = SequencePlan.TextAfterLastVisual(layout, length),
            };
            var hookClock = Stopwatch.StartNew();
            var decision = hooks.OnVisualTokens(context);
            hookMs += hookClock.Elapsed.TotalMilliseconds;
            if (decision is not null)
            {
                var plan = SequencePlan.Build(layout, length, decision.Kept, decision.ExtraTokens);
                llmEmbeds = plan.GatherRows(embeds, layout, decision.Kept, decision.Embeddings);
                llmPositions = plan.Positions(positionIds, decision.Positions);   // (3, L'): always gathered
                llmLayout = plan.Layout;
            }
        }

        if (trace is not null)
        {
            trace.LlmInputsEmbeds = VisionTrace.Keep(llmEmbeds);
            trace.LlmPositionIds = VisionTrace.Keep(llmPositions);
        }

        using var session = new DecoderSession(language, _rotary);
        var pruning = hooks is null ? null : new IntraLlmPruning { Hooks = hooks, Layout = llmLayout, PromptEmbeddings = embeds };
        var run = GreedyDecoder.Run(
            prefill: () =>
            {
                var output = session.Prefill(llmEmbeds, llmPositions, pruning, positions.NextPosition,
                    trace is null ? LogitsSelection.Last : LogitsSelection.All, trace?.Decoder);
                hookMs += output.HookMilliseconds;
                if (trace is null) return output.Logits!;
                trace.PromptLogits = VisionTrace.Keep(output.Logits!);
                return output.Logits![-1].clone();
            },
            step: session.Step,
            device: Device, maxNewTokens: maxNewTokens, stopTokenIds: stopTokens ?? new HashSet<long>(tokens.StopTokens), keepStepLogits: keepStepLogits);

        int kept = session.PrefillOutput?.Layout?.Count ?? llmLayout.Count;
        return new Qwen25VLGeneration(run, length, layout.Count, kept, positions.NextPosition, visionMs, hookMs);
    }

    /// <summary>The visual tokens of a prompt: one unit per image (its merged grid), found as runs of the image placeholder.</summary>
    public VisualLayout VisualLayoutOf(IReadOnlyList<long> ids, IReadOnlyList<GridThw> grids)
    {
        long image = Config.Tokens.ImageToken;
        int merge = Config.Vision.SpatialMergeSize;
        var rows = new List<long>();
        for (int i = 0; i < ids.Count; i++) if (ids[i] == image) rows.Add(i);
        var units = new List<VisualUnit>();
        int offset = 0;
        for (int g = 0; g < grids.Count; g++)
        {
            int count = grids[g].MergedTokens(merge);
            units.Add(new VisualUnit(VisualUnitKind.Image, g, offset, count, grids[g].H / merge, grids[g].W / merge));
            offset += count;
        }
        if (offset != rows.Count)
            throw new ArgumentException($"the prompt holds {rows.Count} image placeholders ({image}) but the {grids.Count} images need {offset}");
        return new VisualLayout(units, rows, ids.Count);
    }

    private static long[] TextRows(VisualLayout layout, int length)
    {
        var visual = new HashSet<long>(layout.SequenceIndices);
        return Enumerable.Range(0, length).Select(i => (long)i).Where(i => !visual.Contains(i)).ToArray();
    }
}
