using System.Text.Json;
using UniPrune.Engine.Datasets;

namespace UniPrune.Engine.Tests.Datasets;

/// <summary>
/// Differential test against pandas itself: Fixtures/datasets/reference/pandas_cases.json records how pandas 1.5.3's
/// read_csv(sep='\t') read every fixture TSV and two edge-case files (quotes, CRLF, blank lines, NA spellings, int/float/
/// bool inference). The reader in pandas-1.5 mode must give the same columns, dtypes, NaN cells and str() values.
/// </summary>
public class ReferencePandasTests
{
    public static TheoryData<string> Files()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(CasesPath));
        return new TheoryData<string>(document.RootElement.GetProperty("files").EnumerateObject().Select(p => p.Name));
    }

    private static string CasesPath => Path.Combine(TestPaths.Fixtures, "datasets", "reference", "pandas_cases.json");

    [Theory]
    [MemberData(nameof(Files))]
    public void Reader_matches_pandas(string file)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(CasesPath));
        var expected = document.RootElement.GetProperty("files").GetProperty(file);
        var table = PandasTable.ReadFile(Path.Combine(TestPaths.Fixtures, "datasets", file), PandasNaBehavior.Pandas15);
        Assert.Equal(expected.GetProperty("columns").EnumerateArray().Select(c => c.GetString()), table.Columns);
        Assert.Equal(expected.GetProperty("dtypes").EnumerateArray().Select(t => t.GetString() switch
        {
            "int64" => PandasColumnType.Integer,
            "float64" => PandasColumnType.Float,
            "bool" => PandasColumnType.Boolean,
            _ => PandasColumnType.Text,
        }), table.ColumnTypes);
        var rows = expected.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(rows.Count, table.RowCount);
        for (int r = 0; r < rows.Count; r++)
        {
            var cells = rows[r].EnumerateArray().ToList();
            for (int c = 0; c < cells.Count; c++)
                Assert.True(cells[c].GetString() == table.Cell(r, c).Text,
                    $"{file} row {r} column {table.Columns[c]}: pandas {JsonSerializer.Serialize(cells[c].GetString())}, C# {JsonSerializer.Serialize(table.Cell(r, c).Text)}");
        }
    }
}
