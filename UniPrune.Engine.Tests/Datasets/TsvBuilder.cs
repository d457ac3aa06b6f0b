using UniPrune.Engine.Datasets;
using UniPrune.Engine.Scoring;

namespace UniPrune.Engine.Tests.Datasets;

/// <summary>In-memory VLMEvalKit tables for scorer and prompt tests: named columns, rows of cells, one shared image.</summary>
internal static class TsvBuilder
{
    /// <summary>A real 8×8 PNG: long enough (> 64 characters) not to be read as a back-reference.</summary>
    public static readonly string ImageBase64 = Convert.ToBase64String(DatasetFixtureGenerator.Picture(8, 8, (255, 255, 255), (0, 0, 0), jpeg: false));

    /// <summary>Samples from a header and rows; an 'image' column is added when the header lacks one.</summary>
    public static IReadOnlyList<DatasetSample> Samples(string[] columns, params string[][] rows) =>
        Samples(PandasNaBehavior.Pandas2, columns, rows);

    public static IReadOnlyList<DatasetSample> Samples(PandasNaBehavior na, string[] columns, params string[][] rows)
    {
        bool addImage = !columns.Contains("image");
        var header = addImage ? columns.Append("image").ToArray() : columns;
        var table = new DatasetFixtureGenerator.Table(header);
        foreach (var row in rows) table.Add(addImage ? row.Append(ImageBase64).ToArray() : row);
        string text = System.Text.Encoding.UTF8.GetString(table.Bytes());
        return VlmTsvReader.FromTable(PandasTable.Parse(text, "memory.tsv", na));
    }

    public static List<SamplePrediction> Predict(IReadOnlyList<DatasetSample> samples, params string[] predictions)
    {
        if (samples.Count != predictions.Length) throw new ArgumentException($"{samples.Count} samples, {predictions.Length} predictions");
        return samples.Select((s, i) => new SamplePrediction(s, predictions[i])).ToList();
    }
}
