using System.Security.Cryptography;

namespace UniPrune.Engine.Datasets;

/// <summary>
/// One image of a sample, kept as the encoded file bytes (PNG/JPEG as stored in the TSV). Decoding to pixels is the
/// imaging code's job; <see cref="Key"/> is a content hash, stable across rows, files and runs, so vision features can
/// be cached per image (MMBench's circular copies and MME's second question share one key).
/// </summary>
public sealed class SampleImage
{
    private readonly string? _base64;
    private readonly string? _filePath;
    private byte[]? _bytes;
    private string? _key;

    /// <summary>Where the image came from, for error messages: "MME.tsv row 12 (index 3), column image".</summary>
    public string Origin { get; }

    private SampleImage(string origin, string? base64, string? filePath) { Origin = origin; _base64 = base64; _filePath = filePath; }

    public static SampleImage FromBase64(string base64, string origin) => new(origin, base64, null);

    public static SampleImage FromFile(string path, string origin) => new(origin, null, path);

    /// <summary>The encoded image bytes, decoded from base64 (or read from disk) on first use.</summary>
    public byte[] Bytes
    {
        get
        {
            if (_bytes is not null) return _bytes;
            if (_base64 is not null)
            {
                try { _bytes = Convert.FromBase64String(_base64); }
                catch (FormatException e) { throw new InvalidDataException($"{Origin}: not valid base64 image data", e); }
            }
            else
            {
                if (!File.Exists(_filePath)) throw new FileNotFoundException($"{Origin}: image file not found: {_filePath}", _filePath);
                _bytes = File.ReadAllBytes(_filePath!);
            }
            return _bytes;
        }
    }

    /// <summary>"sha256:" + hex SHA-256 of the encoded bytes.</summary>
    public string Key => _key ??= KeyOf(Bytes);

    /// <summary>The <see cref="Key"/> of an image with these encoded bytes.</summary>
    public static string KeyOf(byte[] encoded) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(encoded));

    /// <summary>The base64 text as stored in the TSV, when the image came from one (judges receive it as a data URL).</summary>
    public string Base64 => _base64 ?? Convert.ToBase64String(Bytes);
}

/// <summary>One option of a multiple-choice sample: its letter column and the text as VLMEvalKit prints it.</summary>
public readonly record struct ChoiceOption(char Letter, string Text);

/// <summary>
/// One row of a VLMEvalKit TSV after VLMEvalKit's loading rules: NaN images dropped, back-references resolved,
/// list literals split, index made an int when every index is int-like. Text properties are Python's <c>str()</c>
/// of the pandas value (a float option prints as "3.0"), or null where pandas has NaN.
/// </summary>
public sealed class DatasetSample
{
    private readonly PandasTable _table;

    internal DatasetSample(PandasTable table, int row, string index, long? integerIndex, IReadOnlyList<SampleImage> images,
        IReadOnlyList<string>? imagePaths)
    {
        _table = table;
        Row = row;
        Index = index;
        IntegerIndex = integerIndex;
        Images = images;
        ImagePaths = imagePaths;
        var options = new List<ChoiceOption>();
        for (char letter = 'A'; letter <= 'Z'; letter++)
            if (Text(letter.ToString()) is { } option) options.Add(new ChoiceOption(letter, option));
        Options = options;
    }

    /// <summary>The file the sample was read from.</summary>
    public string File => _table.File;
    /// <summary>0-based data row in the TSV (before rows without an image were dropped).</summary>
    public int Row { get; }
    /// <summary>1-based line of the TSV on which the row starts.</summary>
    public int Line => _table.RowLines[Row];
    /// <summary>The index as a string (HallusionBench's are strings like "VD_figure_0_0_0_0").</summary>
    public string Index { get; }
    /// <summary>The index as an integer when every index of the file is int-like (VLMEvalKit converts them); else null.</summary>
    public long? IntegerIndex { get; }
    public IReadOnlyList<SampleImage> Images { get; }
    /// <summary>The <c>image_path</c> column split like VLMEvalKit's <c>toliststr</c>; null when the file has none.</summary>
    public IReadOnlyList<string>? ImagePaths { get; }
    /// <summary>Options A..Z present in the file and not NaN, in letter order.</summary>
    public IReadOnlyList<ChoiceOption> Options { get; }

    public string? Question => Text("question");
    public string? Hint => Text("hint");
    public string? Answer => Text("answer");
    public string? Category => Text("category");
    /// <summary>MMBench ships "L2-category"; VLMEvalKit lower-cases it at evaluation.</summary>
    public string? L2Category => Text("l2-category") ?? Text("L2-category");
    public string? Split => Text("split");

    public bool HasColumn(string column) => _table.HasColumn(column);

    /// <summary>The cell of <paramref name="column"/> (exact name), or null when the file has no such column.</summary>
    public PandasCell? Cell(string column) => _table.ColumnIndex(column) is >= 0 and var c ? _table.Cell(Row, c) : null;

    /// <summary>Python's <c>str()</c> of the cell, or null when the column is missing or the value is NaN.</summary>
    public string? Text(string column) => Cell(column)?.Text;

    /// <summary>The text of a column the caller needs; a missing column or NaN is an error naming file, line and column.</summary>
    public string Require(string column, string expected)
    {
        var cell = Cell(column) ?? throw new DatasetFormatException(File, $"no column '{column}' (expected {expected})");
        return cell.Text ?? throw new DatasetFormatException(File, $"line {Line} (index {Index}), column '{column}': empty/NA, expected {expected}");
    }

    public override string ToString() => $"{Path.GetFileName(File)} index {Index}";
}
