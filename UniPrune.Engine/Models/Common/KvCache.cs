using static TorchSharp.torch;

namespace UniPrune.Engine.Models.Common;

/// <summary>
/// Per-layer key/value cache (B, kv_heads, S, head_dim), stored before the GQA head expansion. Each layer keeps its
/// own length: after intra-LLM pruning at layer K, layers below K hold the full prompt and layers from K on the
/// reduced one. The cache owns its tensors (outside every forward's dispose scope) until it is disposed.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor?[] _keys;
    private readonly Tensor?[] _values;

    public KvCache(int layers)
    {
        _keys = new Tensor?[layers];
        _values = new Tensor?[layers];
    }

    public int Layers => _keys.Length;

    /// <summary>Number of cached positions of <paramref name="layer"/> (0 when empty).</summary>
    public long Length(int layer) => _keys[layer]?.shape[2] ?? 0;

    /// <summary>Appends new rows and returns the layer's whole cache (owned by the cache: do not dispose).</summary>
    public (Tensor Keys, Tensor Values) Append(int layer, Tensor keys, Tensor values)
    {
        Replace(layer, _keys[layer] is null ? keys.alias() : cat([_keys[layer]!, keys], 2),
                       _values[layer] is null ? values.alias() : cat([_values[layer]!, values], 2));
        return (_keys[layer]!, _values[layer]!);
    }

    /// <summary>Keeps only the given cached rows (ascending or not, as the caller decides) of one layer.</summary>
    public void Gather(int layer, Tensor rows)
    {
        if (_keys[layer] is null) throw new InvalidOperationException($"layer {layer} has no cached rows to gather");
        var index = rows.to(_keys[layer]!.device);
        Replace(layer, _keys[layer]!.index_select(2, index), _values[layer]!.index_select(2, index));
    }

    /// <summary>The cached keys of one layer (owned by the cache), or null.</summary>
    public Tensor? Keys(int layer) => _keys[layer];
    public Tensor? Values(int layer) => _values[layer];

    private void Replace(int layer, Tensor keys, Tensor values)
    {
        keys.DetachFromDisposeScope();
        values.DetachFromDisposeScope();
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
        }
    }
}
