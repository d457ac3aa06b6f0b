using System.Diagnostics;
using TorchSharp;
using UniPrune.Engine.Models.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Models.Common;

/// <summary>Sizes and switches of a LLaMA/Qwen2-style causal decoder (read by each family from its own config.json).</summary>
public sealed record DecoderConfig(
    int HiddenSize,
    int IntermediateSize,
    int NumLayers,
    int NumHeads,
    int NumKvHeads,
    int HeadDim,
    int VocabSize,
    double RmsNormEps,
    double RopeTheta,
    bool AttentionBias,
    bool TieWordEmbeddings,
    Activation HiddenAct = Activation.Silu);

/// <param name="Hidden">(B, L, hidden) residual stream entering the layer.</param>
/// <param name="Keep">Training only: a boolean (B, 1, L, L) attention mask replacing the causal one (packed sequences).</param>
public sealed record DecoderLayerInput(Tensor Hidden, Tensor Cos, Tensor Sin, KvCache? Cache, int Layer, AttentionCapture? Capture = null, Tensor? Keep = null);

/// <param name="Hidden">(B, L, hidden) residual stream after the layer.</param>
/// <param name="Probabilities">(B, heads, rows, Lk) float32 when the capture asked for rows.</param>
/// <param name="Keys">(Lk, kv_heads·head_dim) post-RoPE keys when asked.</param>
public sealed record DecoderLayerOutput(Tensor Hidden, Tensor? Probabilities, Tensor? Keys);

/// <summary>Pre-norm decoder layer: h = x + o(Attn(RMSNorm₁ x)); y = h + MLP(RMSNorm₂ h).</summary>
public sealed class DecoderLayer : nn.Module<DecoderLayerInput, DecoderLayerOutput>
{
    private readonly RmsNorm input_layernorm;
    private readonly DecoderAttention self_attn;
    private readonly RmsNorm post_attention_layernorm;
    private readonly GatedMlp mlp;

    public DecoderLayer(DecoderConfig c, ParameterFactory factory) : base(nameof(DecoderLayer))
    {
        input_layernorm = new RmsNorm(c.HiddenSize, c.RmsNormEps, factory);
        self_attn = new DecoderAttention(c.HiddenSize, c.NumHeads, c.NumKvHeads, c.HeadDim, c.AttentionBias, factory);
        post_attention_layernorm = new RmsNorm(c.HiddenSize, c.RmsNormEps, factory);
        mlp = new GatedMlp(c.HiddenSize, c.IntermediateSize, c.HiddenAct, hasBias: false, factory);
        RegisterComponents();
    }

    public override DecoderLayerOutput forward(DecoderLayerInput input)
    {
        using var scope = NewDisposeScope();
        var attention = self_attn.forward(new AttentionInput(input_layernorm.forward(input.Hidden), input.Cos, input.Sin, input.Cache, input.Layer, input.Capture, input.Keep));
        var h = input.Hidden.Plus(attention.Hidden);
        var y = h.Plus(mlp.forward(post_attention_layernorm.forward(h)));
        return new DecoderLayerOutput(y.MoveToOuterDisposeScope(), attention.Probabilities?.MoveToOuterDisposeScope(), attention.Keys?.MoveToOuterDisposeScope());
    }
}

/// <summary>The checkpoint's "model." part: token embeddings, the layer stack and the final norm.</summary>
public sealed class DecoderBody : nn.Module
{
    internal readonly Embedding embed_tokens;
    internal readonly TorchSharp.Modules.ModuleList<DecoderLayer> layers;
    internal readonly RmsNorm norm;

    public DecoderBody(DecoderConfig c, ParameterFactory factory) : base(nameof(DecoderBody))
    {
        embed_tokens = new Embedding(c.VocabSize, c.HiddenSize, factory);
        layers = new TorchSharp.Modules.ModuleList<DecoderLayer>(Enumerable.Range(0, c.NumLayers).Select(_ => new DecoderLayer(c, factory)).ToArray());
        norm = new RmsNorm(c.HiddenSize, c.RmsNormEps, factory);
        RegisterComponents();
    }
}

/// <summary>Which prompt positions get logits (the harness needs only the last; parity tests want all).</summary>
public enum LogitsSelection { None, Last, All }

/// <summary>What intra-LLM pruning needs from the caller besides the hooks.</summary>
public sealed class IntraLlmPruning
{
    public required IPruningHooks Hooks { get; init; }
    /// <summary>Visual tokens in the sequence entering layer 0.</summary>
    public required VisualLayout Layout { get; init; }
    /// <summary>Input embeddings of the full original prompt (L0, H).</summary>
    public required Tensor PromptEmbeddings { get; init; }
}

/// <summary>Copies of intermediate states, for parity tests only (costs memory).</summary>
public sealed class DecoderTrace : IDisposable
{
    /// <summary>Residual stream after each layer, (L_i, H): the rows that layer processed.</summary>
    public List<Tensor> LayerOutputs { get; } = [];
    public Tensor? FinalNorm { get; set; }
    public void Dispose()
    {
        foreach (var t in LayerOutputs) t.Dispose();
        FinalNorm?.Dispose();
    }
}

public sealed class DecoderInput
{
    /// <summary>(L, H) or (1, L, H) input embeddings.</summary>
    public required Tensor InputsEmbeds { get; init; }
    /// <summary>(rows, L) int64 position ids (1 row for 1-D RoPE).</summary>
    public required Tensor PositionIds { get; init; }
    public KvCache? Cache { get; init; }
    /// <summary>Null: the model's own 1-D rotary embedding.</summary>
    public IRotaryEmbedding? Rotary { get; init; }
    public LogitsSelection Logits { get; init; } = LogitsSelection.Last;
    public IntraLlmPruning? Pruning { get; init; }
    public DecoderTrace? Trace { get; init; }
    /// <summary>The position a first generated token would take; null = max(PositionIds) + 1.</summary>
    public long? NextPosition { get; init; }
}

/// <param name="Logits">float32: (V) for the last row, (L', V) for all rows, or null.</param>
/// <param name="NextPosition">Position of the first token after this sequence, under the position policy applied.</param>
/// <param name="SequenceLength">Rows that reached the final norm (L' after intra-LLM pruning).</param>
/// <param name="Layout">The visual layout after the last decision (null when no pruning state was given).</param>
/// <param name="HookMilliseconds">Time spent inside the pruning hooks (already part of the forward's wall time).</param>
public sealed record DecoderOutput(Tensor? Logits, long NextPosition, int SequenceLength, VisualLayout? Layout, double HookMilliseconds);

/// <summary>
/// LLaMA/Qwen2-style causal language model ("model." + "lm_head"), with the intra-LLM seam in its layer loop: before
/// layer K−1 runs it asks the hooks what to capture; at the input of layer K it applies their decision (gather hidden
/// states and position ids; the causal mask is the lower triangle of the kept rows; later layers cache only those rows).
/// </summary>
public sealed class CausalLanguageModel : nn.Module<DecoderInput, DecoderOutput>
{
    private readonly DecoderBody model;
    private readonly Linear? lm_head;
    private readonly RotaryEmbedding _rotary;

    public DecoderConfig Config { get; }
    public ScalarType DType { get; }
    public Device Device { get; }
    public int NumLayers => Config.NumLayers;

    public CausalLanguageModel(DecoderConfig config, ParameterFactory factory) : base(nameof(CausalLanguageModel))
    {
        Config = config; DType = factory.DType; Device = factory.Device;
        model = new DecoderBody(config, factory);
        if (!config.TieWordEmbeddings) lm_head = new Linear(config.HiddenSize, config.VocabSize, false, factory);
        _rotary = new RotaryEmbedding(config.HeadDim, config.RopeTheta);
        RegisterComponents();
    }

    /// <summary>Token embeddings (L, H) for ids (L).</summary>
    public Tensor Embed(Tensor ids) => model.embed_tokens.forward(ids.to(Device));

    /// <summary>The final RMSNorm (DART measures similarity on normalised hidden states).</summary>
    public Tensor FinalNorm(Tensor hidden) => model.norm.forward(hidden);

    /// <summary>float32 logits for normalised hidden states (…, H) → (…, V); tied models reuse the embedding table.</summary>
    public Tensor Head(Tensor normed)
    {
        using var scope = NewDisposeScope();
        var logits = lm_head is not null ? lm_head.forward(normed) : nn.functional.linear(normed, model.embed_tokens.Weight);
        return logits.to_type(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    public override DecoderOutput forward(DecoderInput input)
    {
        using var scope = NewDisposeScope();
        var hidden = input.InputsEmbeds.to(DType, Device);
        if (hidden.dim() == 2) hidden = hidden.unsqueeze(0);
        var positions = input.PositionIds.to(Device);
        if (positions.dim() != 2 || positions.shape[1] != hidden.shape[1])
            throw new ArgumentException($"position ids must be (rows, {hidden.shape[1]}); got [{string.Join(", ", positions.shape)}]");
        var rotary = input.Rotary ?? _rotary;
        long nextPosition = input.NextPosition ?? positions.max().item<long>() + 1;
        var pruning = input.Pruning;
        var layout = pruning?.Layout;
        double hookMs = 0;

        var (cos, sin) = rotary.CosSin(positions, DType);
        int layerCount = Config.NumLayers;
        for (int i = 0; i < layerCount; i++)
        {
            LayerProbe? probe = null;
            if (pruning is not null && i + 1 < layerCount)
            {
                var clock = Stopwatch.StartNew();
                probe = pruning.Hooks.ProbeBeforeLayer(i + 1, layerCount);
                hookMs += clock.Elapsed.TotalMilliseconds;
            }
            var capture = probe is null ? null : new AttentionCapture(probe.AttentionQueryRows.ToArray(), probe.NeedsKeys);
            var output = model.layers[i].forward(new DecoderLayerInput(hidden, cos, sin, input.Cache, i, capture));
            hidden = output.Hidden;
            if (input.Trace is not null) input.Trace.LayerOutputs.Add(hidden[0].clone().DetachFromDisposeScope());
            if (probe is null) continue;

            long length = hidden.shape[1];
            var context = new LayerContext
            {
                Layer = i + 1,
                NumLayers = layerCount,
                Layout = layout!,
                Hidden = hidden[0],
                Attention = output.Probabilities?[0],
                AttentionQueryRows = probe.AttentionQueryRows,
                Keys = output.Keys,
                FinalNorm = FinalNorm,
                PromptEmbeddings = pruning!.PromptEmbeddings,
                TextAfterImage = SequencePlan.TextAfterLastVisual(layout!, (int)length),
            };
            var hookClock = Stopwatch.StartNew();
            var decision = pruning.Hooks.OnLayerInput(context);
            hookMs += hookClock.Elapsed.TotalMilliseconds;
            if (decision is null) continue;

            int appended = decision.AppendedVisual is null ? 0 : (int)decision.AppendedVisual.shape[0];
            var plan = SequencePlan.Build(layout!, (int)length, decision.KeptVisual, appended);
            if (decision.ReplacementHidden is not null)
                hidden = PrepareReplacement(decision.ReplacementHidden, plan.Length);
            else if (appended == 0)
                hidden = hidden.index_select(1, plan.GatherIndex(Device));
            else
            {
                // Merged tokens (SparseVLM's recycled clusters) follow the kept visual rows as extra visual tokens.
                var keptRows = tensor(decision.KeptVisual.Select(v => layout!.SequenceIndexOf((int)v)).ToArray(), dtype: ScalarType.Int64, device: Device);
                var visualRows = cat([hidden[0].index_select(0, keptRows), decision.AppendedVisual!.to(DType, Device)], 0);
                hidden = plan.GatherRows(hidden[0], layout!, decision.KeptVisual, visualRows).unsqueeze(0);
            }
            positions = plan.Positions(positions, decision.Positions);
            // Renumbered 1-D ids continue from the reduced length; gathered ids (and M-RoPE) keep the original next position.
            if (decision.Positions == PositionPolicy.Renumber && positions.shape[0] == 1) nextPosition = plan.Length;
            layout = plan.Layout;
            (cos, sin) = rotary.CosSin(positions, DType);
        }

        Tensor? logits = null;
        if (input.Logits != LogitsSelection.None || input.Trace is not null)
        {
            var rows = input.Logits == LogitsSelection.Last && input.Trace is null ? hidden[.., ^1..] : hidden;
            var normed = model.norm.forward(rows);
            if (input.Trace is not null) input.Trace.FinalNorm = normed[0].clone().DetachFromDisposeScope();
            if (input.Logits == LogitsSelection.All) logits = Head(normed[0]);
            else if (input.Logits == LogitsSelection.Last) logits = Head(normed[0, -1]);
        }
        return new DecoderOutput(logits?.MoveToOuterDisposeScope(), nextPosition, (int)hidden.shape[1], layout, hookMs);
    }

    /// <summary>
    /// Training entry (used by Engine/Training): the residual stream after the last layer, (B, Lmax, H) before the final
    /// norm, for several prompts at once with autograd. Each prompt (L_i, H) with its position ids (rows, L_i) is padded on
    /// the right to the longest; under the causal mask a real row never attends to the padding after it, so each prompt's
    /// rows equal its own unbatched forward (up to float summation order). Unpruned, no cache.
    /// <paramref name="keeps"/> gives a prompt its own boolean (L_i, L_i) attention mask instead of the causal one (a packed
    /// prompt: several questions sharing one image prefix); its padding rows stay causal and are never attended to.
    /// </summary>
    public Tensor TrainingHidden(IReadOnlyList<Tensor> embeds, IReadOnlyList<Tensor> positionIds, IRotaryEmbedding? rotary = null,
        IReadOnlyList<Tensor?>? keeps = null)
    {
        using var scope = NewDisposeScope();
        return TrainingPass(embeds, positionIds, rotary, keeps, null).Hidden.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// <see cref="TrainingHidden"/>, also returning every layer's softmax attention (B, heads, rows, L) float32 of the padded
    /// rows <paramref name="attentionRows"/> (the same rows of every prompt), under the mask each row really had, with
    /// autograd: for training-only losses on where the decoder looks.
    /// </summary>
    public (Tensor Hidden, IReadOnlyList<Tensor> Attention) TrainingPass(IReadOnlyList<Tensor> embeds, IReadOnlyList<Tensor> positionIds,
        IRotaryEmbedding? rotary, IReadOnlyList<Tensor?>? keeps, long[]? attentionRows)
    {
        if (embeds.Count == 0 || embeds.Count != positionIds.Count)
            throw new ArgumentException($"expected one position-id tensor per prompt; got {embeds.Count} prompts and {positionIds.Count} position tensors");
        using var scope = NewDisposeScope();
        rotary ??= _rotary;
        long longest = embeds.Max(e => e.shape[0]);
        var rows = new List<Tensor>();
        var cosines = new List<Tensor>();
        var sines = new List<Tensor>();
        for (int i = 0; i < embeds.Count; i++)
        {
            var e = embeds[i].to(DType, Device);
            var p = positionIds[i].to(Device);
            long length = e.shape[0], pad = longest - length;
            if (p.dim() != 2 || p.shape[1] != length)
                throw new ArgumentException($"prompt {i}: position ids must be (rows, {length}); got [{string.Join(", ", p.shape)}]");
            if (pad > 0)
            {
                e = cat([e, zeros(pad, e.shape[1], dtype: DType, device: Device)], 0);
                // Padding rows continue the positions (any value would do: nothing real attends to them).
                var next = p.max().item<long>() + 1;
                var extra = HeldScalars.Arange(next, next + pad, 1, ScalarType.Int64, Device).unsqueeze(0).expand(p.shape[0], pad);
                p = cat([p, extra], 1);
            }
            var (cos, sin) = rotary.CosSin(p, DType);
            rows.Add(e); cosines.Add(cos); sines.Add(sin);
        }
        // Tables (B, 1, L, head_dim) broadcast over the heads of (B, heads, L, head_dim).
        var hidden = stack(rows, 0);
        var cosTable = stack(cosines, 0).unsqueeze(1);
        var sinTable = stack(sines, 0).unsqueeze(1);
        Tensor? keep = null;
        if (keeps is not null && keeps.Any(m => m is not null))
        {
            if (keeps.Count != embeds.Count) throw new ArgumentException($"expected one mask (or null) per prompt; got {keeps.Count} for {embeds.Count} prompts");
            var causal = AttentionKernel.CausalKeep(longest, longest, Device);
            var masks = new List<Tensor>();
            for (int i = 0; i < embeds.Count; i++)
            {
                var mask = causal.clone();
                if (keeps[i] is { } own)
                {
                    long length = embeds[i].shape[0];
                    if (own.dim() != 2 || own.shape[0] != length || own.shape[1] != length)
                        throw new ArgumentException($"prompt {i}: its mask must be ({length}, {length}); got [{string.Join(", ", own.shape)}]");
                    mask[..(int)length, ..(int)length] = own.to(ScalarType.Bool, Device);
                }
                masks.Add(mask);
            }
            keep = stack(masks, 0).unsqueeze(1);
        }
        var capture = attentionRows is { Length: > 0 } ? new AttentionCapture(attentionRows, Keys: false) : null;
        var attention = new List<Tensor>();
        for (int i = 0; i < Config.NumLayers; i++)
        {
            var output = model.layers[i].forward(new DecoderLayerInput(hidden, cosTable, sinTable, null, i, capture, keep));
            hidden = output.Hidden;
            if (output.Probabilities is { } p) attention.Add(p.MoveToOuterDisposeScope());
        }
        return (hidden.MoveToOuterDisposeScope(), attention);
    }

    private Tensor PrepareReplacement(Tensor replacement, int expectedRows)
    {
        var r = replacement.to(DType, Device);
        if (r.dim() == 2) r = r.unsqueeze(0);
        if (r.shape[1] != expectedRows || r.shape[2] != Config.HiddenSize)
            throw new ArgumentException($"replacement hidden states must be ({expectedRows}, {Config.HiddenSize}); got [{string.Join(", ", replacement.shape)}]");
        return r;
    }
}

/// <summary>
/// One prompt's decoding state: the KV cache and the explicit next position (never derived from a cache length,
/// which is wrong once layers hold different lengths or ids were gathered).
/// </summary>
public sealed class DecoderSession : IDisposable
{
    private readonly CausalLanguageModel _model;
    private readonly IRotaryEmbedding? _rotary;
    private int _positionRows = 1;

    public KvCache Cache { get; }
    public long NextPosition { get; private set; }
    public int PromptLength { get; private set; }
    public DecoderOutput? PrefillOutput { get; private set; }

    public DecoderSession(CausalLanguageModel model, IRotaryEmbedding? rotary = null)
    {
        _model = model; _rotary = rotary;
        Cache = new KvCache(model.NumLayers);
    }

    /// <summary>Runs the prompt through the decoder, filling the cache; returns last-row logits (V) float32 unless asked otherwise.</summary>
    public DecoderOutput Prefill(Tensor inputsEmbeds, Tensor positionIds, IntraLlmPruning? pruning = null, long? nextPosition = null,
        LogitsSelection logits = LogitsSelection.Last, DecoderTrace? trace = null)
    {
        if (PrefillOutput is not null) throw new InvalidOperationException("this session already holds a prompt");
        _positionRows = (int)positionIds.shape[0];
        var output = _model.forward(new DecoderInput
        {
            InputsEmbeds = inputsEmbeds, PositionIds = positionIds, Cache = Cache, Rotary = _rotary,
            Logits = logits, Pruning = pruning, Trace = trace, NextPosition = nextPosition,
        });
        NextPosition = output.NextPosition;
        PromptLength = output.SequenceLength;
        PrefillOutput = output;
        if (pruning is not null) TrimCache(pruning.Hooks);
        return output;
    }

    /// <summary>Decode-stage cache trimming asked by the hooks (MustDrop): rows of each listed layer's cache; positions unchanged.</summary>
    private void TrimCache(IPruningHooks hooks)
    {
        var lengths = Enumerable.Range(0, Cache.Layers).Select(l => (int)Cache.Length(l)).ToArray();
        var trim = hooks.AfterPrefill(lengths);
        if (trim is null) return;
        foreach (var (layer, rows) in trim.KeptRowsByLayer)
        {
            if (layer < 0 || layer >= Cache.Layers) throw new ArgumentException($"cache trim names layer {layer}; the model has {Cache.Layers}");
            if (rows.Any(r => r < 0 || r >= lengths[layer])) throw new ArgumentException($"cache trim of layer {layer} names rows outside 0..{lengths[layer] - 1}");
            using var index = tensor(rows, dtype: ScalarType.Int64);
            Cache.Gather(layer, index);
        }
    }

    /// <summary>Feeds one generated token at the next position; returns its logits (V) float32.</summary>
    public Tensor Step(long tokenId)
    {
        if (PrefillOutput is null) throw new InvalidOperationException("prefill first");
        using var scope = NewDisposeScope();
        var embeds = _model.Embed(tensor(new[] { tokenId }, dtype: ScalarType.Int64));
        var positions = HeldScalars.Full(_positionRows, 1, NextPosition, ScalarType.Int64, _model.Device);
        var output = _model.forward(new DecoderInput { InputsEmbeds = embeds, PositionIds = positions, Cache = Cache, Rotary = _rotary });
        NextPosition++;
        return output.Logits!.MoveToOuterDisposeScope();
    }

    /// <summary>Frees the cache; the prefill output's logits belong to the caller.</summary>
    public void Dispose() => Cache.Dispose();
}
