namespace UniPrune.Engine.Tests;

/// <summary>Locates the repository's test fixtures from the test assembly's folder.</summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRepoRoot();
    public static string Fixtures => Path.Combine(RepoRoot, "UniPrune.Engine.Tests", "Fixtures");
    public static string Golden(string family) => Path.Combine(Fixtures, "golden", family);

    public static string NewTempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), "uniprune-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "UniPrune.sln"))) return d.FullName;
        throw new InvalidOperationException($"UniPrune.sln not found above {AppContext.BaseDirectory}");
    }
}
