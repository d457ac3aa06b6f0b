using UniPrune.Engine.Datasets;
using UniPrune.Engine.Imaging;

namespace UniPrune.Engine.Tests.Datasets;

public class VlmTsvReaderTests
{
    private static string Fixture(string name) => Path.Combine(TestPaths.Fixtures, "datasets", name);

    [Fact]
    public void Committed_fixture_files_are_exactly_what_the_generator_writes()
    {
        var generated = DatasetFixtureGenerator.Generate();
        bool write = Environment.GetEnvironmentVariable("UNIPRUNE_WRITE_FIXTURES") == "1";
        foreach (var (name, bytes) in generated)
        {
            if (write) { Directory.CreateDirectory(Path.GetDirectoryName(Fixture(name))!); File.WriteAllBytes(Fixture(name), bytes); }
            Assert.True(File.Exists(Fixture(name)), $"{Fixture(name)} is missing; regenerate with UNIPRUNE_WRITE_FIXTURES=1");
            Assert.True(bytes.AsSpan().SequenceEqual(File.ReadAllBytes(Fixture(name))), $"{name} differs from the generator's output");
            Assert.True(bytes.Length < 64 * 1024, $"{name} is {bytes.Length} bytes; fixtures stay small");
        }
    }

    [Fact]
    public void Circular_copies_resolve_back_references_and_share_one_image_key()
    {
        var samples = VlmTsvReader.Read(Fixture("mcq_circular.tsv"));
        Assert.Equal(9, samples.Count);
        Assert.All(samples, s => Assert.NotNull(s.IntegerIndex));
        var byIndex = samples.ToDictionary(s => s.IntegerIndex!.Value);
        Assert.Equal(byIndex[0].Images[0].Key, byIndex[1_000_000].Images[0].Key);
        Assert.Equal(byIndex[0].Images[0].Key, byIndex[3_000_000].Images[0].Key);
        Assert.NotEqual(byIndex[0].Images[0].Key, byIndex[1].Images[0].Key);
        Assert.Equal(byIndex[0].Images[0].Bytes, byIndex[2_000_000].Images[0].Bytes);
        Assert.StartsWith("sha256:", byIndex[0].Images[0].Key);
        Assert.Equal("finegrained_perception (instance-level)", byIndex[0].L2Category);
    }

    [Fact]
    public void Na_options_and_hints_vanish_and_none_follows_the_pandas_version()
    {
        var pandas2 = VlmTsvReader.Read(Fixture("mcq_circular.tsv")).ToDictionary(s => s.IntegerIndex!.Value);
        Assert.Equal("The picture has one box.", pandas2[0].Hint);
        Assert.Null(pandas2[1].Hint);   // empty field
        Assert.Null(pandas2[2].Hint);   // "NA"
        Assert.Equal("AC", string.Concat(pandas2[1].Options.Select(o => o.Letter))); // "None" dropped, D empty
        Assert.Equal(["blue", "square"], pandas2[1].Options.Select(o => o.Text));
        Assert.Equal("AB", string.Concat(pandas2[2].Options.Select(o => o.Letter)));

        var pandas15 = VlmTsvReader.Read(Fixture("mcq_circular.tsv"), PandasNaBehavior.Pandas15).ToDictionary(s => s.IntegerIndex!.Value);
        Assert.Equal(["blue", "None", "square"], pandas15[1].Options.Select(o => o.Text));
    }

    [Fact]
    public void Second_question_of_an_image_references_the_first_and_image_path_pairs_them()
    {
        var samples = VlmTsvReader.Read(Fixture("yorn_pairs.tsv"));
        Assert.Equal(6, samples.Count);
        Assert.Equal(samples[0].Images[0].Key, samples[1].Images[0].Key);
        Assert.Equal(["color/0001.jpg"], samples[1].ImagePaths!);
        Assert.Equal("Does the code print \"4\"?\tPlease answer yes or no.", samples[5].Question);
        var jpeg = ImageDecoder.Decode(samples[0].Images[0].Bytes, samples[0].ToString());
        Assert.Equal((40, 30), (jpeg.Width, jpeg.Height));
        Assert.Equal(0xFF, samples[0].Images[0].Bytes[0]); // JPEG SOI
        Assert.Equal(0x89, samples[2].Images[0].Bytes[0]); // PNG signature
    }

    [Fact]
    public void Multi_image_lists_numeric_columns_and_rows_without_image()
    {
        var samples = VlmTsvReader.Read(Fixture("mixed_shapes.tsv"));
        Assert.Equal(["10", "11", "13"], samples.Select(s => s.Index)); // index 12 has no image: dropped
        var multi = samples[0];
        Assert.Equal(2, multi.Images.Count);
        Assert.Equal(["multi/10_0.png", "multi/10_1.jpg"], multi.ImagePaths!);
        Assert.Equal((20, 12), Size(multi.Images[1]));
        Assert.Equal("How many boxes are there\nin the two pictures?", multi.Question);
        Assert.Null(multi.Hint); // "N/A"
        // Column A is all ints → "1"; column C has a NaN → float → "3.0", and "nan" is NA.
        Assert.Equal(["1", "2", "3.0"], multi.Options.Select(o => o.Text));
        Assert.Equal(["7", "8"], samples[2].Options.Select(o => o.Text));
        Assert.Equal("0.5", multi.Text("score"));
        Assert.Equal("1.0", samples[1].Text("score"));
        Assert.Null(samples[2].Category); // "None" under pandas 2
        Assert.Equal(samples[1].Images[0].Key, samples[2].Images[0].Key);
        Assert.Equal("left\tright", samples[2].Hint);
    }

    [Fact]
    public void String_indices_stay_strings()
    {
        var samples = VlmTsvReader.Read(Fixture("string_index.tsv"));
        Assert.All(samples, s => Assert.Null(s.IntegerIndex));
        Assert.Equal("VD_chart_1_0_0_1", samples[1].Index);
        Assert.Equal(samples[0].Images[0].Key, samples[2].Images[0].Key);
    }

    private static (int, int) Size(SampleImage image) => ImageDecoder.ReadSize(image.Bytes, image.Origin);

    private static string WriteTemp(string content)
    {
        string path = Path.Combine(TestPaths.NewTempDir(), "case.tsv");
        File.WriteAllText(path, content);
        return path;
    }

    [Fact]
    public void Dangling_back_reference_names_file_line_column_and_expected_form()
    {
        string path = WriteTemp($"index\tquestion\timage\n0\tq\t{TsvBuilder.ImageBase64}\n1\tq\t7\n");
        var e = Assert.Throws<DatasetFormatException>(() => VlmTsvReader.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("line 3", e.Message);
        Assert.Contains("'image'", e.Message);
        Assert.Contains("back-reference", e.Message);
    }

    [Fact]
    public void A_back_reference_to_a_row_without_image_is_dangling()
    {
        string path = WriteTemp($"index\tquestion\timage\n0\tq\t\n1\tq\t0\n");
        Assert.Throws<DatasetFormatException>(() => VlmTsvReader.Read(path));
    }

    [Fact]
    public void Bad_base64_names_the_row_and_the_character()
    {
        string bad = TsvBuilder.ImageBase64[..70] + "*" + TsvBuilder.ImageBase64[71..];
        string path = WriteTemp($"index\tquestion\timage\n0\tq\t{bad}\n");
        var e = Assert.Throws<DatasetFormatException>(() => VlmTsvReader.Read(path));
        Assert.Contains("line 2", e.Message);
        Assert.Contains("'*'", e.Message);
        Assert.Contains("base64", e.Message);
    }

    [Fact]
    public void Truncated_base64_is_rejected()
    {
        string path = WriteTemp($"index\tquestion\timage\n0\tq\t{TsvBuilder.ImageBase64[..^3]}\n");
        Assert.Contains("mis-padded", Assert.Throws<DatasetFormatException>(() => VlmTsvReader.Read(path)).Message);
    }

    [Fact]
    public void Bad_multi_image_literal_names_the_expected_form()
    {
        string path = WriteTemp($"index\tquestion\timage\n0\tq\t['{TsvBuilder.ImageBase64}', oops]\n");
        var e = Assert.Throws<DatasetFormatException>(() => VlmTsvReader.Read(path));
        Assert.Contains("list literal", e.Message);
    }

    [Fact]
    public void Missing_required_column_lists_the_header()
    {
        string path = WriteTemp($"index\tquestion\timage\n0\tq\t{TsvBuilder.ImageBase64}\n");
        var e = Assert.Throws<DatasetFormatException>(() => new MmeDataset().LoadFile(path));
        Assert.Contains("'answer'", e.Message);
        Assert.Contains("index, question, image", e.Message);
    }

    [Fact]
    public void Repeated_index_is_an_error()
    {
        string path = WriteTemp($"index\tquestion\timage\n0\tq\t{TsvBuilder.ImageBase64}\n0\tq\t{TsvBuilder.ImageBase64}\n");
        Assert.Contains("repeats line 2", Assert.Throws<DatasetFormatException>(() => VlmTsvReader.Read(path)).Message);
    }

    [Fact]
    public void Md5_mismatch_names_file_expected_and_actual_and_the_opt_out()
    {
        string path = Fixture("yorn_pairs.tsv");
        string actual = LmuData.Md5Of(path);
        LmuData.VerifyMd5(path, actual);
        var e = Assert.Throws<DatasetChecksumException>(() => LmuData.VerifyMd5(path, "00000000000000000000000000000000"));
        Assert.Contains(path, e.Message);
        Assert.Contains("00000000000000000000000000000000", e.Message);
        Assert.Contains(actual, e.Message);
        Assert.Contains(LmuData.SkipMd5Variable, e.Message);
    }

    [Fact]
    public void Official_datasets_are_located_under_the_data_root_with_a_helpful_error()
    {
        string root = TestPaths.NewTempDir();
        var e = Assert.Throws<FileNotFoundException>(() => new PopeDataset().Load(root));
        Assert.Contains(Path.Combine(root, "POPE.tsv"), e.Message);
        Assert.Contains("LMUData", e.Message);
        File.Copy(Fixture("yorn_pairs.tsv"), Path.Combine(root, "POPE.tsv"));
        // A file with POPE's name but other content fails the MD5 check.
        Assert.Throws<DatasetChecksumException>(() => new PopeDataset().Load(root));
    }

    [Fact]
    public void The_catalog_holds_the_papers_datasets_with_their_hashes()
    {
        Assert.Equal(12, DatasetCatalog.All.Count);
        Assert.Equal("MMBench", DatasetCatalog.Get("MMBench_DEV_CN").ImageRoot);
        Assert.Equal(2374, DatasetCatalog.Get("MME").ExpectedSampleCount);
        Assert.All(DatasetCatalog.All, d => Assert.Matches("^[0-9a-f]{32}$", d.Md5));
        Assert.Equal(12, DatasetCatalog.All.Select(d => d.Md5).Distinct().Count());
        Assert.Throws<ArgumentException>(() => DatasetCatalog.Get("MMMU"));
    }
}
