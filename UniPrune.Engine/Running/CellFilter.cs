namespace UniPrune.Engine.Running;

/// <summary>
/// Selects cells with the same expressions as <c>dotnet test --filter</c> on the cell traits, so the CLI and the test runner agree:
/// <c>Method=DivPrune</c>, <c>Model=llava-1.5-7b&amp;Ratio=11.1</c>, <c>Method=FastV|Method=DART</c>, <c>Dataset!=MME</c>,
/// <c>Model~llava</c> (contains). A term without an operator matches as a substring of the cell id. '&amp;' binds tighter than '|'.
/// </summary>
public sealed class CellFilter
{
    private static readonly string[] Properties = ["Model", "Method", "Ratio", "Dataset", "Stage", "Tier", "Id"];
    private readonly List<List<Func<CellSpec, bool>>> _alternatives;
    public string Expression { get; }

    private CellFilter(string expression, List<List<Func<CellSpec, bool>>> alternatives) { Expression = expression; _alternatives = alternatives; }

    public static CellFilter All { get; } = new("", [[]]);

    public static CellFilter Parse(string? expression)
    {
        if (string.IsNullOrWhiteSpace(expression)) return All;
        var alternatives = new List<List<Func<CellSpec, bool>>>();
        foreach (var alternative in expression.Split('|'))
        {
            var terms = new List<Func<CellSpec, bool>>();
            foreach (var raw in alternative.Split('&'))
            {
                var term = raw.Trim();
                if (term.Length == 0) throw new FormatException($"cell filter '{expression}': empty term (expected Name=value joined by & or |)");
                terms.Add(ParseTerm(expression, term));
            }
            alternatives.Add(terms);
        }
        return new CellFilter(expression, alternatives);
    }

    public bool Matches(CellSpec cell) => _alternatives.Any(all => all.All(term => term(cell)));

    private static Func<CellSpec, bool> ParseTerm(string expression, string term)
    {
        foreach (var op in new[] { "!=", "!~", "=", "~" })
        {
            int at = term.IndexOf(op, StringComparison.Ordinal);
            if (at < 0) continue;
            var name = term[..at].Trim();
            var value = term[(at + op.Length)..].Trim();
            var property = Properties.FirstOrDefault(p => p.Equals(name, StringComparison.OrdinalIgnoreCase))
                ?? throw new FormatException($"cell filter '{expression}': unknown trait '{name}' (expected one of {string.Join(", ", Properties)})");
            Func<CellSpec, string> get = property switch
            {
                "Model" => c => c.Model, "Method" => c => c.Method, "Ratio" => c => c.Ratio, "Dataset" => c => c.Dataset,
                "Stage" => c => c.Stage, "Tier" => c => c.Tier, _ => c => c.Id,
            };
            // VSTest compares trait values case-insensitively; do the same so a filter selects the same rows in both places.
            return op switch
            {
                "=" => c => get(c).Equals(value, StringComparison.OrdinalIgnoreCase),
                "!=" => c => !get(c).Equals(value, StringComparison.OrdinalIgnoreCase),
                "~" => c => get(c).Contains(value, StringComparison.OrdinalIgnoreCase),
                _ => c => !get(c).Contains(value, StringComparison.OrdinalIgnoreCase),
            };
        }
        return c => c.Id.Contains(term, StringComparison.OrdinalIgnoreCase);
    }
}
