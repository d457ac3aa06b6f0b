using System.Globalization;

namespace UniPrune.Engine.Pruning.Abstractions;

/// <summary>
/// What a method is asked to do: keep a fraction <see cref="Retention"/> of the visual tokens. <see cref="Layer"/> is K, the first
/// decoder layer that runs on the reduced sequence (intra-LLM methods score at layer K−1). <see cref="Seed"/> drives every random
/// choice (pass a per-sample seed for per-sample draws). <see cref="Parameters"/> holds method-specific knobs by name; a name the
/// method does not know is an error.
/// </summary>
public sealed record PruningSettings
{
    public double Retention { get; }
    public KeepCountRule KeepRule { get; init; } = KeepCountRule.Round;
    public UnitPolicy Units { get; init; } = UnitPolicy.PerUnit;
    public int Seed { get; init; }
    public int Layer { get; init; } = 2;
    public IReadOnlyDictionary<string, string> Parameters { get; init; } = new Dictionary<string, string>();

    public PruningSettings(double retention) => Retention = KeepCounts.ValidateRetention(retention);

    /// <summary>True when nothing may be pruned (retention 1).</summary>
    public bool KeepsEverything => Retention == 1.0;

    public int KeepCount(int count) => KeepCounts.Compute(Retention, count, KeepRule);
}

/// <summary>Typed access to <see cref="PruningSettings.Parameters"/> that names the method, the key and the expected form on error,
/// and refuses keys the method never read.</summary>
public sealed class MethodParameters
{
    private readonly string _method;
    private readonly IReadOnlyDictionary<string, string> _values;
    private readonly HashSet<string> _known = [];

    public MethodParameters(string method, IReadOnlyDictionary<string, string> values) { _method = method; _values = values; }

    public int Int(string key, int fallback) => Parse(key, fallback, s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null, "an integer");
    public double Double(string key, double fallback) => Parse(key, fallback, s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null, "a number");
    public bool Bool(string key, bool fallback) => Parse(key, fallback, s => bool.TryParse(s, out var v) ? v : null, "true or false");
    public int[] Ints(string key, int[] fallback) => Parse(key, fallback, s =>
    {
        var parts = s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var list = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out list[i])) return null;
        return list;
    }, "comma-separated integers");
    public T Enum<T>(string key, T fallback) where T : struct, System.Enum =>
        Parse(key, fallback, s => System.Enum.TryParse<T>(s, ignoreCase: true, out var v) ? v : null, $"one of {string.Join(", ", System.Enum.GetNames<T>())}");

    /// <summary>Call after reading every parameter: throws if the settings carry a key the method does not use.</summary>
    public void RejectUnknown()
    {
        var unknown = _values.Keys.Where(k => !_known.Contains(k)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"method '{_method}' has no parameter(s) {string.Join(", ", unknown.Select(u => $"'{u}'"))}; known: {string.Join(", ", _known.Order())}");
    }

    private T Parse<T>(string key, T fallback, Func<string, object?> parse, string form)
    {
        _known.Add(key);
        if (!_values.TryGetValue(key, out var text)) return fallback;
        return parse(text) is T v ? v : throw new ArgumentException($"method '{_method}': parameter '{key}' must be {form}, got '{text}'");
    }
}
