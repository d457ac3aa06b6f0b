using System.Runtime.InteropServices;
using System.Text;
using SkiaSharp;

namespace UniPrune.Engine.Tests.Datasets;

/// <summary>
/// Writes the small VLMEvalKit-format TSVs under Fixtures/datasets/ from scratch: images are drawn here (flat
/// rectangles, no anti-aliasing, so the bytes do not depend on rasteriser details) and encoded as PNG or JPEG by
/// SkiaSharp; every column shape the reader must handle appears: NA spellings, a 'None' option, missing hints,
/// back-references, circular copies, list-literal multi-image rows, image_path lists, numeric columns, quoted fields
/// with tabs, line breaks and quotes, string indices. No benchmark rows are copied.
/// Regenerate with: UNIPRUNE_WRITE_FIXTURES=1 dotnet test --filter FullyQualifiedName~DatasetFixtureFiles
/// </summary>
public static class DatasetFixtureGenerator
{
    public static readonly IReadOnlyList<string> FileNames = ["mcq_circular.tsv", "yorn_pairs.tsv", "mixed_shapes.tsv", "string_index.tsv"];

    public static IReadOnlyDictionary<string, byte[]> Generate() => new Dictionary<string, byte[]>
    {
        ["mcq_circular.tsv"] = McqCircular(),
        ["yorn_pairs.tsv"] = YesNoPairs(),
        ["mixed_shapes.tsv"] = MixedShapes(),
        ["string_index.tsv"] = StringIndex(),
    };

    /// <summary>A w×h picture: background plus one solid rectangle, as PNG or JPEG.</summary>
    public static byte[] Picture(int width, int height, (byte R, byte G, byte B) background, (byte R, byte G, byte B) box, bool jpeg)
    {
        var rgba = new byte[width * height * 4];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                bool inside = x >= width / 4 && x < 3 * width / 4 && y >= height / 3 && y < 2 * height / 3;
                var c = inside ? box : background;
                int at = (y * width + x) * 4;
                rgba[at] = c.R; rgba[at + 1] = c.G; rgba[at + 2] = c.B; rgba[at + 3] = 255;
            }
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        Marshal.Copy(rgba, 0, bitmap.GetPixels(), rgba.Length);
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(jpeg ? SKEncodedImageFormat.Jpeg : SKEncodedImageFormat.Png, jpeg ? 90 : 100);
        return data.ToArray();
    }

    private static string B64(byte[] bytes) => Convert.ToBase64String(bytes);

    private static readonly (byte, byte, byte) White = (255, 255, 255), Red = (220, 30, 30), Blue = (30, 60, 220), Green = (20, 160, 60), Gray = (128, 128, 128);

    /// <summary>MMBench-shaped: 3 questions with circular copies (index + k·1e6, options rotated, image back-referenced).</summary>
    private static byte[] McqCircular()
    {
        var table = new Table("index", "question", "hint", "A", "B", "C", "D", "answer", "category", "L2-category", "split", "image");
        var questions = new[]
        {
            // (question, hint, options, answer letter of the original order)
            ("What colour is the box?", "The picture has one box.", new[] { "red", "blue", "green", "gray" }, 'A', "color_recognition", "finegrained_perception (instance-level)", Picture(32, 24, White, Red, jpeg: false)),
            ("Which option is not a colour?", "", new[] { "blue", "None", "square" }, 'C', "attribute_recognition", "coarse_perception", Picture(32, 24, White, Blue, jpeg: true)),
            ("盒子是什么颜色？", "NA", new[] { "红色", "绿色" }, 'B', "color_recognition", "finegrained_perception (instance-level)", Picture(24, 32, Gray, Green, jpeg: false)),
        };
        for (int q = 0; q < questions.Length; q++)
        {
            var (question, hint, options, answer, category, l2, image) = questions[q];
            // Row k rotates the options k places (answer follows); the copies reference row q's image by index.
            for (int k = 0; k < options.Length; k++)
            {
                var rotated = options.Skip(k).Concat(options.Take(k)).ToArray();
                char rotatedAnswer = (char)('A' + ((answer - 'A') - k + options.Length) % options.Length);
                var cells = new string[4];
                for (int o = 0; o < 4; o++) cells[o] = o < rotated.Length ? rotated[o] : "";
                table.Add((q + k * 1_000_000).ToString(), question, hint, cells[0], cells[1], cells[2], cells[3], rotatedAnswer.ToString(),
                    category, l2, "dev", k == 0 ? B64(image) : q.ToString());
            }
        }
        return table.Bytes();
    }

    /// <summary>MME-shaped: two questions per image, the second back-referencing the first; image_path pairs them.</summary>
    private static byte[] YesNoPairs()
    {
        var table = new Table("index", "image", "image_path", "question", "answer", "category");
        var images = new[] { Picture(40, 30, White, Red, jpeg: true), Picture(30, 40, White, Blue, jpeg: false), Picture(36, 36, Gray, Green, jpeg: true) };
        var questions = new[]
        {
            ("color", "color/0001.jpg", "Is the box red? Please answer yes or no.", "Is the box blue? Please answer yes or no.", "Yes", "No"),
            ("existence", "existence/0002.png", "Is there a box? Please answer yes or no.", "Is there a cat? Please answer yes or no.", "Yes", "No"),
            ("code_reasoning", "code_reasoning/0003.jpg", "Does the code print 3? Please answer yes or no.", "Does the code print \"4\"?\tPlease answer yes or no.", "No", "Yes"),
        };
        for (int i = 0; i < questions.Length; i++)
        {
            var (category, path, q1, q2, a1, a2) = questions[i];
            table.Add((2 * i).ToString(), B64(images[i]), path, q1, a1, category);
            table.Add((2 * i + 1).ToString(), (2 * i).ToString(), path, q2, a2, category);
        }
        return table.Bytes();
    }

    /// <summary>Odd shapes: multi-image list literals, numeric option columns (int, and float because of a NaN), NA spellings, a row without image.</summary>
    private static byte[] MixedShapes()
    {
        var table = new Table("index", "image", "image_path", "question", "hint", "A", "B", "C", "answer", "category", "score");
        string one = B64(Picture(16, 16, White, Red, jpeg: false)), two = B64(Picture(20, 12, White, Blue, jpeg: true));
        table.Add("10", $"['{one}', '{two}']", "['multi/10_0.png', 'multi/10_1.jpg']", "How many boxes are there\nin the two pictures?", "N/A", "1", "2", "3", "B", "count", "0.5");
        table.Add("11", one, "single/11.png", "What is 1 + 1?", "null", "2", "3", "", "A", "math", "1");
        table.Add("12", "", "none/12.png", "This row has no image and is dropped.", "", "4", "5", "6", "A", "math", "2");
        table.Add("13", "11", "single/11.png", "Say \"yes\" or \"no\"; the hint has a tab.", "left\tright", "7", "8", "nan", "C", "None", "NaN");
        return table.Bytes();
    }

    /// <summary>HallusionBench-shaped: string indices with six '_' fields, VD/VS categories.</summary>
    private static byte[] StringIndex()
    {
        var table = new Table("index", "image", "question", "answer", "category", "l2-category");
        string img = B64(Picture(28, 20, White, Green, jpeg: true));
        table.Add("VD_chart_0_0_0_0", img, "Is the box green?", "Yes", "VD", "chart");
        table.Add("VD_chart_1_0_0_1", "VD_chart_0_0_0_0", "Is the box red?", "No", "VD", "chart");
        table.Add("VS_chart_2_0_1_0", "VD_chart_0_0_0_0", "Is the box on the left?", "No", "VS", "chart");
        table.Add("VD_map_3_1_0_0", img, "Is this a map?", "No", "VD", "map");
        return table.Bytes();
    }

    /// <summary>Writes TSV the way pandas' to_csv(sep='\t') would: quote only fields with a tab, line break or quote.</summary>
    public sealed class Table(params string[] columns)
    {
        private readonly List<string[]> _rows = [];

        public void Add(params string[] cells)
        {
            if (cells.Length != columns.Length) throw new ArgumentException($"{cells.Length} cells for {columns.Length} columns");
            _rows.Add(cells);
        }

        public byte[] Bytes()
        {
            var sb = new StringBuilder();
            sb.Append(string.Join('\t', columns.Select(Quote))).Append('\n');
            foreach (var row in _rows) sb.Append(string.Join('\t', row.Select(Quote))).Append('\n');
            return new UTF8Encoding(false).GetBytes(sb.ToString());
        }

        private static string Quote(string field) =>
            field.IndexOfAny(['\t', '\n', '\r', '"']) < 0 ? field : "\"" + field.Replace("\"", "\"\"") + "\"";
    }
}
