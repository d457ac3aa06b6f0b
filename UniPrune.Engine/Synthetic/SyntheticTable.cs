using System.Text;

namespace UniPrune.Engine.Synthetic;

/// <summary>One generated VLMEvalKit-format table: its file name, the column order and the rows (column → text).</summary>
public sealed class SyntheticTable(string name, IReadOnlyList<string> columns)
{
    public string Name { get; } = name;
    public IReadOnlyList<string> Columns { get; } = columns;
    public List<Dictionary<string, string>> Rows { get; } = [];

    public void Add(Dictionary<string, string> row)
    {
        foreach (var key in row.Keys)
            if (!Columns.Contains(key)) throw new ArgumentException($"{Name}: column '{key}' is not declared");
        Rows.Add(row);
    }

    /// <summary>Writes the table as pandas reads it: tab-separated, header first, fields quoted only when they must be.</summary>
    public void WriteTsv(string path)
    {
        var sb = new StringBuilder();
        sb.Append(string.Join('\t', Columns.Select(Quote))).Append('\n');
        foreach (var row in Rows)
            sb.Append(string.Join('\t', Columns.Select(c => Quote(row.GetValueOrDefault(c, ""))))).Append('\n');
        string temp = path + ".tmp";
        File.WriteAllText(temp, sb.ToString(), new UTF8Encoding(false));
        File.Move(temp, path, overwrite: true);
    }

    private static string Quote(string field) =>
        field.IndexOfAny(['\t', '\n', '\r', '"']) < 0 ? field : "\"" + field.Replace("\"", "\"\"") + "\"";
}
