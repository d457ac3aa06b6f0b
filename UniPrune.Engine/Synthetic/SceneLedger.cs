namespace UniPrune.Engine.Synthetic;

/// <summary>
/// While open, remembers the scene behind every PNG the generators encode, keyed by the PNG's hash, so that training can
/// look up what an image shows (objects and glyphs with their boxes) from the bytes a benchmark reader hands back. The
/// benchmark itself never opens one; tables are byte-identical with or without it.
/// </summary>
public sealed class SceneLedger : IDisposable
{
    private static readonly AsyncLocal<SceneLedger?> Open = new();
    private readonly Dictionary<string, Scene> _scenes = new();
    private readonly SceneLedger? _outer;

    private SceneLedger() { _outer = Open.Value; Open.Value = this; }

    /// <summary>Starts recording on this async flow; dispose to stop (the recorded scenes stay readable).</summary>
    public static SceneLedger Record() => new();

    public int Count { get { lock (_scenes) return _scenes.Count; } }

    /// <summary>The scene whose rendering encoded to exactly this image's bytes, or null.</summary>
    public Scene? Find(Datasets.SampleImage image)
    {
        lock (_scenes) return _scenes.TryGetValue(image.Key, out var scene) ? scene : null;
    }

    internal static void Note(byte[] png, Scene scene)
    {
        if (Open.Value is not { } ledger) return;
        string key = Datasets.SampleImage.KeyOf(png);
        lock (ledger._scenes) ledger._scenes[key] = scene;
    }

    public void Dispose()
    {
        if (Open.Value == this) Open.Value = _outer;
    }
}
