using System.Security.Cryptography;

namespace UniPrune.Engine.Core;

/// <summary>Identity stamps for results: what exactly produced a number, cheap enough to compute at every load.</summary>
public static class Fingerprints
{
    /// <summary>Lower-case hex sha256 of a whole (small) file such as config.json.</summary>
    public static string OfFile(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path))).ToLowerInvariant();

    /// <summary>
    /// sha256 over each weight file's safetensors header (names, dtypes, shapes, offsets) and length — not the
    /// gigabytes of data, yet it changes with any re-save. A source is a .safetensors file or an index .json
    /// (then every .safetensors beside it, in ordinal name order).
    /// </summary>
    public static string OfSafetensors(IEnumerable<string> sources)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var source in sources)
        {
            var files = source.EndsWith(".json", StringComparison.OrdinalIgnoreCase)
                ? Directory.GetFiles(Path.GetDirectoryName(Path.GetFullPath(source))!, "*.safetensors").Order(StringComparer.Ordinal).ToArray()
                : [source];
            foreach (var file in files)
            {
                using var stream = File.OpenRead(file);
                var lengthBytes = new byte[8];
                stream.ReadExactly(lengthBytes);
                var header = new byte[Math.Min(BitConverter.ToInt64(lengthBytes), 100_000_000)];
                stream.ReadExactly(header);
                sha.AppendData(lengthBytes); sha.AppendData(header); sha.AppendData(BitConverter.GetBytes(stream.Length));
            }
        }
        return Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant();
    }
}
