using System.Diagnostics;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Pruning.Abstractions;

namespace UniPrune.Engine.Pruning;

/// <summary>One decision as it was applied: for results and for the equivalent-token count.</summary>
/// <param name="Layer">0 for pre-LLM; otherwise K, the first layer that ran on the reduced sequence.</param>
public sealed record StageRecord(string Method, PruningStage Stage, int Layer, int VisualBefore, int VisualAfter);

/// <summary>What a result records about the pruning of one request: the method, how its budget was computed (keep-count rule,
/// unit policy), the stages as applied, the equivalent token count and the method's own time.</summary>
public sealed record PruningSummary(string Method, double Retention, KeepCountRule KeepRule, UnitPolicy Units, int Layer, int Seed,
    IReadOnlyDictionary<string, string> Parameters, IReadOnlyList<StageRecord> Stages, int VisualTokens, int VisualTokensAfterPrefill,
    double EquivalentVisualTokens, double MethodMs);

/// <summary>
/// The pruning side of <see cref="IPruningHooks"/>: a pre-LLM method, an intra-LLM method, or both (the paper's two-stage Table 5),
/// or one hybrid method that is both. It tracks the sequence across decisions (so methods can name probe rows), validates every
/// decision, times the method calls (scoring + selection), records kept counts, and computes decode-stage cache trims.
/// It holds one request's state (reset by each <see cref="OnVisualTokens"/>): reuse it for requests one after another, never concurrently.
/// </summary>
public sealed class PruningHooks : IPruningHooks
{
    private readonly IPreLlmMethod? _pre;
    private readonly IIntraLlmMethod? _intra;
    private readonly bool _preKeepsEverything, _intraKeepsEverything;
    private readonly Stopwatch _methodClock = new();
    private readonly List<StageRecord> _records = [];
    // Original prompt rows held by the layers from each intra decision onwards: (K, rows) in decision order.
    private readonly List<(int Layer, IReadOnlyList<long> Rows)> _rowsFromLayer = [];
    private SequenceState? _state;
    private IReadOnlyList<long>? _promptRows;

    public PruningSettings Settings { get; }
    public IReadOnlyList<StageRecord> Records => _records;
    public TimeSpan MethodTime => _methodClock.Elapsed;
    public string Name { get; }

    /// <param name="intraSettings">The intra-LLM stage's settings in a two-stage combination (default: <paramref name="settings"/>).
    /// A stage whose retention is 1 does nothing at all: vanilla inference.</param>
    public PruningHooks(PruningSettings settings, IPreLlmMethod? preLlm, IIntraLlmMethod? intraLlm, PruningSettings? intraSettings = null)
    {
        if (preLlm is null && intraLlm is null) throw new ArgumentException("pruning hooks need a pre-LLM method, an intra-LLM method, or both");
        Settings = settings;
        _pre = preLlm; _intra = intraLlm;
        _preKeepsEverything = settings.KeepsEverything;
        _intraKeepsEverything = (intraSettings ?? settings).KeepsEverything;
        Name = ReferenceEquals(preLlm, intraLlm) || intraLlm is null ? preLlm!.Name : preLlm is null ? intraLlm.Name : $"{preLlm.Name}+{intraLlm.Name}";
    }

    public PreLlmDecision? OnVisualTokens(PreLlmContext context)
    {
        _records.Clear(); _rowsFromLayer.Clear(); _methodClock.Reset();
        _state = SequenceState.FromPrompt(context);
        _promptRows = _state.OriginalRows;
        PreLlmDecision? decision = null;
        if (_pre is not null && !_preKeepsEverything)
        {
            _methodClock.Start();
            try { decision = _pre.Select(context); }
            finally { _methodClock.Stop(); }
            ValidatePre(decision, context.Vision.Layout.Count);
            _records.Add(new StageRecord(_pre.Name, PruningStage.PreLlm, 0, context.Vision.Layout.Count, decision.Kept.Length + decision.ExtraTokens));
            _state = _state.After(decision);
        }
        if (_intra is not null && !_intraKeepsEverything)
        {
            _methodClock.Start();
            try { _intra.Observe(context, _state); }
            finally { _methodClock.Stop(); }
        }
        return decision;
    }

    public LayerProbe? ProbeBeforeLayer(int layerK, int numLayers)
    {
        if (_intraKeepsEverything || _intra is null || _state is null || layerK < 1) return null;
        _methodClock.Start();
        try { return _intra.Probe(layerK, numLayers, _state); }
        finally { _methodClock.Stop(); }
    }

    public LayerDecision? OnLayerInput(LayerContext context)
    {
        if (_intraKeepsEverything || _intra is null || _state is null) return null;
        if (context.Layout.Count != _state.Layout.Count || context.Layout.SequenceLength != _state.Length)
            throw new InvalidOperationException($"{Name}: the model's sequence at layer {context.Layer} ({context.Layout.SequenceLength} rows, {context.Layout.Count} visual) " +
                $"differs from the one the pruning decisions produced ({_state.Length} rows, {_state.Layout.Count} visual)");
        LayerDecision? decision;
        _methodClock.Start();
        try { decision = _intra.Decide(context, _state); }
        finally { _methodClock.Stop(); }
        if (decision is null) return null;
        ValidateIntra(decision, _state.Layout.Count, context.Layer);
        int after = decision.KeptVisual.Length + (decision.AppendedVisual is null ? 0 : (int)decision.AppendedVisual.shape[0]);
        _records.Add(new StageRecord(_intra.Name, _intra.Stage, context.Layer, _state.Layout.Count, after));
        _state = _state.After(decision);
        _rowsFromLayer.Add((context.Layer, _state.OriginalRows));
        return decision;
    }

    public KvCacheTrim? AfterPrefill(IReadOnlyList<int> cachedRowsPerLayer)
    {
        if (_intraKeepsEverything || _intra is null || !_intra.TrimsCacheAfterPrefill || _rowsFromLayer.Count < 2) return null;
        // MustDrop stage 3: layers from the first to the last pruning stage drop what a later stage dropped.
        var finalRows = new HashSet<long>(_rowsFromLayer[^1].Rows);
        if (finalRows.Contains(-1)) throw new InvalidOperationException($"{Name}: cannot trim caches that hold merged tokens");
        var kept = new Dictionary<int, long[]>();
        for (int s = 0; s < _rowsFromLayer.Count - 1; s++)
        {
            var (from, rows) = _rowsFromLayer[s];
            int to = _rowsFromLayer[s + 1].Layer;
            long[] keep = Enumerable.Range(0, rows.Count).Where(i => finalRows.Contains(rows[i])).Select(i => (long)i).ToArray();
            for (int layer = from; layer < to && layer < cachedRowsPerLayer.Count; layer++)
            {
                if (cachedRowsPerLayer[layer] < rows.Count)
                    throw new InvalidOperationException($"{Name}: layer {layer} caches {cachedRowsPerLayer[layer]} prompt rows, expected at least {rows.Count}");
                kept[layer] = keep;
            }
        }
        return new KvCacheTrim(kept);
    }

    /// <summary>The record for results, after the request ran (<paramref name="visualTokens"/>: N before pruning).</summary>
    public PruningSummary Summary(int visualTokens, int numLayers) => new(Name, Settings.Retention, Settings.KeepRule, Settings.Units, Settings.Layer,
        Settings.Seed, Settings.Parameters, _records.ToList(), visualTokens, _records.Count == 0 ? visualTokens : _records[^1].VisualAfter,
        EquivalentVisualTokens(visualTokens, numLayers), MethodTime.TotalMilliseconds);

    /// <summary>T_eq: visual tokens processed per layer, averaged over the layers (methods.md §0.3).</summary>
    public double EquivalentVisualTokens(int originalVisualTokens, int numLayers)
    {
        int current = originalVisualTokens;
        var pre = _records.FirstOrDefault(r => r.Stage == PruningStage.PreLlm);
        if (pre is not null) current = pre.VisualAfter;
        double sum = 0; int layer = 0;
        foreach (var r in _records.Where(r => r.Stage != PruningStage.PreLlm).OrderBy(r => r.Layer))
        {
            sum += (double)current * (Math.Min(r.Layer, numLayers) - layer);
            layer = Math.Min(r.Layer, numLayers); current = r.VisualAfter;
        }
        sum += (double)current * (numLayers - layer);
        return sum / numLayers;
    }

    private void ValidatePre(PreLlmDecision decision, int visualCount)
    {
        var seen = new HashSet<long>();
        foreach (long v in decision.Kept)
        {
            if (v < 0 || v >= visualCount) throw new InvalidOperationException($"{_pre!.Name} kept visual index {v}, outside 0..{visualCount - 1}");
            if (!seen.Add(v)) throw new InvalidOperationException($"{_pre!.Name} kept visual index {v} twice");
        }
        if (decision.Embeddings is not null && decision.Embeddings.shape[0] != decision.Kept.Length + decision.ExtraTokens)
            throw new InvalidOperationException($"{_pre!.Name} returned {decision.Embeddings.shape[0]} embeddings for {decision.Kept.Length} kept + {decision.ExtraTokens} extra tokens");
    }

    private void ValidateIntra(LayerDecision decision, int visualCount, int layer)
    {
        for (int i = 0; i < decision.KeptVisual.Length; i++)
        {
            long v = decision.KeptVisual[i];
            if (v < 0 || v >= visualCount) throw new InvalidOperationException($"{_intra!.Name} at layer {layer} kept visual index {v}, outside 0..{visualCount - 1}");
            if (i > 0 && v <= decision.KeptVisual[i - 1]) throw new InvalidOperationException($"{_intra!.Name} at layer {layer}: kept visual indices must be strictly ascending");
        }
        if (decision.AppendedVisual is not null && decision.Positions != PositionPolicy.Renumber)
            throw new InvalidOperationException($"{_intra!.Name} at layer {layer}: appended merged tokens need re-numbered positions");
    }
}
