using System.Text;
using System.Text.Json;
using static TorchSharp.torch;

namespace UniPrune.Engine.Training;

/// <summary>
/// Writes named tensors as one safetensors file (8-byte little-endian header length, JSON header with dtype, shape and
/// data_offsets, then the raw little-endian bytes), the format Hugging Face's save_pretrained produces.
/// </summary>
public static class SafetensorsWriter
{
    /// <param name="dtype">float32 or bfloat16: what every tensor is stored as.</param>
    public static void Write(string path, IReadOnlyList<(string Name, Tensor Value)> tensors, ScalarType dtype, IReadOnlyDictionary<string, string>? metadata = null)
    {
        string code = dtype switch
        {
            ScalarType.Float32 => "F32",
            ScalarType.BFloat16 => "BF16",
            _ => throw new ArgumentException($"safetensors writer stores float32 or bfloat16, not {dtype}"),
        };
        var blobs = new List<byte[]>();
        var header = new Dictionary<string, object>();
        if (metadata is not null) header["__metadata__"] = metadata;
        long offset = 0;
        foreach (var (name, value) in tensors.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            using var stored = value.detach().to(dtype, CPU).contiguous();
            var bytes = stored.bytes.ToArray();
            header[name] = new Dictionary<string, object>
            {
                ["dtype"] = code,
                ["shape"] = stored.shape,
                ["data_offsets"] = new[] { offset, offset + bytes.Length },
            };
            blobs.Add(bytes);
            offset += bytes.Length;
        }
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        // The header is padded with spaces to a multiple of 8 bytes, as the reference writer does.
        int padded = (json.Length + 7) / 8 * 8;
        var headerBytes = new byte[padded];
        Array.Fill(headerBytes, (byte)' ');
        json.CopyTo(headerBytes, 0);
        string temp = path + ".tmp";
        using (var stream = File.Create(temp))
        {
            stream.Write(BitConverter.GetBytes((long)padded));
            stream.Write(headerBytes);
            foreach (var blob in blobs) stream.Write(blob);
        }
        File.Move(temp, path, overwrite: true);
    }
}
