using static TorchSharp.torch;

namespace UniPrune.Engine.Models.Common;

/// <summary>
/// Per-layer key/value cache (B, kv_heads, S, head_dim), stored before the GQA head expansion. Each layer keeps its
/// own length: after intra-LLM pruning at layer K, layers below K hold the full prompt and layers from K on the
/// reduced one. Rows live in a buffer with spare capacity, so a decode step writes one row instead of copying the whole
/// cache. The cache owns its buffers (outside every forward's dispose scope) until it is disposed.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor?[] _keys;
    private readonly Tensor?[] _values;
    private readonly long[] _lengths;

    public KvCache(int layers)
    {
        _keys = new Tensor?[layers];
        _values = new Tensor?[layers];
        _lengths = new long[layers];
    }

    public int Layers => _keys.Length;

    /// <summary>Number of cached positions of <paramref name="layer"/> (0 when empty).</summary>
    public long Length(int layer) => _lengths[layer];

    /// <summary>Appends new rows and returns views of the layer's whole cache (valid until the next append or gather).</summary>
    public (Tensor Keys, Tensor Values) Append(int layer, Tensor keys, Tensor values)
    {
        long length = _lengths[layer], added = keys.shape[2];
        if (_keys[layer] is null || length + added > _keys[layer]!.shape[2])
        {
            using var oldKeys = Keys(layer);
            using var oldValues = Values(layer);
            Replace(layer, oldKeys, oldValues, keys, length + added);
        }
        using (no_grad())
        {
            using var keySlot = _keys[layer]!.narrow(2, length, added);
            using var valueSlot = _values[layer]!.narrow(2, length, added);
            keySlot.copy_(keys);
            valueSlot.copy_(values);
        }
        _lengths[layer] = length + added;
        return (Keys(layer)!, Values(layer)!);
    }

    /// <summary>Keeps only the given cached rows (in the order given) of one layer.</summary>
    public void Gather(int layer, Tensor rows)
    {
        if (_keys[layer] is null) throw new InvalidOperationException($"layer {layer} has no cached rows to gather");
        var index = rows.to(_keys[layer]!.device);
        using var keys = Keys(layer)!;
        using var values = Values(layer)!;
        using var keptKeys = keys.index_select(2, index);
        using var keptValues = values.index_select(2, index);
        Replace(layer, keptKeys, keptValues, keptKeys, keptKeys.shape[2]);
        _lengths[layer] = keptKeys.shape[2];
    }

    /// <summary>A view of the cached keys of one layer (B, kv_heads, length, head_dim), or null when empty.</summary>
    public Tensor? Keys(int layer) => _keys[layer]?.narrow(2, 0, _lengths[layer]);
    public Tensor? Values(int layer) => _values[layer]?.narrow(2, 0, _lengths[layer]);

    /// <summary>New buffers with room for <paramref name="needed"/> rows plus spare (half again, at least 64), holding the old rows.</summary>
    private void Replace(int layer, Tensor? oldKeys, Tensor? oldValues, Tensor like, long needed)
    {
        long capacity = needed + Math.Max(64, needed / 2);
        var shape = new[] { like.shape[0], like.shape[1], capacity, like.shape[3] };
        var keys = empty(shape, dtype: like.dtype, device: like.device).DetachFromDisposeScope();
        var values = empty(shape, dtype: like.dtype, device: like.device).DetachFromDisposeScope();
        if (oldKeys is not null && oldValues is not null && oldKeys.shape[2] > 0)
            using (no_grad())
            {
                using var k = keys.narrow(2, 0, oldKeys.shape[2]);
                using var v = values.narrow(2, 0, oldValues.shape[2]);
                k.copy_(oldKeys);
                v.copy_(oldValues);
            }
        _keys[layer]?.Dispose();
        _values[layer]?.Dispose();
        _keys[layer] = keys;
        _values[layer] = values;
    }

    public void Dispose()
    {
        for (int i = 0; i < _keys.Length; i++)
        {
            _keys[i]?.Dispose(); _values[i]?.Dispose();
            _keys[i] = null; _values[i] = null;
            _lengths[i] = 0;
        }
    }
}
