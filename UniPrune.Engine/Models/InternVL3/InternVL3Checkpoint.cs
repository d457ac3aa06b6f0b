using System.Text.RegularExpressions;
using UniPrune.Engine.Core;
using static TorchSharp.torch;

namespace UniPrune.Engine.Models.InternVL3;

/// <summary>Which tensor naming a checkpoint uses.</summary>
public enum InternVL3Layout
{
    /// <summary>OpenGVLab remote code (<c>InternVLChatModel</c>): the official InternVL3-1B/8B files and the golden sets.</summary>
    RemoteCode,
    /// <summary>transformers-native <c>InternVLForConditionalGeneration</c> (<c>OpenGVLab/InternVL3-*-hf</c>): split q/k/v, renamed modules.</summary>
    HfNative,
}

/// <summary>
/// Where the model's weights come from. Keys are always the remote-code names (the model's parameter names); the
/// source maps them to its file layout and checks every shape.
/// </summary>
public interface IInternVL3Weights
{
    /// <summary>The tensor named <paramref name="key"/> (remote-code naming) with exactly <paramref name="shape"/>.</summary>
    Tensor Take(string key, params long[] shape);
}

/// <summary>
/// Reads InternVL3 weights from a checkpoint in either layout, casting to the compute dtype and moving to the
/// compute device. <see cref="RequireAllConsumed"/> then fails on any tensor the model did not ask for (strict load).
/// The -hf names follow transformers' <c>convert_internvl_weights_to_hf.py</c> as recorded in the golden
/// <c>hf_native_key_mapping.json</c>; both the converter's legacy prefixes (<c>vision_tower.</c>, <c>language_model.model.</c>)
/// and the transformers ≥ 4.52 ones (<c>model.vision_tower.</c>, <c>model.language_model.</c>, <c>lm_head.</c>) are accepted,
/// because that file's caveat says no real -hf header was checked for the prefix.
/// </summary>
public sealed class CheckpointWeights : IInternVL3Weights
{
    private readonly Checkpoint _checkpoint;
    private readonly ScalarType _dtype;
    private readonly Device _device;
    private readonly HashSet<string> _consumed = new(StringComparer.Ordinal);
    private readonly bool _newHfPrefixes;

    public InternVL3Layout Layout { get; }

    public CheckpointWeights(Checkpoint checkpoint, ScalarType dtype, Device device)
    {
        _checkpoint = checkpoint; _dtype = dtype; _device = device;
        Layout = DetectLayout(checkpoint);
        _newHfPrefixes = Layout == InternVL3Layout.HfNative && checkpoint.Contains("model.vision_tower.embeddings.cls_token");
    }

    public static InternVL3Layout DetectLayout(Checkpoint checkpoint)
    {
        if (checkpoint.Contains("vision_model.embeddings.class_embedding")) return InternVL3Layout.RemoteCode;
        if (checkpoint.Contains("vision_tower.embeddings.cls_token") || checkpoint.Contains("model.vision_tower.embeddings.cls_token"))
            return InternVL3Layout.HfNative;
        throw new CheckpointFormatException(checkpoint.Source,
            "not an InternVL3 checkpoint: expected 'vision_model.embeddings.class_embedding' (remote-code layout) or 'vision_tower.embeddings.cls_token' / 'model.vision_tower.embeddings.cls_token' (-hf layout)");
    }

    public Tensor Take(string key, params long[] shape)
    {
        Tensor loaded;
        if (Layout == InternVL3Layout.HfNative && HfKeyMap.FusedQkv.Match(key) is { Success: true } qkv)
        {
            // -hf splits the fused qkv rows into q, k, v; concatenating them in that order restores the fused tensor.
            var parts = HfKeyMap.SplitQkvNames(qkv).Select(ReadRaw).ToArray();
            loaded = cat(parts, 0);
            foreach (var p in parts) p.Dispose();
        }
        else
        {
            loaded = ReadRaw(Layout == InternVL3Layout.RemoteCode ? key : HfKeyMap.ToHfName(key));
        }
        if (!loaded.shape.SequenceEqual(shape))
        {
            var actual = loaded.shape; loaded.Dispose();
            throw new CheckpointFormatException(_checkpoint.Source,
                $"tensor '{key}' has shape [{string.Join(", ", actual)}] but the config implies [{string.Join(", ", shape)}]");
        }
        return loaded;
    }

    private Tensor ReadRaw(string legacyName)
    {
        string name = _newHfPrefixes ? HfKeyMap.ToNewPrefix(legacyName) : legacyName;
        if (!_checkpoint.Contains(name))
            throw new CheckpointFormatException(_checkpoint.Source, $"missing tensor '{name}' ({Layout} layout)");
        _consumed.Add(name);
        return _checkpoint.Read(name, _dtype, _device);
    }

    /// <summary>Fails naming every checkpoint tensor the model did not read (a strict load).</summary>
    public void RequireAllConsumed()
    {
        var unused = _checkpoint.Keys.Where(k => !_consumed.Contains(k)).Order(StringComparer.Ordinal).ToList();
        if (unused.Count > 0)
            throw new CheckpointFormatException(_checkpoint.Source,
                $"{unused.Count} tensors were not used by the model built from the config (wrong config or layout?): {string.Join(", ", unused.Take(20))}");
    }
}

/// <summary>Remote-code name → -hf name, per transformers' <c>convert_internvl_weights_to_hf.py</c>.</summary>
public static class HfKeyMap
{
    internal static readonly Regex FusedQkv = new(@"^vision_model\.encoder\.layers\.(\d+)\.attn\.qkv\.(weight|bias)$", RegexOptions.Compiled);

    // Order matters: the first matching prefix wins.
    private static readonly (string Remote, string Hf)[] VisionRenames =
    [
        ("vision_model.embeddings.class_embedding", "vision_tower.embeddings.cls_token"),
        ("vision_model.embeddings.patch_embedding.", "vision_tower.embeddings.patch_embeddings.projection."),
        ("vision_model.embeddings.position_embedding", "vision_tower.embeddings.position_embeddings"),
    ];

    private static readonly (string Remote, string Hf)[] LayerRenames =
    [
        ("attn.proj.", "attention.projection_layer."),
        ("attn.q_norm.", "attention.q_norm."),
        ("attn.k_norm.", "attention.k_norm."),
        ("ls1", "lambda_1"),
        ("ls2", "lambda_2"),
        ("mlp.", "mlp."),
        ("norm1.", "layernorm_before."),
        ("norm2.", "layernorm_after."),
    ];

    private static readonly Regex VisionLayer = new(@"^vision_model\.encoder\.layers\.(\d+)\.(.+)$", RegexOptions.Compiled);

    /// <summary>The -hf (converter, legacy-prefix) name of a remote-code tensor; fused qkv has three names (<see cref="SplitQkvNames"/>).</summary>
    public static string ToHfName(string remote)
    {
        if (remote.StartsWith("language_model.", StringComparison.Ordinal)) return remote;
        if (remote.StartsWith("mlp1.", StringComparison.Ordinal))
        {
            string rest = remote["mlp1.".Length..];
            return rest switch
            {
                _ when rest.StartsWith("0.") => "multi_modal_projector.layer_norm." + rest[2..],
                _ when rest.StartsWith("1.") => "multi_modal_projector.linear_1." + rest[2..],
                _ when rest.StartsWith("3.") => "multi_modal_projector.linear_2." + rest[2..],
                _ => throw new ArgumentException($"no -hf name for '{remote}'"),
            };
        }
        foreach (var (r, h) in VisionRenames)
            if (remote.StartsWith(r, StringComparison.Ordinal)) return h + remote[r.Length..];
        if (VisionLayer.Match(remote) is { Success: true } m)
        {
            string layer = m.Groups[1].Value, rest = m.Groups[2].Value;
            if (FusedQkv.IsMatch(remote)) throw new ArgumentException($"'{remote}' is split into three -hf tensors; use SplitQkvNames");
            foreach (var (r, h) in LayerRenames)
                if (rest.StartsWith(r, StringComparison.Ordinal)) return $"vision_tower.encoder.layer.{layer}.{h}{rest[r.Length..]}";
        }
        throw new ArgumentException($"no -hf name for '{remote}'");
    }

    internal static string[] SplitQkvNames(Match fusedQkv)
    {
        string layer = fusedQkv.Groups[1].Value, kind = fusedQkv.Groups[2].Value;
        return new[] { "q", "k", "v" }.Select(p => $"vision_tower.encoder.layer.{layer}.attention.{p}_proj.{kind}").ToArray();
    }

    /// <summary>The -hf names a remote-code tensor becomes (three for fused qkv, one otherwise).</summary>
    public static IReadOnlyList<string> HfNamesOf(string remote) =>
        FusedQkv.Match(remote) is { Success: true } m ? SplitQkvNames(m) : [ToHfName(remote)];

    /// <summary>Converter (legacy) prefix → the prefix transformers ≥ 4.52 uses when it saves the model.</summary>
    public static string ToNewPrefix(string legacy) => legacy switch
    {
        _ when legacy.StartsWith("language_model.model.", StringComparison.Ordinal) => "model.language_model." + legacy["language_model.model.".Length..],
        "language_model.lm_head.weight" => "lm_head.weight",
        _ => "model." + legacy,
    };
}
