namespace UniPrune.Engine.Tests.Models.Llava15;

/// <summary>Text approval: compares with <c>Approvals/{name}.verified.txt</c> beside this file; on a difference writes <c>.received.txt</c> and fails.</summary>
public static class Approval
{
    public static string Folder => Path.Combine(TestPaths.RepoRoot, "UniPrune.Engine.Tests", "Models", "Llava15", "Approvals");

    public static void Verify(string name, string received)
    {
        Directory.CreateDirectory(Folder);
        string verified = Path.Combine(Folder, $"{name}.verified.txt"), receivedPath = Path.Combine(Folder, $"{name}.received.txt");
        if (File.Exists(verified) && File.ReadAllText(verified).ReplaceLineEndings("\n") == received)
        {
            if (File.Exists(receivedPath)) File.Delete(receivedPath);
            return;
        }
        File.WriteAllText(receivedPath, received);
        Assert.Fail($"{name}: output differs from {verified} (or it does not exist); review {receivedPath} and rename it to .verified.txt to accept");
    }
}
