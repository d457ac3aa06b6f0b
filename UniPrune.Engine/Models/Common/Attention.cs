using TorchSharp;
using static TorchSharp.torch;

namespace UniPrune.Engine.Models.Common;

/// <summary>
/// Scaled-dot-product attention shared by every family: SDPA with the kv heads expanded for GQA (TorchSharp's SDPA
/// has no enable_gqa and no scale argument; the default 1/√head_dim is what all our models use), and the softmax
/// rows a pruning method asks for, computed from the same q/k (never a second pass through the layer).
/// </summary>
public static class AttentionKernel
{
    /// <summary>Query head h reads kv head h / (heads / kv_heads): repeat each kv head over its group.</summary>
    public static Tensor ExpandKvHeads(Tensor kv, long queryHeads)
    {
        long kvHeads = kv.shape[1];
        if (kvHeads == queryHeads) return kv.alias();
        if (queryHeads % kvHeads != 0) throw new ArgumentException($"{queryHeads} query heads are not a multiple of {kvHeads} kv heads");
        return kv.repeat_interleave(queryHeads / kvHeads, dim: 1);
    }

    /// <summary>
    /// softmax(q·kᵀ/√d)·v for q (B, H, Lq, d) and k, v (B, KV, Lk, d). With <paramref name="causal"/> the Lq queries are the
    /// last Lq positions of the Lk keys (a KV cache may hold earlier ones).
    /// </summary>
    /// <param name="keep">Training only: a boolean (B, 1, Lq, Lk) mask that replaces the causal rule (true = may attend),
    /// for packed sequences whose question blocks see the shared prefix and themselves but not each other.</param>
    public static Tensor Attend(Tensor q, Tensor k, Tensor v, bool causal, Tensor? keep = null)
    {
        using var scope = NewDisposeScope();
        long heads = q.shape[1], lq = q.shape[2], lk = k.shape[2];
        var keys = ExpandKvHeads(k, heads);
        var values = ExpandKvHeads(v, heads);
        Tensor output;
        if (keep is not null)
            output = nn.functional.scaled_dot_product_attention(q, keys, values, attn_mask: keep);
        else if (!causal || lq == 1)
            output = nn.functional.scaled_dot_product_attention(q, keys, values);  // one new token sees its whole cache
        else if (lq == lk)
            output = nn.functional.scaled_dot_product_attention(q, keys, values, is_casual: true);
        else
            output = nn.functional.scaled_dot_product_attention(q, keys, values, attn_mask: CausalKeep(lq, lk, q.device));
        return output.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Softmax probabilities (B, H, rows, Lk) in float32 for the chosen query rows (indices into the Lq queries), with
    /// the same causal rule as <see cref="Attend"/>. Masked scores use float32's lowest value, as the reference does.
    /// </summary>
    /// <param name="keep">Training only: the (B, 1, Lq, Lk) mask <see cref="Attend"/> was given, which then replaces the causal rule.</param>
    public static Tensor Probabilities(Tensor q, Tensor k, Tensor queryRows, bool causal, Tensor? keep = null)
    {
        using var scope = NewDisposeScope();
        long heads = q.shape[1], lq = q.shape[2], lk = k.shape[2], d = q.shape[3];
        var rows = queryRows.to(q.device);
        var selected = q.index_select(2, rows).to_type(ScalarType.Float32);
        var keys = ExpandKvHeads(k, heads).to_type(ScalarType.Float32);
        using Scalar scale = 1.0 / Math.Sqrt(d); // kept alive across the native call (see RmsNorm)
        var scores = selected.matmul(keys.transpose(2, 3)).mul(scale);
        if (keep is not null)
            scores = scores.masked_fill(keep.index_select(2, rows).logical_not(), HeldScalars.LowestFloat);
        else if (causal)
        {
            // Query row i sits at key position (lk − lq) + i and sees keys up to and including itself.
            var queryPositions = rows.Plus(lk - lq).unsqueeze(-1);
            var keyPositions = HeldScalars.Arange(lk, ScalarType.Int64, q.device).unsqueeze(0);
            var hidden = keyPositions > queryPositions;
            scores = scores.masked_fill(hidden, HeldScalars.LowestFloat);
        }
        return nn.functional.softmax(scores, -1).MoveToOuterDisposeScope();
    }

    /// <summary>Boolean keep-mask (Lq, Lk), true where query i (at key position Lk − Lq + i) may see key j.</summary>
    public static Tensor CausalKeep(long lq, long lk, Device device)
    {
        using var scope = NewDisposeScope();
        var queryPositions = HeldScalars.Arange(lq, ScalarType.Int64, device).unsqueeze(-1).Plus(lk - lq);
        var keyPositions = HeldScalars.Arange(lk, ScalarType.Int64, device).unsqueeze(0);
        return (keyPositions <= queryPositions).MoveToOuterDisposeScope();
    }
}

/// <summary>What a decoder attention call should capture besides its output.</summary>
/// <param name="QueryRows">Rows (indices into this call's queries) whose softmax attention is wanted; null for none.</param>
/// <param name="Keys">Whether to return the layer's post-RoPE keys as cached (L, kv_heads·head_dim).</param>
public sealed record AttentionCapture(long[]? QueryRows, bool Keys);

/// <param name="Hidden">(B, L, hidden) after the input norm.</param>
/// <param name="Cos">(L, head_dim) rotary table in the activation dtype; <paramref name="Sin"/> likewise.</param>
/// <param name="Cache">Appended to and attended over when given (layer <paramref name="Layer"/>).</param>
/// <param name="Keep">Training only: a boolean (B, 1, L, L) attention mask replacing the causal one (see <see cref="AttentionKernel.Attend"/>).</param>
public sealed record AttentionInput(Tensor Hidden, Tensor Cos, Tensor Sin, KvCache? Cache, int Layer, AttentionCapture? Capture = null, Tensor? Keep = null);

/// <param name="Hidden">(B, L, hidden).</param>
/// <param name="Probabilities">(B, heads, rows, Lk) float32 when captured.</param>
/// <param name="Keys">(Lk, kv_heads·head_dim) post-RoPE keys (batch row 0) when captured.</param>
public sealed record AttentionOutput(Tensor Hidden, Tensor? Probabilities, Tensor? Keys);

/// <summary>Causal self-attention of a LLaMA/Qwen2 decoder layer: q/k/v/o projections (q/k/v bias optional), RoPE, GQA, KV cache.</summary>
public sealed class DecoderAttention : nn.Module<AttentionInput, AttentionOutput>
{
    private readonly Linear q_proj;
    private readonly Linear k_proj;
    private readonly Linear v_proj;
    private readonly Linear o_proj;
    private readonly int _heads, _kvHeads, _headDim;

    public DecoderAttention(int hidden, int heads, int kvHeads, int headDim, bool qkvBias, ParameterFactory factory) : base(nameof(DecoderAttention))
    {
        _heads = heads; _kvHeads = kvHeads; _headDim = headDim;
        q_proj = new Linear(hidden, (long)heads * headDim, qkvBias, factory);
        k_proj = new Linear(hidden, (long)kvHeads * headDim, qkvBias, factory);
        v_proj = new Linear(hidden, (long)kvHeads * headDim, qkvBias, factory);
        o_proj = new Linear((long)heads * headDim, hidden, false, factory);
        RegisterComponents();
    }

    public override AttentionOutput forward(AttentionInput input)
    {
        using var scope = NewDisposeScope();
        var x = input.Hidden;
        long batch = x.shape[0], length = x.shape[1];
        var q = q_proj.forward(x).view(batch, length, _heads, _headDim).transpose(1, 2);
        var k = k_proj.forward(x).view(batch, length, _kvHeads, _headDim).transpose(1, 2);
        var v = v_proj.forward(x).view(batch, length, _kvHeads, _headDim).transpose(1, 2);
        q = Rotary.Apply(q, input.Cos, input.Sin);
        k = Rotary.Apply(k, input.Cos, input.Sin);
        if (input.Cache is not null) (k, v) = input.Cache.Append(input.Layer, k, v);

        if (input.Keep is not null && (input.Cache is not null || input.Capture?.Keys == true))
            throw new ArgumentException("an explicit attention mask is for training passes only (no KV cache, no key capture)");
        var attended = AttentionKernel.Attend(q, k, v, causal: true, input.Keep);
        var output = o_proj.forward(attended.transpose(1, 2).reshape(batch, length, (long)_heads * _headDim));

        Tensor? probabilities = null, keys = null;
        if (input.Capture?.QueryRows is { Length: > 0 } rows)
            probabilities = AttentionKernel.Probabilities(q, k, tensor(rows, dtype: ScalarType.Int64), causal: true, input.Keep).MoveToOuterDisposeScope();
        if (input.Capture?.Keys == true)
            keys = k[0].transpose(0, 1).reshape(k.shape[2], (long)_kvHeads * _headDim).MoveToOuterDisposeScope();
        return new AttentionOutput(output.MoveToOuterDisposeScope(), probabilities, keys);
    }
}
