using System.Globalization;
using System.Numerics;
using System.Text;

namespace UniPrune.Engine.Datasets;

/// <summary>A TSV that does not have the shape VLMEvalKit's loader expects. The message names file, place and expected form.</summary>
public sealed class DatasetFormatException : Exception
{
    public string File { get; }

    public DatasetFormatException(string file, string problem, Exception? inner = null)
        : base($"{file}: {problem}", inner) => File = file;
}

/// <summary>Which pandas NA list applies: 'None' became a default NA string in pandas 2.0 (datasets.md, Errata 3).</summary>
public enum PandasNaBehavior
{
    /// <summary>pandas ≥ 2.0, the default of current installs: the text "None" is NA.</summary>
    Pandas2,
    /// <summary>pandas 1.5 (what the errata run used): "None" stays a literal string.</summary>
    Pandas15,
}

/// <summary>pandas' default NA strings (<c>keep_default_na=True</c>, no extra <c>na_values</c>): exact, case-sensitive matches.</summary>
public static class PandasNa
{
    private static readonly HashSet<string> Pandas15Strings = new(StringComparer.Ordinal)
    {
        "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
        "<NA>", "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null",
    };

    private static readonly HashSet<string> Pandas2Strings = new(Pandas15Strings, StringComparer.Ordinal) { "None" };

    public static IReadOnlySet<string> Strings(PandasNaBehavior behavior) => behavior == PandasNaBehavior.Pandas2 ? Pandas2Strings : Pandas15Strings;

    public static bool IsNa(string field, PandasNaBehavior behavior = PandasNaBehavior.Pandas2) => Strings(behavior).Contains(field);
}

/// <summary>The dtype pandas infers for a whole column.</summary>
public enum PandasColumnType { Integer, Float, Boolean, Text }

/// <summary>One cell after pandas' NA and dtype inference: the raw text, whether it is NaN, and Python's <c>str()</c> of the value.</summary>
public readonly record struct PandasCell(string Raw, bool IsNa, string Display)
{
    /// <summary>The value as VLMEvalKit's f-strings print it, or null for NaN (callers decide: drop the option, omit the hint...).</summary>
    public string? Text => IsNa ? null : Display;
}

/// <summary>
/// A table read with the semantics of <c>pandas.read_csv(path, sep='\t')</c> (C engine, defaults): '"' quoting with
/// doubled quotes, tabs and line breaks inside quoted fields, blank lines skipped, \n, \r\n or \r line ends, the
/// default NA strings, and per-column dtype inference (int; float when any NaN; bool; otherwise the text kept).
/// Unlike pandas, a row with fewer or more fields than the header is an error, not NaN padding.
/// </summary>
public sealed class PandasTable
{
    public string File { get; }
    public IReadOnlyList<string> Columns { get; }
    public IReadOnlyList<PandasColumnType> ColumnTypes { get; }
    /// <summary>1-based line on which each data row starts (for error messages).</summary>
    public IReadOnlyList<int> RowLines { get; }
    private readonly PandasCell[][] _rows;
    private readonly Dictionary<string, int> _columnIndex;

    public int RowCount => _rows.Length;

    private PandasTable(string file, List<string> columns, List<PandasColumnType> types, PandasCell[][] rows, List<int> lines)
    {
        File = file;
        Columns = columns;
        ColumnTypes = types;
        _rows = rows;
        RowLines = lines;
        _columnIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < columns.Count; i++) _columnIndex[columns[i]] = i;
    }

    public bool HasColumn(string column) => _columnIndex.ContainsKey(column);

    public int ColumnIndex(string column) => _columnIndex.TryGetValue(column, out int i) ? i : -1;

    public PandasCell Cell(int row, int column) => _rows[row][column];

    public PandasCell Cell(int row, string column) =>
        _columnIndex.TryGetValue(column, out int i) ? _rows[row][i]
        : throw new DatasetFormatException(File, $"no column '{column}'; columns are: {string.Join(", ", Columns)}");

    public static PandasTable ReadFile(string path, PandasNaBehavior naBehavior = PandasNaBehavior.Pandas2)
    {
        if (!System.IO.File.Exists(path)) throw new FileNotFoundException($"{path}: TSV file not found", path);
        string text;
        try { text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(System.IO.File.ReadAllBytes(path)); }
        catch (DecoderFallbackException e) { throw new DatasetFormatException(path, "not valid UTF-8 text (pandas reads TSVs as UTF-8)", e); }
        return Parse(text, path, naBehavior);
    }

    public static PandasTable Parse(string text, string file, PandasNaBehavior naBehavior = PandasNaBehavior.Pandas2)
    {
        if (text.Length > 0 && text[0] == '\uFEFF') text = text[1..]; // pandas drops a UTF-8 BOM
        var records = Tokenize(text, file);
        if (records.Count == 0) throw new DatasetFormatException(file, "empty file: expected a tab-separated header line (index, question, ...) and data rows");
        var (header, _, _) = records[0];
        var columns = MangleDuplicates(header);
        var na = PandasNa.Strings(naBehavior);
        int width = columns.Count;
        var rawRows = new List<(List<string> Fields, List<bool> Quoted)>(records.Count - 1);
        var lines = new List<int>(records.Count - 1);
        for (int r = 1; r < records.Count; r++)
        {
            var (fields, line, quoted) = records[r];
            if (fields.Count != width)
                throw new DatasetFormatException(file,
                    $"line {line} (data row {r - 1}): expected {width} tab-separated fields as in the header ({string.Join(", ", columns)}), saw {fields.Count}");
            rawRows.Add((fields, quoted));
            lines.Add(line);
        }

        var types = new List<PandasColumnType>(width);
        var rows = new PandasCell[rawRows.Count][];
        for (int r = 0; r < rows.Length; r++) rows[r] = new PandasCell[width];
        for (int c = 0; c < width; c++)
        {
            var values = new string[rawRows.Count];
            var isNa = new bool[rawRows.Count];
            for (int r = 0; r < values.Length; r++) { values[r] = rawRows[r].Fields[c]; isNa[r] = na.Contains(values[r]); }
            var (type, displays) = InferColumn(values, isNa);
            types.Add(type);
            for (int r = 0; r < values.Length; r++) rows[r][c] = new PandasCell(values[r], isNa[r], isNa[r] ? "nan" : displays[r]);
        }
        return new PandasTable(file, columns, types, rows, lines);
    }

    /// <summary>
    /// pandas' per-column inference, as far as it shows in <c>str(value)</c>: all non-NA values integers → int64
    /// (or float64 if any NaN, so 3 prints as 3.0); all numbers → float64; all True/False spellings without NaN →
    /// bool; anything else keeps the text.
    /// </summary>
    public static (PandasColumnType Type, string[] Displays) InferColumn(IReadOnlyList<string> values, IReadOnlyList<bool> isNa)
    {
        int n = values.Count;
        bool anyNa = false, allInt = true, allFloat = true, allBool = true, anyValue = false;
        var ints = new BigInteger[n];
        var floats = new double[n];
        for (int i = 0; i < n; i++)
        {
            if (isNa[i]) { anyNa = true; continue; }
            anyValue = true;
            string v = values[i];
            if (allInt && !TryPandasInt(v, out ints[i])) allInt = false;
            if (allFloat && !TryPandasFloat(v, out floats[i])) allFloat = false;
            if (allBool && v is not ("True" or "TRUE" or "true" or "False" or "FALSE" or "false")) allBool = false;
        }
        var displays = new string[n];
        if (!anyValue) return (PandasColumnType.Float, displays.Select(_ => "nan").ToArray());
        if (allInt && !anyNa && ints.All(v => v >= long.MinValue && v <= long.MaxValue))
        {
            for (int i = 0; i < n; i++) displays[i] = ints[i].ToString(CultureInfo.InvariantCulture);
            return (PandasColumnType.Integer, displays);
        }
        if (allInt || allFloat)
        {
            for (int i = 0; i < n; i++) if (!isNa[i]) displays[i] = PythonText.FloatRepr(allInt ? (double)ints[i] : floats[i]);
            return (PandasColumnType.Float, displays);
        }
        if (allBool && !anyNa)
        {
            for (int i = 0; i < n; i++) displays[i] = values[i] is "True" or "TRUE" or "true" ? "True" : "False";
            return (PandasColumnType.Boolean, displays);
        }
        for (int i = 0; i < n; i++) displays[i] = values[i];
        return (PandasColumnType.Text, displays);
    }

    /// <summary>pandas' C-parser integer: optional spaces, one optional sign, ASCII digits, optional trailing spaces.</summary>
    private static bool TryPandasInt(string v, out BigInteger value)
    {
        value = default;
        string s = v.Trim(' ');
        int i = 0;
        if (i < s.Length && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= s.Length) return false;
        for (int k = i; k < s.Length; k++) if (!char.IsAsciiDigit(s[k])) return false;
        value = BigInteger.Parse(s.TrimStart('+'), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        return true;
    }

    /// <summary>pandas' C-parser float (xstrtod): decimal with optional exponent, or inf/infinity with a sign.</summary>
    private static bool TryPandasFloat(string v, out double value)
    {
        value = default;
        string s = v.Trim(' ');
        string body = s.Length > 0 && (s[0] == '+' || s[0] == '-') ? s[1..] : s;
        if (body.Equals("inf", StringComparison.OrdinalIgnoreCase) || body.Equals("infinity", StringComparison.OrdinalIgnoreCase))
        {
            value = s[0] == '-' ? double.NegativeInfinity : double.PositiveInfinity;
            return true;
        }
        if (body.Contains('_') || body.Length == 0) return false;
        if (!PythonText.TryParseFloat(body, out double parsed) || double.IsNaN(parsed)) return false;
        value = s[0] == '-' ? -parsed : parsed;
        return true;
    }

    private static List<string> MangleDuplicates(List<string> header)
    {
        // pandas renames repeated column names X, X → X, X.1 (mangle_dupe_cols).
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var result = new List<string>(header.Count);
        foreach (string name in header)
        {
            string unique = name;
            if (seen.TryGetValue(name, out int count))
            {
                do { count++; unique = $"{name}.{count - 1}"; } while (seen.ContainsKey(unique));
                seen[name] = count;
            }
            else seen[name] = 1;
            seen.TryAdd(unique, 1);
            result.Add(unique);
        }
        return result;
    }

    private enum State { StartRecord, StartField, InField, InQuoted, QuoteInQuoted }

    /// <summary>The C tokenizer's state machine with sep='\t', quotechar='"', doublequote=True, skip_blank_lines=True.</summary>
    private static List<(List<string> Fields, int Line, List<bool> Quoted)> Tokenize(string text, string file)
    {
        var records = new List<(List<string>, int, List<bool>)>();
        var fields = new List<string>();
        var quoted = new List<bool>();
        var field = new StringBuilder();
        bool fieldQuoted = false;
        int line = 1, recordLine = 1, quoteLine = 0;
        var state = State.StartRecord;

        void EndField() { fields.Add(field.ToString()); quoted.Add(fieldQuoted); field.Clear(); fieldQuoted = false; }
        void EndRecord() { records.Add((fields, recordLine, quoted)); fields = new List<string>(); quoted = new List<bool>(); }

        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            bool newline = c == '\n' || c == '\r';
            if (newline && c == '\r' && i + 1 < text.Length && text[i + 1] == '\n' && state != State.InQuoted) i++; // \r\n is one line end
            switch (state)
            {
                case State.StartRecord:
                    if (newline) { line++; continue; } // blank line
                    recordLine = line;
                    state = State.StartField;
                    goto case State.StartField;
                case State.StartField:
                    if (c == '"') { fieldQuoted = true; quoteLine = line; state = State.InQuoted; }
                    else if (c == '\t') EndField();
                    else if (newline) { EndField(); EndRecord(); line++; state = State.StartRecord; }
                    else { field.Append(c); state = State.InField; }
                    break;
                case State.InField:
                    if (c == '\t') { EndField(); state = State.StartField; }
                    else if (newline) { EndField(); EndRecord(); line++; state = State.StartRecord; }
                    else field.Append(c);
                    break;
                case State.InQuoted:
                    if (c == '"') state = State.QuoteInQuoted;
                    else { field.Append(c); if (c == '\n' || (c == '\r' && (i + 1 >= text.Length || text[i + 1] != '\n'))) line++; }
                    break;
                case State.QuoteInQuoted:
                    if (c == '"') { field.Append('"'); state = State.InQuoted; }
                    else if (c == '\t') { EndField(); state = State.StartField; }
                    else if (newline) { EndField(); EndRecord(); line++; state = State.StartRecord; }
                    else { field.Append(c); state = State.InField; }
                    break;
            }
        }
        switch (state)
        {
            case State.InQuoted:
                throw new DatasetFormatException(file, $"line {quoteLine}: a quoted field (starting with '\"') never ends; close it with '\"' (write a literal quote as '\"\"')");
            case State.StartField or State.InField or State.QuoteInQuoted:
                EndField(); EndRecord(); break;
        }
        return records;
    }
}
