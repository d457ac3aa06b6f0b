using UniPrune.Engine.Models.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.Common;

/// <summary>
/// Test-only pruning hooks that replay a stored keep set (the golden pruning/ references) instead of choosing one,
/// and can probe one layer's attention so a test can read what the model captured.
/// </summary>
public sealed class ReplayHooks : IPruningHooks, IDisposable
{
    private readonly long[]? _preLlmKeep;
    private readonly PositionPolicy _prePositions;
    private readonly int _intraLayer;
    private readonly long[]? _intraKeep;
    private readonly int _probeLayer;
    private readonly long[] _probeRows;

    /// <summary>Attention (heads, rows, L) captured at the input of the probed layer, copied out of the forward.</summary>
    public Tensor? CapturedAttention { get; private set; }
    public Tensor? CapturedKeys { get; private set; }
    public int PreLlmCalls { get; private set; }
    public int LayerCalls { get; private set; }

    private ReplayHooks(long[]? preLlmKeep, PositionPolicy prePositions, int intraLayer, long[]? intraKeep, int probeLayer, long[] probeRows)
    {
        _preLlmKeep = preLlmKeep; _prePositions = prePositions; _intraLayer = intraLayer; _intraKeep = intraKeep;
        _probeLayer = probeLayer; _probeRows = probeRows;
    }

    public static ReplayHooks PreLlm(long[] keepVisual, PositionPolicy positions) => new(keepVisual, positions, -1, null, -1, []);
    public static ReplayHooks IntraLlm(int layerK, long[] keepVisual) => new(null, PositionPolicy.Renumber, layerK, keepVisual, -1, []);
    /// <summary>Captures the attention of layer K−1 for the given rows (and its keys) without pruning.</summary>
    public static ReplayHooks Probe(int layerK, long[] queryRows) => new(null, PositionPolicy.Renumber, -1, null, layerK, queryRows);

    public PreLlmDecision? OnVisualTokens(PreLlmContext context)
    {
        PreLlmCalls++;
        return _preLlmKeep is null ? null : new PreLlmDecision(_preLlmKeep, Positions: _prePositions);
    }

    public LayerProbe? ProbeBeforeLayer(int layerK, int numLayers) =>
        layerK == _intraLayer ? new LayerProbe([]) :
        layerK == _probeLayer ? new LayerProbe(_probeRows, NeedsKeys: true) : null;

    public LayerDecision? OnLayerInput(LayerContext context)
    {
        LayerCalls++;
        if (context.Layer == _probeLayer)
        {
            CapturedAttention = context.Attention?.clone().DetachFromDisposeScope();
            CapturedKeys = context.Keys?.clone().DetachFromDisposeScope();
            return null;
        }
        return context.Layer == _intraLayer ? new LayerDecision(_intraKeep!, PositionPolicy.KeepOriginal) : null;
    }

    public void Dispose()
    {
        CapturedAttention?.Dispose();
        CapturedKeys?.Dispose();
    }
}
