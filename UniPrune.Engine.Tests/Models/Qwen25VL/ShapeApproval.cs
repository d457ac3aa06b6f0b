using System.Text;

namespace UniPrune.Engine.Tests.Models.Qwen25VL;

/// <summary>
/// Approved-text check for parameter names and shapes (ML.NET GenAI's meta-device shape tests, aesthetics.md §1.1).
/// A mismatch writes <c>NAME.received.txt</c> next to <c>NAME.approved.txt</c> (git-ignored) and fails; approve by
/// renaming it after review.
/// </summary>
internal static class ShapeApproval
{
    public static string Folder => Path.Combine(TestPaths.RepoRoot, "UniPrune.Engine.Tests", "Models", "Qwen25VL", "Approvals");

    public static string Render(IEnumerable<(string Name, long[] Shape)> parameters)
    {
        var text = new StringBuilder();
        foreach (var (name, shape) in parameters) text.Append(name).Append(" [").Append(string.Join(", ", shape)).Append("]\n");
        return text.ToString();
    }

    public static void Verify(string name, string received)
    {
        string approvedPath = Path.Combine(Folder, $"{name}.approved.txt");
        string receivedPath = Path.Combine(Folder, $"{name}.received.txt");
        string? approved = File.Exists(approvedPath) ? File.ReadAllText(approvedPath).ReplaceLineEndings("\n") : null;
        if (approved == received)
        {
            if (File.Exists(receivedPath)) File.Delete(receivedPath);
            return;
        }
        File.WriteAllText(receivedPath, received);
        Assert.Fail(approved is null
            ? $"no approved shapes for {name}: review {receivedPath} and rename it to {Path.GetFileName(approvedPath)}"
            : $"shapes of {name} differ from {approvedPath}: see {receivedPath} (diff them; approve by renaming)");
    }
}
