using System.Globalization;

namespace UniPrune.Engine.Running;

/// <summary>
/// One benchmark cell: a model, a pruning method at one retention, on one dataset, at one stage (pre-LLM, layer K, …).
/// <see cref="Id"/> is stable: it is the xunit display name, the results folder and the baseline file name.
/// </summary>
/// <param name="Ratio">Retention in percent as written in the manifest ("100", "33.3", "11.1"): a label, never a parsed double,
/// so filters and file names match byte for byte.</param>
/// <param name="Stage">Where the method acts: "none" (vanilla), "pre", "K2", "pre+K2", "native", …</param>
/// <param name="StageInId">True when the method has several stages, so the stage must be part of the id.</param>
public sealed record CellSpec(string Tier, string Model, string Method, string Ratio, string Dataset, string Stage, bool StageInId = false)
{
    public const string VanillaMethod = "Vanilla";
    public const string VanillaRatio = "100";
    public const string VanillaStage = "none";

    public bool IsVanilla => Method == VanillaMethod;

    /// <summary>"model/dataset/method@ratio", plus "#stage" when the method has more than one stage.</summary>
    public string Id => $"{Model}/{Dataset}/{Method}@{Ratio}" + (StageInId ? $"#{Stage}" : "");

    /// <summary>The vanilla cell this cell's relative drop and timing ratios are measured against.</summary>
    public CellSpec VanillaPeer => this with { Method = VanillaMethod, Ratio = VanillaRatio, Stage = VanillaStage, StageInId = false };

    /// <summary>Trait values, in the names the test rows carry (dotnet test --filter Name=value).</summary>
    public IReadOnlyDictionary<string, string> Traits => new Dictionary<string, string>
    {
        ["Model"] = Model, ["Method"] = Method, ["Ratio"] = Ratio, ["Dataset"] = Dataset, ["Stage"] = Stage, ["Tier"] = Tier,
    };

    /// <summary>Parses an id produced by <see cref="Id"/> back into its axes (tier unknown: empty).</summary>
    public static CellSpec ParseId(string id)
    {
        var parts = id.Split('/');
        if (parts.Length != 3 || !parts[2].Contains('@'))
            throw new FormatException($"cell id '{id}' must look like 'model/dataset/method@ratio[#stage]'");
        var methodPart = parts[2];
        string stage = ""; bool stageInId = false;
        int tilde = methodPart.IndexOf('#');
        if (tilde >= 0) { stage = methodPart[(tilde + 1)..]; methodPart = methodPart[..tilde]; stageInId = true; }
        int at = methodPart.LastIndexOf('@');
        var ratio = methodPart[(at + 1)..];
        if (!double.TryParse(ratio, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
            throw new FormatException($"cell id '{id}': retention '{ratio}' must be a number in percent");
        return new CellSpec("", parts[0], methodPart[..at], ratio, parts[1], stage, stageInId);
    }

    public override string ToString() => Id;
}
