using System.IO.MemoryMappedFiles;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace UniPrune.Engine.Core;

/// <summary>Element types a safetensors header may name.</summary>
public enum SafetensorsDType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, Bool }

/// <summary>One tensor's header entry; offsets are relative to the data section.</summary>
public sealed record SafetensorsEntry(string Name, SafetensorsDType DType, long[] Shape, long Begin, long End)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// A memory-mapped .safetensors file. The header is validated completely when the file is opened
/// (offsets in range, no overlap, byte counts equal shape × dtype); tensor bytes are only touched when read.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    private readonly long _dataStart;

    public string Path { get; }
    public IReadOnlyDictionary<string, SafetensorsEntry> Entries { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    private SafetensorsFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* basePtr,
        long dataStart, Dictionary<string, SafetensorsEntry> entries, Dictionary<string, string> metadata)
    {
        Path = path; _map = map; _view = view; _base = basePtr; _dataStart = dataStart;
        Entries = entries; Metadata = metadata;
    }

    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: safetensors file not found", path);
        PickleGuard.RefuseIfPickle(path);
        long fileLength = new FileInfo(path).Length;
        if (fileLength < 8)
            throw new CheckpointFormatException(path, $"truncated: {fileLength} bytes, but a safetensors file starts with an 8-byte header length");
        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        var view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* ptr = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref ptr);
        ptr += view.PointerOffset;
        try
        {
            ulong headerLength = *(ulong*)ptr; // little-endian on every platform we run
            if (headerLength > (ulong)(fileLength - 8))
                throw new CheckpointFormatException(path, $"header length {headerLength} runs beyond the file ({fileLength} bytes): the file is truncated or not safetensors");
            var header = new ReadOnlySpan<byte>(ptr + 8, checked((int)headerLength));
            long dataStart = 8 + (long)headerLength;
            var (entries, metadata) = ParseHeader(path, header, fileLength - dataStart);
            return new SafetensorsFile(path, map, view, ptr, dataStart, entries, metadata);
        }
        catch
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
            view.Dispose(); map.Dispose();
            throw;
        }
    }

    private static (Dictionary<string, SafetensorsEntry>, Dictionary<string, string>) ParseHeader(string path, ReadOnlySpan<byte> header, long dataLength)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(header.ToArray()); }
        catch (JsonException e) { throw new CheckpointFormatException(path, $"header is not valid JSON ({e.Message})"); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new CheckpointFormatException(path, "header must be a JSON object of tensor name → {dtype, shape, data_offsets}");
            var entries = new Dictionary<string, SafetensorsEntry>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind == JsonValueKind.Object)
                        foreach (var m in prop.Value.EnumerateObject()) metadata[m.Name] = m.Value.ToString();
                    continue;
                }
                entries[prop.Name] = ParseEntry(path, prop.Name, prop.Value, dataLength);
            }
            SafetensorsEntry? previous = null;
            foreach (var e in entries.Values.OrderBy(e => e.Begin).ThenBy(e => e.End))
            {
                if (previous is not null && e.Begin < previous.End && e.End > e.Begin)
                    throw new CheckpointFormatException(path, $"tensors '{previous.Name}' [{previous.Begin},{previous.End}) and '{e.Name}' [{e.Begin},{e.End}) overlap");
                if (e.End > e.Begin) previous = e;
            }
            return (entries, metadata);
        }
    }

    private static SafetensorsEntry ParseEntry(string path, string name, JsonElement value, long dataLength)
    {
        string Where(string field) => $"tensor '{name}' field '{field}'";
        if (value.ValueKind != JsonValueKind.Object)
            throw new CheckpointFormatException(path, $"tensor '{name}': expected an object with dtype, shape, data_offsets");
        if (!value.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw new CheckpointFormatException(path, $"{Where("dtype")}: missing; expected a string such as \"F32\" or \"BF16\"");
        var dtype = ParseDType(dt.GetString()!) ?? throw new CheckpointFormatException(path,
            $"{Where("dtype")}: unknown dtype \"{dt.GetString()}\"; expected one of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL");
        if (!value.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array)
            throw new CheckpointFormatException(path, $"{Where("shape")}: missing; expected an array of non-negative integers");
        var shape = new long[sh.GetArrayLength()];
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long v) || v < 0)
                throw new CheckpointFormatException(path, $"{Where("shape")}: {sh}; expected non-negative integers");
            shape[i++] = v;
        }
        if (!value.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw new CheckpointFormatException(path, $"{Where("data_offsets")}: missing; expected [begin, end]");
        if (!off[0].TryGetInt64(out long begin) || !off[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw new CheckpointFormatException(path, $"{Where("data_offsets")}: {off}; expected 0 <= begin <= end");
        if (end > dataLength)
            throw new CheckpointFormatException(path, $"{Where("data_offsets")}: [{begin},{end}) lies beyond the data section ({dataLength} bytes): the file is truncated");
        var entry = new SafetensorsEntry(name, dtype, shape, begin, end);
        long expected = checked(entry.ElementCount * ElementSize(dtype));
        if (end - begin != expected)
            throw new CheckpointFormatException(path, $"tensor '{name}': {end - begin} bytes, but shape [{string.Join(",", shape)}] × {dtype} needs {expected}");
        return entry;
    }

    private static SafetensorsDType? ParseDType(string s) => s switch
    {
        "F64" => SafetensorsDType.F64, "F32" => SafetensorsDType.F32, "F16" => SafetensorsDType.F16,
        "BF16" => SafetensorsDType.BF16, "I64" => SafetensorsDType.I64, "I32" => SafetensorsDType.I32,
        "I16" => SafetensorsDType.I16, "I8" => SafetensorsDType.I8, "U8" => SafetensorsDType.U8,
        "BOOL" => SafetensorsDType.Bool, _ => null,
    };

    public static int ElementSize(SafetensorsDType d) => d switch
    {
        SafetensorsDType.F64 or SafetensorsDType.I64 => 8,
        SafetensorsDType.F32 or SafetensorsDType.I32 => 4,
        SafetensorsDType.F16 or SafetensorsDType.BF16 or SafetensorsDType.I16 => 2,
        _ => 1,
    };

    public static ScalarType ToScalarType(SafetensorsDType d) => d switch
    {
        SafetensorsDType.F64 => ScalarType.Float64, SafetensorsDType.F32 => ScalarType.Float32,
        SafetensorsDType.F16 => ScalarType.Float16, SafetensorsDType.BF16 => ScalarType.BFloat16,
        SafetensorsDType.I64 => ScalarType.Int64, SafetensorsDType.I32 => ScalarType.Int32,
        SafetensorsDType.I16 => ScalarType.Int16, SafetensorsDType.I8 => ScalarType.Int8,
        SafetensorsDType.U8 => ScalarType.Byte, _ => ScalarType.Bool,
    };

    public bool Contains(string name) => Entries.ContainsKey(name);

    /// <summary>Copies one tensor out of the mapping, optionally converting dtype and moving it to a device.</summary>
    public Tensor Read(string name, ScalarType? dtype = null, Device? device = null)
    {
        if (!Entries.TryGetValue(name, out var e))
            throw new KeyNotFoundException($"{Path}: no tensor named '{name}'");
        long length = e.End - e.Begin;
        if (length > int.MaxValue)
            throw new CheckpointFormatException(Path, $"tensor '{name}' has {length} bytes; tensors of 2 GiB or more are not supported by this reader");
        var t = torch.empty(e.Shape, ToScalarType(e.DType));
        if (length > 0) new ReadOnlySpan<byte>(_base + _dataStart + e.Begin, (int)length).CopyTo(t.bytes);
        if ((dtype is { } want && want != t.dtype) || (device is not null && device.type != DeviceType.CPU))
        {
            var moved = t.to(dtype ?? t.dtype, device ?? t.device);
            t.Dispose();
            return moved;
        }
        return t;
    }

    public void Dispose()
    {
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
