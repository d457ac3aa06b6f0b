using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace UniPrune.Engine.Datasets;

/// <summary>A dataset file whose MD5 is not the one VLMEvalKit publishes for it.</summary>
public sealed class DatasetChecksumException(string file, string expected, string actual)
    : Exception($"{file}: MD5 {actual} does not match the expected {expected} for this dataset (a partial download or a different "
              + $"version). Download it again, or set {LmuData.SkipMd5Variable}=1 to accept a locally regenerated file.")
{
    public string File { get; } = file;
    public string Expected { get; } = expected;
    public string Actual { get; } = actual;
}

/// <summary>Where VLMEvalKit keeps its TSVs: <c>$LMUData</c> when it names an existing folder, else <c>~/LMUData</c>.</summary>
public static class LmuData
{
    public const string RootVariable = "LMUData";
    /// <summary>Set to 1 to skip the MD5 check (for files regenerated locally, never for benchmark numbers).</summary>
    public const string SkipMd5Variable = "UNIPRUNE_SKIP_MD5";

    private static readonly ConcurrentDictionary<(string Path, long Length, DateTime Written), string> Md5Cache = new();

    public static string Root()
    {
        string? configured = Environment.GetEnvironmentVariable(RootVariable);
        if (!string.IsNullOrEmpty(configured) && Directory.Exists(configured)) return configured;
        return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), "LMUData");
    }

    /// <summary>The TSV of <paramref name="fileName"/> under the data root; a missing file says where it looked and how to provide it.</summary>
    public static string Locate(string fileName, string? root = null)
    {
        root ??= Root();
        string path = Path.Combine(root, fileName);
        if (File.Exists(path)) return path;
        string? configured = Environment.GetEnvironmentVariable(RootVariable);
        string why = string.IsNullOrEmpty(configured) ? $"${RootVariable} is not set"
            : Directory.Exists(configured) ? $"${RootVariable}={configured}" : $"${RootVariable}={configured} does not exist, so ~/LMUData was used";
        throw new FileNotFoundException($"{path}: dataset file not found ({why}). Put VLMEvalKit's {fileName} there or point ${RootVariable} at the folder holding it.", path);
    }

    public static bool SkipMd5 => Environment.GetEnvironmentVariable(SkipMd5Variable) is "1" or "true" or "True";

    public static string Md5Of(string path)
    {
        var info = new FileInfo(path);
        return Md5Cache.GetOrAdd((info.FullName, info.Length, info.LastWriteTimeUtc), _ =>
        {
            using var stream = File.OpenRead(path);
            return Convert.ToHexStringLower(MD5.HashData(stream));
        });
    }

    /// <summary>Throws <see cref="DatasetChecksumException"/> on a mismatch unless <see cref="SkipMd5Variable"/> is set.</summary>
    public static void VerifyMd5(string path, string expectedMd5)
    {
        if (SkipMd5) return;
        string actual = Md5Of(path);
        if (!string.Equals(actual, expectedMd5, StringComparison.OrdinalIgnoreCase)) throw new DatasetChecksumException(path, expectedMd5, actual);
    }
}

/// <summary>
/// Reads a VLMEvalKit TSV as <c>ImageBaseDataset.__init__</c> does: pandas semantics, rows without an image dropped,
/// image fields of ≤ 64 characters resolved as another row's index, list literals split into several images,
/// <c>image_path</c> split likewise, and the index made an int when every index is int-like.
/// </summary>
public static class VlmTsvReader
{
    public const int BackReferenceMaxLength = 64;

    public static IReadOnlyList<DatasetSample> Read(string path, PandasNaBehavior naBehavior = PandasNaBehavior.Pandas2,
        IReadOnlyList<string>? requiredColumns = null)
        => FromTable(PandasTable.ReadFile(path, naBehavior), requiredColumns);

    public static IReadOnlyList<DatasetSample> FromTable(PandasTable table, IReadOnlyList<string>? requiredColumns = null)
    {
        string file = table.File;
        foreach (string column in new[] { "index" }.Concat(requiredColumns ?? []))
            if (!table.HasColumn(column))
                throw new DatasetFormatException(file, $"missing required column '{column}'; the header has: {string.Join(", ", table.Columns)}");
        bool hasImage = table.HasColumn("image"), hasImagePath = table.HasColumn("image_path");
        if (!hasImage && !hasImagePath)
            throw new DatasetFormatException(file, "missing column 'image' (base64 image data) and 'image_path'; one of them is required");

        // skip_noimg: rows whose image is NaN are dropped before anything else.
        var rows = Enumerable.Range(0, table.RowCount).Where(r => !hasImage || !table.Cell(r, "image").IsNa).ToList();
        string Where(int r, string column) => $"line {table.RowLines[r]} (data row {r}, index {table.Cell(r, "index").Display}), column '{column}'";

        var indexTexts = rows.Select(r => table.Cell(r, "index").Display).ToList();
        var rowOfIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int k = 0; k < rows.Count; k++)
            if (!rowOfIndex.TryAdd(indexTexts[k], rows[k]))
                throw new DatasetFormatException(file, $"{Where(rows[k], "index")}: index '{indexTexts[k]}' repeats line {table.RowLines[rowOfIndex[indexTexts[k]]]}; indices must be unique");

        // Resolve back-references in row order, replacing in place, exactly as VLMEvalKit's image_map loop does.
        var imageTexts = new Dictionary<string, string>(StringComparer.Ordinal);
        if (hasImage)
        {
            for (int k = 0; k < rows.Count; k++) imageTexts[indexTexts[k]] = table.Cell(rows[k], "image").Display;
            for (int k = 0; k < rows.Count; k++)
            {
                string value = imageTexts[indexTexts[k]];
                if (value.Length > BackReferenceMaxLength) continue;
                if (!imageTexts.TryGetValue(value, out string? target))
                    throw new DatasetFormatException(file, $"{Where(rows[k], "image")}: '{value}' is {value.Length} characters, so it must be the index of another row "
                        + "holding the image (a back-reference), but no row has that index; expected base64 image data or an existing index");
                if (target.Length <= BackReferenceMaxLength)
                    throw new DatasetFormatException(file, $"{Where(rows[k], "image")}: back-reference '{value}' points at a row whose image is itself a back-reference ('{target}'); expected it to hold base64 image data");
                imageTexts[indexTexts[k]] = target;
            }
        }

        bool integerIndices = indexTexts.All(PythonText.EvaluatesToInt);
        var samples = new List<DatasetSample>(rows.Count);
        for (int k = 0; k < rows.Count; k++)
        {
            int r = rows[k];
            string origin = $"{Path.GetFileName(file)} {Where(r, "image")}";
            var images = new List<SampleImage>();
            if (hasImage)
                foreach (string encoded in ToListStr(imageTexts[indexTexts[k]], file, Where(r, "image"), "base64 image data or a list literal ['<base64>', ...]"))
                {
                    ValidateBase64(encoded, file, Where(r, "image"));
                    images.Add(SampleImage.FromBase64(encoded, origin));
                }
            IReadOnlyList<string>? paths = null;
            if (hasImagePath)
            {
                var cell = table.Cell(r, "image_path");
                if (cell.IsNa && !hasImage)
                    throw new DatasetFormatException(file, $"{Where(r, "image_path")}: empty/NA, expected an image file path or a list literal of paths");
                paths = cell.IsNa ? null : ToListStr(cell.Display, file, Where(r, "image_path"), "a path or a list literal ['a.jpg', ...]");
                if (!hasImage && paths is not null)
                    images.AddRange(paths.Select(p => SampleImage.FromFile(Path.IsPathRooted(p) ? p : Path.Combine(Path.GetDirectoryName(file) ?? ".", "images", p), origin)));
            }
            long? integerIndex = integerIndices ? long.Parse(indexTexts[k].Replace("_", "").Trim(' ', '\t')) : null;
            samples.Add(new DatasetSample(table, r, integerIndex?.ToString() ?? indexTexts[k], integerIndex, images, paths));
        }
        return samples;
    }

    /// <summary>VLMEvalKit's <c>toliststr</c>: a text starting with '[' and ending with ']' is a list literal, anything else one item.</summary>
    public static IReadOnlyList<string> ToListStr(string text, string file, string where, string expected)
    {
        if (text.Length == 0 || text[0] != '[' || text[^1] != ']') return [text];
        try { return PythonLiteral.ParseStringList(text); }
        catch (PythonLiteralException e) { throw new DatasetFormatException(file, $"{where}: {e.Message}; expected {expected}", e); }
    }

    /// <summary>Standard base64 alphabet, '=' padding only at the end, length a multiple of 4 (white space ignored).</summary>
    public static void ValidateBase64(string text, string file, string where)
    {
        int significant = 0, padding = 0;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c is ' ' or '\n' or '\r' or '\t') continue;
            bool alphabet = char.IsAsciiLetterOrDigit(c) || c == '+' || c == '/';
            if (c == '=') { padding++; significant++; continue; }
            if (!alphabet || padding > 0)
                throw new DatasetFormatException(file, $"{where}: character '{c}' (U+{(int)c:X4}) at position {i} is not valid base64; "
                    + "expected base64 image data (A-Z a-z 0-9 + / with '=' padding at the end)");
            significant++;
        }
        if (significant % 4 != 0 || padding > 2 || significant == 0)
            throw new DatasetFormatException(file, $"{where}: base64 of {significant} characters with {padding} '=' is truncated or mis-padded; "
                + "expected a multiple of 4 characters encoding PNG/JPEG bytes");
    }
}
