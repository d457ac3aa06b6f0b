using UniPrune.Engine.Pruning.Abstractions;

namespace UniPrune.Engine.Tests.Pruning;

/// <summary>Pruning settings for running a registered method end to end on a golden tiny (4-layer) decoder.</summary>
internal static class GoldenDepthSettings
{
    /// <summary>
    /// One third kept; the multi-stage native schedules (layers 3/7/16, 3/7/11/15) are moved inside the 4-layer golden
    /// decoders, which the methods would otherwise refuse (a stage beyond the depth never prunes).
    /// </summary>
    public static PruningSettings OneThird(string method) => method is "sparsevlm" or "mustdrop"
        ? new PruningSettings(1.0 / 3) { Parameters = new Dictionary<string, string> { ["stage_layers"] = "1,2,3" } }
        : new PruningSettings(1.0 / 3);
}
