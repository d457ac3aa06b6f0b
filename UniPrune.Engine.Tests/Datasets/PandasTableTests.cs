using UniPrune.Engine.Datasets;

namespace UniPrune.Engine.Tests.Datasets;

public class PandasTableTests
{
    [Theory]
    [InlineData("")]
    [InlineData("NA")]
    [InlineData("N/A")]
    [InlineData("n/a")]
    [InlineData("NaN")]
    [InlineData("nan")]
    [InlineData("-nan")]
    [InlineData("-NaN")]
    [InlineData("null")]
    [InlineData("NULL")]
    [InlineData("<NA>")]
    [InlineData("#N/A")]
    [InlineData("#N/A N/A")]
    [InlineData("#NA")]
    [InlineData("-1.#IND")]
    [InlineData("-1.#QNAN")]
    [InlineData("1.#IND")]
    [InlineData("1.#QNAN")]
    public void Default_na_strings_are_na_in_both_pandas_versions(string field)
    {
        Assert.True(PandasNa.IsNa(field, PandasNaBehavior.Pandas2));
        Assert.True(PandasNa.IsNa(field, PandasNaBehavior.Pandas15));
    }

    [Fact]
    public void None_is_na_only_from_pandas_2()
    {
        Assert.True(PandasNa.IsNa("None", PandasNaBehavior.Pandas2));
        Assert.False(PandasNa.IsNa("None", PandasNaBehavior.Pandas15));
        Assert.Equal(19, PandasNa.Strings(PandasNaBehavior.Pandas2).Count);
    }

    [Theory]
    [InlineData("none")]
    [InlineData(" NA")]
    [InlineData("NA ")]
    [InlineData("Nan")]
    [InlineData("NONE")]
    [InlineData("n.a.")]
    public void Na_matching_is_exact_and_case_sensitive(string field) => Assert.False(PandasNa.IsNa(field));

    [Fact]
    public void Quoted_fields_keep_tabs_line_breaks_and_doubled_quotes()
    {
        var table = PandasTable.Parse("a\tb\tc\n\"x\ty\"\t\"line1\nline2\"\t\"say \"\"hi\"\"\"\n", "t.tsv");
        Assert.Equal(1, table.RowCount);
        Assert.Equal("x\ty", table.Cell(0, "a").Display);
        Assert.Equal("line1\nline2", table.Cell(0, "b").Display);
        Assert.Equal("say \"hi\"", table.Cell(0, "c").Display);
    }

    [Fact]
    public void A_quote_inside_an_unquoted_field_is_literal_and_text_after_a_closing_quote_is_kept()
    {
        var table = PandasTable.Parse("a\tb\nab\"c\t\"q\"rest\n", "t.tsv");
        Assert.Equal("ab\"c", table.Cell(0, "a").Display);
        Assert.Equal("qrest", table.Cell(0, "b").Display);
    }

    [Fact]
    public void Blank_lines_crlf_and_bom_are_handled_like_pandas()
    {
        var table = PandasTable.Parse("\uFEFFa\tb\r\n\r\n1\tx\r\n\n2\ty", "t.tsv");
        Assert.Equal(["a", "b"], table.Columns);
        Assert.Equal(2, table.RowCount);
        Assert.Equal([3, 5], table.RowLines);
        Assert.Equal("y", table.Cell(1, "b").Display);
    }

    [Fact]
    public void Quoted_empty_field_is_na()
    {
        var table = PandasTable.Parse("a\tb\n\"\"\tx\n", "t.tsv");
        Assert.True(table.Cell(0, "a").IsNa);
    }

    [Fact]
    public void Integer_column_prints_as_int_but_becomes_float_when_a_value_is_missing()
    {
        var table = PandasTable.Parse("ints\twithnan\tmixed\tfloats\n1\t3\t1\t0.5\n007\t\t-\t1e3\n+2\t4\tx\t2\n", "t.tsv");
        Assert.Equal(PandasColumnType.Integer, table.ColumnTypes[0]);
        Assert.Equal(["1", "7", "2"], Enumerable.Range(0, 3).Select(r => table.Cell(r, "ints").Display));
        Assert.Equal(PandasColumnType.Float, table.ColumnTypes[1]);
        Assert.Equal("3.0", table.Cell(0, "withnan").Text);
        Assert.Null(table.Cell(1, "withnan").Text);
        Assert.Equal(PandasColumnType.Text, table.ColumnTypes[2]);
        Assert.Equal("-", table.Cell(1, "mixed").Display);
        Assert.Equal(["0.5", "1000.0", "2.0"], Enumerable.Range(0, 3).Select(r => table.Cell(r, "floats").Display));
    }

    [Fact]
    public void Boolean_spellings_become_python_bools_when_the_whole_column_is_boolean()
    {
        var table = PandasTable.Parse("flag\nTrue\ntrue\nFALSE\n", "t.tsv");
        Assert.Equal(PandasColumnType.Boolean, table.ColumnTypes[0]);
        Assert.Equal(["True", "True", "False"], Enumerable.Range(0, 3).Select(r => table.Cell(r, "flag").Display));
    }

    [Fact]
    public void Duplicate_header_names_are_mangled_like_pandas()
    {
        var table = PandasTable.Parse("A\tA\tA\n1\t2\t3\n", "t.tsv");
        Assert.Equal(["A", "A.1", "A.2"], table.Columns);
    }

    [Theory]
    [InlineData(3.0, "3.0")]
    [InlineData(0.1, "0.1")]
    [InlineData(12.3, "12.3")]
    [InlineData(1e16, "1e+16")]
    [InlineData(1e15, "1000000000000000.0")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(0.00001, "1e-05")]
    [InlineData(1.5e-7, "1.5e-07")]
    [InlineData(-2.5, "-2.5")]
    [InlineData(123456789012345678.0, "1.2345678901234568e+17")]
    [InlineData(1.0 / 3, "0.3333333333333333")]
    [InlineData(-0.0, "-0.0")]
    public void Float_repr_matches_python(double value, string expected) => Assert.Equal(expected, PythonText.FloatRepr(value));

    [Fact]
    public void A_row_with_the_wrong_number_of_fields_names_file_line_and_expected_count()
    {
        var e = Assert.Throws<DatasetFormatException>(() => PandasTable.Parse("index\tquestion\timage\n1\tq\tx\n2\tq\n", "bad.tsv"));
        Assert.Contains("bad.tsv", e.Message);
        Assert.Contains("line 3", e.Message);
        Assert.Contains("expected 3", e.Message);
        Assert.Contains("saw 2", e.Message);
    }

    [Fact]
    public void An_unterminated_quote_is_an_error_naming_the_line()
    {
        var e = Assert.Throws<DatasetFormatException>(() => PandasTable.Parse("a\tb\n1\t\"open\n2\t3\n", "q.tsv"));
        Assert.Contains("q.tsv", e.Message);
        Assert.Contains("line 2", e.Message);
    }

    [Fact]
    public void Python_literals_parse_lists_of_strings_numbers_and_escapes()
    {
        Assert.Equal(["a", "it's", "x\ny", "é"], PythonLiteral.ParseStringList("['a', \"it's\", 'x\\ny', '\\xe9']"));
        Assert.Equal(["1", "2.5", "None", "True"], PythonLiteral.ParseStringList("[1, 2.5, None, True,]"));
        Assert.Equal(["ab"], PythonLiteral.ParseStringList("['a' 'b']"));
        Assert.Equal([], PythonLiteral.ParseStringList("[]"));
        Assert.Throws<PythonLiteralException>(() => PythonLiteral.ParseStringList("['a', b]"));
        Assert.Throws<PythonLiteralException>(() => PythonLiteral.ParseStringList("['a'"));
    }

    [Theory]
    [InlineData("12", true)]
    [InlineData("-3", true)]
    [InlineData("1_000", true)]
    [InlineData("0", true)]
    [InlineData("007", false)]
    [InlineData("3.0", false)]
    [InlineData("VD_chart_0_0_0_0", false)]
    [InlineData("", false)]
    public void Index_is_int_like_when_python_eval_gives_an_int(string text, bool expected) =>
        Assert.Equal(expected, PythonText.EvaluatesToInt(text));
}
