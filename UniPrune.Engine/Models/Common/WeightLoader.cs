using UniPrune.Engine.Core;
using static TorchSharp.torch;

namespace UniPrune.Engine.Models.Common;

/// <summary>
/// Fills a module's parameters from a checkpoint, strictly: every parameter must be present with its exact shape, and
/// every checkpoint tensor must be used unless the family declares it ignorable (e.g. rotary inv_freq buffers, CLIP's
/// text tower). Parameter names are the module's own (field names = checkpoint keys); a family maps them to the
/// checkpoint's spelling when its layout differs.
/// </summary>
public static class WeightLoader
{
    /// <param name="checkpointKeyOf">Module parameter name → checkpoint key (identity for the native layout).</param>
    /// <param name="ignorable">Checkpoint keys that may be present without a parameter.</param>
    public static void Load(nn.Module module, Checkpoint checkpoint, Func<string, string>? checkpointKeyOf = null, Func<string, bool>? ignorable = null) =>
        Load(module.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).ToList(), checkpoint, checkpointKeyOf, ignorable);

    /// <summary>Fills a subset of parameters (e.g. one tower) from one checkpoint; every checkpoint key must be used or ignorable.</summary>
    public static void Load(IReadOnlyList<(string Name, Tensor Parameter)> parameters, Checkpoint checkpoint, Func<string, string>? checkpointKeyOf = null,
        Func<string, bool>? ignorable = null)
    {
        checkpointKeyOf ??= name => name;
        var wanted = parameters.Select(p => checkpointKeyOf(p.Name)).ToList();
        var ignored = ignorable is null ? [] : checkpoint.Keys.Where(ignorable).ToList();
        checkpoint.RequireKeys(wanted, ignored);

        using var _ = no_grad();
        for (int i = 0; i < parameters.Count; i++)
        {
            var (name, parameter) = parameters[i];
            string key = wanted[i];
            var entry = checkpoint.Entry(key);
            if (!entry.Shape.SequenceEqual(parameter.shape))
                throw new CheckpointFormatException(checkpoint.Source,
                    $"tensor '{key}' has shape [{string.Join(", ", entry.Shape)}] but the model (from its config) expects [{string.Join(", ", parameter.shape)}] for '{name}'");
            using var value = checkpoint.Read(key, parameter.dtype);
            parameter.copy_(value);
        }
    }

    /// <summary>Every parameter as "name [d0, d1, …] dtype", one per line, in registration order (shape approvals).</summary>
    public static string DescribeParameters(nn.Module module) => string.Join("\n",
        module.named_parameters().Select(p => $"{p.name} [{string.Join(", ", p.parameter.shape)}]")) + "\n";

    public static long CountParameters(nn.Module module) => module.parameters().Sum(p => p.numel());
}
