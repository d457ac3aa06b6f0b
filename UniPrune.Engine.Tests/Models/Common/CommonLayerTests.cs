using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.Common;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.Common;

public sealed class CommonLayerTests
{
    private static VisualLayout Span(int start, int count, int length) =>
        new([new VisualUnit(VisualUnitKind.Image, 0, 0, count, 1, count)], Enumerable.Range(start, count).Select(i => (long)i).ToArray(), length);

    [Fact]
    public void Attention_probabilities_equal_a_manual_causal_softmax_and_sdpa_output_with_grouped_kv_heads()
    {
        manual_seed(7);
        var q = randn(1, 4, 6, 8); var k = randn(1, 2, 6, 8); var v = randn(1, 2, 6, 8);
        var kFull = k.repeat_interleave(2, dim: 1); var vFull = v.repeat_interleave(2, dim: 1);
        var scores = q.matmul(kFull.transpose(2, 3)) / Math.Sqrt(8);
        scores = scores.masked_fill(ones(6, 6, dtype: ScalarType.Bool).triu(1), float.NegativeInfinity);
        var probs = nn.functional.softmax(scores, -1);
        Assert.True(AttentionKernel.Attend(q, k, v, causal: true).allclose(probs.matmul(vFull), 1e-5, 1e-6));
        var rows = AttentionKernel.Probabilities(q, k, tensor(new long[] { 1, 5 }), causal: true);
        Assert.True(rows.allclose(probs.index_select(2, tensor(new long[] { 1, 5 })), 1e-5, 1e-6));
        // The last 2 queries against 6 cached keys follow the same causal rule as the full square.
        Assert.True(AttentionKernel.Attend(q[.., .., 4..], k, v, causal: true).allclose(probs.matmul(vFull)[.., .., 4..], 1e-5, 1e-6));
    }

    [Fact]
    public void Rotary_rotates_pairs_i_and_i_plus_half_by_position_times_inverse_frequency()
    {
        var rotary = new RotaryEmbedding(headDim: 4, theta: 100);
        var (cos, sin) = rotary.CosSin(tensor(new long[] { 0, 3 }).unsqueeze(0), ScalarType.Float32);
        var x = tensor(new float[] { 1, 2, 3, 4 }).reshape(1, 1, 1, 4).expand(1, 1, 2, 4);
        var y = Rotary.Apply(x, cos, sin);
        Assert.True(y[0, 0, 0].allclose(tensor(new float[] { 1, 2, 3, 4 })));
        double a0 = 3, a1 = 3 / 10.0;   // inv_freq = [1, 100^-0.5]
        var expected = tensor(new[] { (float)(1 * Math.Cos(a0) - 3 * Math.Sin(a0)), (float)(2 * Math.Cos(a1) - 4 * Math.Sin(a1)),
                                      (float)(3 * Math.Cos(a0) + 1 * Math.Sin(a0)), (float)(4 * Math.Cos(a1) + 2 * Math.Sin(a1)) });
        Assert.True(y[0, 0, 1].allclose(expected, 1e-5, 1e-6));
        Assert.Throws<ArgumentException>(() => rotary.CosSin(zeros(3, 2, dtype: ScalarType.Int64), ScalarType.Float32));
    }

    [Fact]
    public void Kv_cache_layers_keep_their_own_lengths_and_gather_rows()
    {
        using var cache = new KvCache(2);
        using (var scope = NewDisposeScope())
        {
            cache.Append(0, arange(5f).reshape(1, 1, 5, 1), arange(5f).reshape(1, 1, 5, 1));
            cache.Append(1, arange(3f).reshape(1, 1, 3, 1), arange(3f).reshape(1, 1, 3, 1));
            cache.Append(1, full(1, 1, 1, 1, 9f), full(1, 1, 1, 1, 9f));
        }
        Assert.Equal(5, cache.Length(0));
        Assert.Equal(4, cache.Length(1));   // tensors survived the scope that made them
        cache.Gather(0, tensor(new long[] { 0, 4 }));
        Assert.Equal(new float[] { 0, 4 }, cache.Keys(0)!.reshape(-1).data<float>().ToArray());
        Assert.Equal(new float[] { 0, 1, 2, 9 }, cache.Values(1)!.reshape(-1).data<float>().ToArray());
    }

    [Fact]
    public void Sequence_plan_keeps_text_places_visual_tokens_in_decision_order_and_appends_extra_tokens()
    {
        var layout = Span(2, 4, 8);   // rows 2..5 visual
        var plan = SequencePlan.Build(layout, 8, [3, 1], extraTokens: 1);
        Assert.Equal(new long[] { 0, 1, 5, 3, -1, 6, 7 }, plan.SourceRows);
        Assert.Equal(new long[] { 2, 3, 4 }, plan.Layout.SequenceIndices);
        Assert.Equal(3, plan.Layout.Units[0].Count);
        Assert.Equal(new long[] { 5, 6 }, plan.TextAfterImage);
        var positions = arange(8, dtype: ScalarType.Int64).unsqueeze(0);
        Assert.Equal(new long[] { 0, 1, 2, 3, 4, 5, 6 }, plan.Positions(positions, PositionPolicy.Renumber).reshape(-1).data<long>().ToArray());
        Assert.Equal(new long[] { 0, 1, 5, 3, 5, 6, 7 }, plan.Positions(positions, PositionPolicy.KeepOriginal).reshape(-1).data<long>().ToArray());
        // Three-row ids (M-RoPE) are gathered even when renumbering is asked for.
        var rows3 = stack([positions, positions * 10, positions * 100]).squeeze(1);
        Assert.Equal(3, plan.Positions(rows3, PositionPolicy.Renumber).shape[0]);
        Assert.Equal(500, plan.Positions(rows3, PositionPolicy.Renumber)[2, 2].item<long>());

        var embeds = arange(8f).unsqueeze(1);
        var merged = tensor(new float[] { 30, 10, 99 }).unsqueeze(1);
        Assert.Equal(new float[] { 0, 1, 30, 10, 99, 6, 7 }, plan.GatherRows(embeds, layout, [3, 1], merged).reshape(-1).data<float>().ToArray());
        Assert.Throws<ArgumentException>(() => SequencePlan.Build(layout, 8, [1, 1]));
        Assert.Throws<ArgumentException>(() => SequencePlan.Build(layout, 8, [4]));
    }
}
