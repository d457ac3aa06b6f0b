using Xunit.Abstractions;

namespace UniPrune.Engine.Tests.Models;

/// <summary>
/// Data-driven parity with the reference implementations: one case per golden folder (the repo's fixtures and every folder
/// in UNIPRUNE_GOLDEN_DIRS), named after it, and one per pruning/ reference inside it. Families without an
/// <see cref="IGoldenFamily"/> skip, saying why; a missing folder listed in the variable fails.
/// </summary>
public sealed class GoldenParityTests(ITestOutputHelper log)
{
    public static TheoryData<string> Folders()
    {
        var data = new TheoryData<string>();
        foreach (var name in GoldenFolders.Names) data.Add(name);
        return data;
    }

    public static TheoryData<string, string> PruningReferences()
    {
        var data = new TheoryData<string, string>();
        foreach (var name in GoldenFolders.Names)
        {
            string folder = GoldenFolders.PathOf(name);
            if (!File.Exists(Path.Combine(folder, "config.json"))) continue;
            using var set = new GoldenSet(name, folder);
            foreach (var reference in set.PruningReferences) data.Add(name, reference);
        }
        return data;
    }

    [SkippableTheory, MemberData(nameof(Folders))]
    public void Reference_set(string folder)
    {
        using var set = Open(folder);
        var (family, skip) = GoldenFamilies.For(set);
        Skip.If(family is null, skip);
        family!.CheckStages(set, log);
    }

    [SkippableTheory, MemberData(nameof(PruningReferences))]
    public void Pruning_reference(string folder, string reference)
    {
        using var set = Open(folder);
        var (family, skip) = GoldenFamilies.For(set);
        Skip.If(family is null, skip);
        family!.CheckPruningReference(set, reference, log);
    }

    private static GoldenSet Open(string name)
    {
        string path = GoldenFolders.PathOf(name);
        Assert.True(File.Exists(Path.Combine(path, "config.json")), $"{path}: golden folder without config.json");
        return new GoldenSet(name, path);
    }
}
