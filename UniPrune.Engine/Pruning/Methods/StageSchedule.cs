namespace UniPrune.Engine.Pruning.Methods;

/// <summary>Checks shared by the multi-stage intra-LLM methods (SparseVLM, MustDrop).</summary>
internal static class StageSchedule
{
    /// <summary>
    /// A stage layer the decoder does not have would silently never prune (a "pruned" cell equal to vanilla at every
    /// retention); refuse it, naming the layers and the depth.
    /// </summary>
    public static void RequireDepth(string method, IReadOnlyList<int> stageLayers, int numLayers)
    {
        if (stageLayers.Max() >= numLayers)
            throw new InvalidOperationException($"{method}: stage layers K = [{string.Join(", ", stageLayers)}] need a decoder of more than " +
                $"{stageLayers.Max()} layers, this model has {numLayers}; use the single-stage (K2) variant or set stage_layers");
    }
}
