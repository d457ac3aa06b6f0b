namespace UniPrune.Engine.Core;

/// <summary>
/// Refuses pickle-based checkpoints (.bin/.pt/.pth/.ckpt, or such bytes under another name): unpickling runs
/// arbitrary code, so we never load them. Convert them to safetensors with the model's own tooling first.
/// </summary>
public static class PickleGuard
{
    public static readonly string[] PickleExtensions = [".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle"];

    public static void RefuseIfPickle(string path)
    {
        string ext = System.IO.Path.GetExtension(path).ToLowerInvariant();
        if (PickleExtensions.Contains(ext))
            throw Refusal(path, $"'{ext}' is a pickle checkpoint format");
        Span<byte> head = stackalloc byte[9];
        using var f = File.OpenRead(path);
        int n = f.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        // A safetensors file is an 8-byte header length followed by '{'; its length bytes can look like a pickle header
        // (e.g. 0x480 = bytes 80 04), so only files that are not safetensors-shaped are checked for pickle.
        bool safetensorsShaped = n >= 9 && head[8] == (byte)'{';
        // Pickle protocol 2+ starts with 0x80 <proto>; torch.save's zip container starts with "PK\x03\x04".
        if (!safetensorsShaped && n >= 2 && head[0] == 0x80 && head[1] is >= 2 and <= 5)
            throw Refusal(path, "the file starts with a pickle protocol header");
        if (n >= 4 && head[0] == (byte)'P' && head[1] == (byte)'K' && head[2] == 3 && head[3] == 4)
            throw Refusal(path, "the file is a zip archive (torch.save format), not safetensors");
    }

    private static CheckpointFormatException Refusal(string path, string why) =>
        new(path, $"refusing to load: {why}. Pickle can execute arbitrary code when loaded; convert the checkpoint to .safetensors first.");
}
