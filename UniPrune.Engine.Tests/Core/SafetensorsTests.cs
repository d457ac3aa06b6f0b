using System.Text;
using UniPrune.Engine.Core;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Core;

public class SafetensorsTests
{
    private static string WriteRaw(string header, int dataBytes, int? claimedHeaderLength = null, string name = "t.safetensors")
    {
        string path = Path.Combine(TestPaths.NewTempDir(), name);
        byte[] json = Encoding.UTF8.GetBytes(header);
        using var f = File.Create(path);
        f.Write(BitConverter.GetBytes((ulong)(claimedHeaderLength ?? json.Length)));
        f.Write(json);
        f.Write(new byte[dataBytes]);
        return path;
    }

    private static CheckpointFormatException Fails(string path) =>
        Assert.Throws<CheckpointFormatException>(() => SafetensorsFile.Open(path).Dispose());

    [Fact]
    public void ReadsTheGoldenLlavaCheckpointWithTheHeaderShapes()
    {
        using var ckpt = Checkpoint.Open(TestPaths.Golden("llava"));
        Assert.Contains("language_model.lm_head.weight", ckpt.Keys);
        using var w = ckpt.Read("language_model.model.embed_tokens.weight");
        Assert.Equal(new long[] { 1024, 64 }, w.shape);
        Assert.Equal(ScalarType.Float32, w.dtype);
        Assert.True(w.abs().sum().item<float>() > 0);
        using var bf = ckpt.Read("language_model.model.embed_tokens.weight", ScalarType.BFloat16);
        Assert.Equal(ScalarType.BFloat16, bf.dtype);
        Assert.True((bf.to_type(ScalarType.Float32) - w).abs().max().item<float>() < 1e-2);
    }

    [Fact]
    public void WriterRoundTripsEveryDType()
    {
        string path = Path.Combine(TestPaths.NewTempDir(), "rt.safetensors");
        var tensors = new Dictionary<string, Tensor>
        {
            ["f32"] = randn(3, 4), ["bf16"] = randn(5).to_type(ScalarType.BFloat16), ["f16"] = randn(2, 2).to_type(ScalarType.Float16),
            ["i64"] = arange(7), ["i32"] = arange(3).to_type(ScalarType.Int32), ["u8"] = arange(9).to_type(ScalarType.Byte),
            ["empty"] = zeros(0, 4),
        };
        SafetensorsWriter.Write(path, tensors, new Dictionary<string, string> { ["format"] = "pt" });
        using var file = SafetensorsFile.Open(path);
        Assert.Equal("pt", file.Metadata["format"]);
        foreach (var (name, t) in tensors)
        {
            using var back = file.Read(name);
            Assert.Equal(t.dtype, back.dtype);
            Assert.Equal(t.shape, back.shape);
            Assert.True(back.equal(t).all().item<bool>(), name);
        }
    }

    [Fact]
    public void TruncatedFileNamesTheFile()
    {
        string path = Path.Combine(TestPaths.NewTempDir(), "short.safetensors");
        File.WriteAllBytes(path, new byte[5]);
        var e = Fails(path);
        Assert.Contains(path, e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void HeaderLengthBeyondTheFileIsRejected()
    {
        var e = Fails(WriteRaw("{}", 0, claimedHeaderLength: 1 << 20));
        Assert.Contains("header length 1048576 runs beyond the file", e.Message);
    }

    [Fact]
    public void InvalidJsonHeaderIsRejected() => Assert.Contains("not valid JSON", Fails(WriteRaw("{\"a\": [", 0)).Message);

    [Fact]
    public void OffsetsBeyondTheDataAreRejected()
    {
        var e = Fails(WriteRaw("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8));
        Assert.Contains("tensor 'w' field 'data_offsets'", e.Message);
        Assert.Contains("beyond the data section", e.Message);
    }

    [Fact]
    public void OverlappingTensorsAreRejected()
    {
        var e = Fails(WriteRaw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12));
        Assert.Contains("overlap", e.Message);
    }

    [Fact]
    public void UnknownDTypeIsRejected()
    {
        var e = Fails(WriteRaw("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2));
        Assert.Contains("unknown dtype \"F8_E4M3\"", e.Message);
    }

    [Fact]
    public void ByteCountMustMatchShapeTimesDType()
    {
        var e = Fails(WriteRaw("{\"w\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8));
        Assert.Contains("8 bytes, but shape [3] × BF16 needs 6", e.Message);
    }

    [Fact]
    public void MissingFieldsAreNamed()
    {
        Assert.Contains("field 'shape'", Fails(WriteRaw("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4)).Message);
        Assert.Contains("field 'data_offsets'", Fails(WriteRaw("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4)).Message);
    }

    [Theory]
    [InlineData("pytorch_model.bin")]
    [InlineData("model.pt")]
    [InlineData("weights.ckpt")]
    public void PickleCheckpointsAreRefused(string name)
    {
        string dir = TestPaths.NewTempDir();
        File.WriteAllBytes(Path.Combine(dir, name), [0x80, 0x02, 0x7d, 0x71]);
        var e = Assert.Throws<CheckpointFormatException>(() => Checkpoint.Open(dir).Dispose());
        Assert.Contains(name, e.Message);
        Assert.Contains("arbitrary code", e.Message);
    }

    [Fact]
    public void PickleBytesUnderASafetensorsNameAreRefused()
    {
        string path = Path.Combine(TestPaths.NewTempDir(), "model.safetensors");
        File.WriteAllBytes(path, [0x50, 0x4B, 0x03, 0x04, 0, 0, 0, 0, 0, 0]);
        Assert.Contains("zip archive", Fails(path).Message);
    }

    [Fact]
    public void ShardedCheckpointsResolveThroughTheIndex()
    {
        string dir = TestPaths.NewTempDir();
        SafetensorsWriter.Write(Path.Combine(dir, "a.safetensors"), new Dictionary<string, Tensor> { ["x"] = ones(2) });
        SafetensorsWriter.Write(Path.Combine(dir, "b.safetensors"), new Dictionary<string, Tensor> { ["y"] = zeros(3) });
        File.WriteAllText(Path.Combine(dir, Checkpoint.IndexFileName), "{\"metadata\":{},\"weight_map\":{\"x\":\"a.safetensors\",\"y\":\"b.safetensors\"}}");
        using var ckpt = Checkpoint.Open(dir);
        Assert.Equal(2, ckpt.Keys.Count);
        using var y = ckpt.Read("y");
        Assert.Equal(new long[] { 3 }, y.shape);
    }

    [Fact]
    public void IndexNamingAMissingShardFails()
    {
        string dir = TestPaths.NewTempDir();
        File.WriteAllText(Path.Combine(dir, Checkpoint.IndexFileName), "{\"weight_map\":{\"x\":\"gone.safetensors\"}}");
        var e = Assert.Throws<CheckpointFormatException>(() => Checkpoint.Open(dir).Dispose());
        Assert.Contains("gone.safetensors", e.Message);
    }

    [Fact]
    public void RequireKeysListsMissingAndUnexpected()
    {
        using var ckpt = Checkpoint.Open(TestPaths.Golden("llava"));
        var expected = ckpt.Keys.Where(k => k != "language_model.lm_head.weight").Append("made.up.key").ToList();
        var e = Assert.Throws<CheckpointFormatException>(() => ckpt.RequireKeys(expected));
        Assert.Contains("1 missing keys: made.up.key", e.Message);
        Assert.Contains("1 unexpected keys: language_model.lm_head.weight", e.Message);
    }
}
