using System.Text.RegularExpressions;
using UniPrune.Engine.Running;

namespace UniPrune.Bench.Tests.Approval;

/// <summary>The workflows run exactly what the README documents (they cannot be run here, so they are checked by reading).</summary>
public sealed class WorkflowCommandTests
{
    private static readonly string Root = BenchEnvironment.FromProcess().RepositoryRoot;

    [Theory]
    [InlineData("ci.yml")]
    [InlineData("gpu-bench.yml")]
    public void Every_dotnet_command_in_the_workflow_is_in_the_README_verbatim(string workflow)
    {
        var yaml = File.ReadAllText(Path.Combine(Root, ".github", "workflows", workflow));
        var readme = File.ReadAllText(Path.Combine(Root, "README.md"));
        // The first shard stands for the job matrix: the README shows that shard's concrete command.
        var firstShard = Regex.Match(yaml, @"- \{ name: (?<name>[^,]+),\s*filter: ""(?<filter>[^""]+)"" \}");
        var commands = Regex.Matches(yaml, @"(?m)^\s*(?:run:\s*)?(dotnet (?:build|test|run) .+)$").Select(m => m.Groups[1].Value.Trim()).ToList();
        Assert.NotEmpty(commands);
        foreach (var command in commands)
        {
            var concrete = firstShard.Success
                ? command.Replace("${{ matrix.shard.filter }}", firstShard.Groups["filter"].Value).Replace("${{ matrix.shard.name }}", firstShard.Groups["name"].Value.Trim())
                : command;
            Assert.DoesNotContain("${{", concrete);
            Assert.True(readme.Contains(concrete, StringComparison.Ordinal), $"{workflow} runs `{concrete}` but README.md does not document it");
        }
        if (workflow == "ci.yml") Assert.Contains("dotnet test UniPrune.sln -c Release", commands);
    }
}
