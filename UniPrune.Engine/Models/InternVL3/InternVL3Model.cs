using UniPrune.Engine.Core;
using UniPrune.Engine.Models.Abstractions;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace UniPrune.Engine.Models.InternVL3;

/// <summary>What the vision side produced for a batch of tiles.</summary>
/// <param name="SelectedFeatures">hidden_states[select_layer] without the CLS row (tiles, patches, C).</param>
/// <param name="HiddenStates">Only when asked: [0] = embeddings, [k] = output of layer k−1 (each (tiles, 1+patches, C)).</param>
/// <param name="ClsAttentionPerHead">Only when asked: the selected layer's softmax attention from the CLS query to every
/// position including CLS itself (tiles, heads, 1+patches), computed from that layer's own q/k.</param>
public sealed record InternVitOutput(Tensor SelectedFeatures, IReadOnlyList<Tensor>? HiddenStates, Tensor? ClsAttentionPerHead) : IDisposable
{
    public void Dispose()
    {
        SelectedFeatures.Dispose();
        ClsAttentionPerHead?.Dispose();
        if (HiddenStates is not null) foreach (var h in HiddenStates) h.Dispose();
    }
}

/// <summary>How one image was tiled: local crops in row-major order, then the whole-image thumbnail when there is more than one crop.</summary>
public sealed record InternVLImageTiles(int LocalTiles, bool HasThumbnail)
{
    public int Total => LocalTiles + (HasThumbnail ? 1 : 0);
}

/// <summary>Ids of InternVL's image tokens and turn end, read from the tokenizer (they are not in config.json).</summary>
public sealed record InternVL3SpecialTokens(long ImageContext, long ImageStart, long ImageEnd, long EndOfTurn);

/// <summary>
/// InternVL3 (OpenGVLab remote code, <c>InternVLChatModel</c>): InternViT → pixel shuffle → mlp1 → Qwen2.
/// Weight fields are named after their checkpoint keys (remote-code naming; other layouts are mapped by
/// <see cref="CheckpointWeights"/>).
/// </summary>
public sealed partial class InternVL3Model : IDisposable
{
    public InternVL3Config Config { get; }
    public ScalarType DType { get; }
    public Device Device { get; }

    private readonly InternVisionModel vision_model;
    private readonly Mlp1Projector mlp1;
    private readonly Qwen2Weights language_model;
    private readonly List<Tensor> _owned = [];

    private InternVL3Model(InternVL3Config config, IInternVL3Weights weights, ScalarType dtype, Device device)
    {
        Config = config; DType = dtype; Device = device;
        Tensor Take(string key, params long[] shape)
        {
            var t = weights.Take(key, shape);
            _owned.Add(t);
            return t;
        }
        vision_model = new InternVisionModel(config.Vision, config.VisionLayersToRun, Take);
        mlp1 = new Mlp1Projector(config.ProjectorInputSize, config.Language.HiddenSize, Take);
        language_model = new Qwen2Weights(config.Language, Take);
    }

    /// <summary>Loads config.json and the weights (remote-code or -hf layout) from a model folder; the load is strict.</summary>
    public static InternVL3Model Load(string folder, ScalarType dtype, Device device)
    {
        var config = InternVL3Config.Load(folder);
        using var checkpoint = Checkpoint.Open(folder);
        var weights = new CheckpointWeights(checkpoint, dtype, device);
        var model = new InternVL3Model(config, weights, dtype, device);
        try { weights.RequireAllConsumed(); }
        catch { model.Dispose(); throw; }
        return model;
    }

    /// <summary>Builds the full skeleton on the meta device (no memory); <paramref name="shapes"/> lists every weight it asked for.</summary>
    public static InternVL3Model OnMeta(InternVL3Config config, ScalarType dtype, out IReadOnlyList<(string Key, long[] Shape)> shapes)
    {
        var meta = new MetaWeights(dtype);
        var model = new InternVL3Model(config, meta, dtype, META);
        shapes = meta.Taken;
        return model;
    }

    // ----------------------------------------------------------------------------------------------------------
    // Vision: InternViT, pixel shuffle, mlp1
    // ----------------------------------------------------------------------------------------------------------

    /// <summary>Runs InternViT on normalised tiles (tiles, 3, S, S) up to the selected layer.</summary>
    public InternVitOutput EncodeTiles(Tensor pixelValues, bool keepHiddenStates = false, bool clsAttention = false)
    {
        if (pixelValues.dim() != 4 || pixelValues.shape[1] != Config.Vision.NumChannels)
            throw new ArgumentException($"pixel values must be (tiles, {Config.Vision.NumChannels}, H, W); got [{string.Join(", ", pixelValues.shape)}]");
        using var scope = NewDisposeScope();
        using var _ = inference_mode();
        var output = vision_model.Forward(pixelValues.to(DType, Device), keepHiddenStates, clsAttention);
        output.SelectedFeatures.MoveToOuterDisposeScope();
        output.ClsAttentionPerHead?.MoveToOuterDisposeScope();
        if (output.HiddenStates is not null) foreach (var h in output.HiddenStates) h.MoveToOuterDisposeScope();
        return output;
    }

    /// <summary>
    /// Pixel shuffle with scale 0.5: (tiles, g², C) → (tiles, (g/2)², 4C). Token (i, j) of the merged grid is the
    /// concatenation of patches (2i,2j), (2i,2j+1), (2i+1,2j), (2i+1,2j+1) for ps_version v2; v1 leaves the merged grid
    /// transposed (the reference's own warning), which is kept for fidelity with v1 checkpoints.
    /// </summary>
    public Tensor PixelShuffle(Tensor features)
    {
        using var scope = NewDisposeScope();
        long tiles = features.shape[0], patches = features.shape[1], channels = features.shape[2];
        long side = (long)Math.Round(Math.Sqrt(patches));
        if (side * side != patches || side % 2 != 0)
            throw new ArgumentException($"pixel shuffle needs an even square patch grid; got {patches} patches per tile");
        // The reference names the axes (n, w, h, c), but the rows of a row-major patch grid come first.
        var x = features.reshape(tiles, side, side / 2, channels * 2)   // merge column pairs
            .permute(0, 2, 1, 3).contiguous()
            .view(tiles, side / 2, side / 2, channels * 4);             // merge row pairs
        if (Config.PixelShuffleVersion == "v2") x = x.permute(0, 2, 1, 3).contiguous();
        return x.reshape(tiles, -1, channels * 4).MoveToOuterDisposeScope();
    }

    /// <summary>mlp1: LayerNorm(eps 1e-5) → Linear → GELU → Linear, per merged token.</summary>
    public Tensor Project(Tensor shuffled)
    {
        using var scope = NewDisposeScope();
        using var _ = inference_mode();
        return mlp1.Forward(shuffled.to(DType, Device)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// CLS attention of the selected ViT layer, head mean, summed over the 4 patches of each pixel-shuffle group:
    /// (tiles, heads, 1+P) → (tiles·P/4), in the order of the visual tokens (tile-major, merged grid row-major).
    /// </summary>
    public static Tensor PoolClsAttentionPerGroup(Tensor clsAttentionPerHead)
    {
        using var scope = NewDisposeScope();
        long tiles = clsAttentionPerHead.shape[0], patches = clsAttentionPerHead.shape[2] - 1;
        long side = (long)Math.Round(Math.Sqrt(patches));
        var perPatch = clsAttentionPerHead[.., .., 1..].mean([1]);            // (tiles, P): drop CLS→CLS, head mean
        return perPatch.reshape(tiles, side / 2, 2, side / 2, 2)              // (tile, i, row in group, j, col in group)
            .sum([2, 4]).reshape(-1).MoveToOuterDisposeScope();
    }

    // ----------------------------------------------------------------------------------------------------------
    // Prompt splicing
    // ----------------------------------------------------------------------------------------------------------

    /// <summary>
    /// Where the visual tokens sit: every <c>&lt;IMG_CONTEXT&gt;</c> row, tile-major, thumbnail last. Pruning units follow
    /// methods.md §1.5: a single-tile image is one unit; otherwise the local tiles form one unit and the thumbnail another.
    /// </summary>
    public VisualLayout LayoutOf(IReadOnlyList<long> inputIds, IReadOnlyList<InternVLImageTiles> images, long imageContextId)
    {
        var rows = new List<long>();
        for (int i = 0; i < inputIds.Count; i++) if (inputIds[i] == imageContextId) rows.Add(i);
        int perTile = Config.ImageTokensPerTile, side = Config.TokenGrid;
        int expected = images.Sum(im => im.Total) * perTile;
        if (rows.Count != expected)
            throw new ArgumentException($"the prompt has {rows.Count} <IMG_CONTEXT> tokens (id {imageContextId}) but {images.Count} image(s) with {images.Sum(im => im.Total)} tiles need {expected}");
        var units = new List<VisualUnit>();
        int offset = 0;
        for (int image = 0; image < images.Count; image++)
        {
            var tiles = images[image];
            if (tiles.Total == 1)
                units.Add(new VisualUnit(VisualUnitKind.Image, image, offset, perTile, side, side));
            else
            {
                if (tiles.LocalTiles > 0)
                    units.Add(new VisualUnit(VisualUnitKind.LocalTiles, image, offset, perTile * tiles.LocalTiles, side, side, tiles.LocalTiles));
                if (tiles.HasThumbnail)
                    units.Add(new VisualUnit(VisualUnitKind.Thumbnail, image, offset + perTile * tiles.LocalTiles, perTile, side, side));
            }
            offset += perTile * tiles.Total;
        }
        return new VisualLayout(units, rows, inputIds.Count);
    }

    /// <summary>Token embeddings with the visual embeddings (N, d) written, in order, over the <c>&lt;IMG_CONTEXT&gt;</c> rows.</summary>
    public Tensor SpliceEmbeddings(Tensor inputIds, Tensor visualEmbeddings, VisualLayout layout)
    {
        using var scope = NewDisposeScope();
        using var _ = inference_mode();
        var embeddings = language_model.embed_tokens.index_select(0, inputIds.reshape(-1).to(Device)).clone();
        if (visualEmbeddings.shape[0] != layout.Count)
            throw new ArgumentException($"{visualEmbeddings.shape[0]} visual embeddings for {layout.Count} <IMG_CONTEXT> rows");
        var rows = tensor(layout.SequenceIndices.ToArray(), ScalarType.Int64, Device);
        embeddings.index_copy_(0, rows, visualEmbeddings.to(DType, Device));
        return embeddings.MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        foreach (var t in _owned) t.Dispose();
        _owned.Clear();
    }

    // ----------------------------------------------------------------------------------------------------------
    // Building blocks. Field names follow the checkpoint keys under their module.
    // ----------------------------------------------------------------------------------------------------------

    internal delegate Tensor WeightTaker(string key, params long[] shape);

    /// <summary>y = x·Wᵀ + b.</summary>
    private sealed class Linear(WeightTaker take, string prefix, long inFeatures, long outFeatures, bool bias)
    {
        private readonly Tensor weight = take(prefix + ".weight", outFeatures, inFeatures);
        private readonly Tensor? bias_ = bias ? take(prefix + ".bias", outFeatures) : null;
        public Tensor Forward(Tensor x) => F.linear(x, weight, bias_);
    }

    /// <summary>LayerNorm (weight, bias) or InternRMSNorm (weight only; mean of squares in float32, then cast back and scale).</summary>
    private sealed class Norm
    {
        private readonly Tensor weight;
        private readonly Tensor? bias;
        private readonly double eps;
        private readonly bool rms;

        public Norm(WeightTaker take, string prefix, long size, bool rms, double eps)
        {
            this.rms = rms; this.eps = eps;
            weight = take(prefix + ".weight", size);
            bias = rms ? null : take(prefix + ".bias", size);
        }

        public Tensor Forward(Tensor x)
        {
            if (!rms) return F.layer_norm(x, [weight.shape[0]], weight, bias, eps);
            using var scope = NewDisposeScope();
            var x32 = x.to_type(ScalarType.Float32);
            var normed = x32 * rsqrt(x32.pow(2).mean([-1], keepdim: true) + eps);
            return (weight * normed.to_type(x.dtype)).MoveToOuterDisposeScope();
        }
    }

    private sealed class InternVisionModel
    {
        private readonly InternVisionConfig config;
        private readonly Tensor class_embedding;        // (1, 1, C)
        private readonly Tensor patch_embedding_weight; // (C, 3, p, p)
        private readonly Tensor patch_embedding_bias;   // (C)
        private readonly Tensor position_embedding;     // (1, 1 + g², C)
        private readonly InternVisionEncoderLayer[] layers;

        public InternVisionModel(InternVisionConfig config, int layersToRun, WeightTaker take)
        {
            this.config = config;
            long c = config.HiddenSize, g = config.GridSize;
            class_embedding = take("vision_model.embeddings.class_embedding", 1, 1, c);
            patch_embedding_weight = take("vision_model.embeddings.patch_embedding.weight", c, config.NumChannels, config.PatchSize, config.PatchSize);
            patch_embedding_bias = take("vision_model.embeddings.patch_embedding.bias", c);
            position_embedding = take("vision_model.embeddings.position_embedding", 1, 1 + g * g, c);
            // Every layer's weights are in the checkpoint, but only those up to select_layer are run.
            layers = Enumerable.Range(0, config.NumHiddenLayers)
                .Select(i => new InternVisionEncoderLayer(config, $"vision_model.encoder.layers.{i}", take)).ToArray();
            LayersToRun = layersToRun;
        }

        public int LayersToRun { get; }

        public InternVitOutput Forward(Tensor pixelValues, bool keepHiddenStates, bool clsAttention)
        {
            var x = Embed(pixelValues);
            var hidden = keepHiddenStates ? new List<Tensor> { x } : null;
            Tensor? cls = null;
            for (int i = 0; i < LayersToRun; i++)
            {
                bool selected = i == LayersToRun - 1;
                x = layers[i].Forward(x, clsAttention && selected ? a => cls = a : null);
                hidden?.Add(x);
            }
            return new InternVitOutput(x[.., 1..], hidden, cls);
        }

        private Tensor Embed(Tensor pixelValues)
        {
            var patches = F.conv2d(pixelValues, patch_embedding_weight, patch_embedding_bias, strides: [config.PatchSize, config.PatchSize]);
            long tiles = patches.shape[0], rows = patches.shape[2], cols = patches.shape[3];
            var tokens = patches.flatten(2).transpose(1, 2);                                      // (tiles, rows·cols, C), row-major
            var cls = class_embedding.expand(tiles, 1, -1);
            var positions = cat([position_embedding[.., ..1], PatchPositions(rows, cols)], 1);
            return cat([cls, tokens], 1) + positions;
        }

        // The patch position table is trained for a g×g grid; other grids get the reference's bicubic resize in float32.
        private Tensor PatchPositions(long rows, long cols)
        {
            var table = position_embedding[.., 1..];
            long g = config.GridSize;
            if (rows == g && cols == g) return table;
            var grid = table.to_type(ScalarType.Float32).reshape(1, g, g, -1).permute(0, 3, 1, 2);
            var resized = F.interpolate(grid, size: [rows, cols], mode: InterpolationMode.Bicubic, align_corners: false);
            return resized.reshape(1, -1, rows * cols).permute(0, 2, 1).to_type(table.dtype);
        }
    }

    private sealed class InternVisionEncoderLayer
    {
        private readonly Norm norm1, norm2;
        private readonly InternAttention attn;
        private readonly Linear mlp_fc1, mlp_fc2;
        private readonly Tensor ls1, ls2;

        public InternVisionEncoderLayer(InternVisionConfig config, string prefix, WeightTaker take)
        {
            long c = config.HiddenSize;
            bool rms = config.NormType == InternVitNorm.RmsNorm;
            norm1 = new Norm(take, prefix + ".norm1", c, rms, config.LayerNormEps);
            attn = new InternAttention(config, prefix + ".attn", take);
            ls1 = take(prefix + ".ls1", c);
            norm2 = new Norm(take, prefix + ".norm2", c, rms, config.LayerNormEps);
            mlp_fc1 = new Linear(take, prefix + ".mlp.fc1", c, config.IntermediateSize, bias: true);
            mlp_fc2 = new Linear(take, prefix + ".mlp.fc2", config.IntermediateSize, c, bias: true);
            ls2 = take(prefix + ".ls2", c);
        }

        public Tensor Forward(Tensor x, Action<Tensor>? clsAttentionSink)
        {
            x = x + attn.Forward(norm1.Forward(x), clsAttentionSink) * ls1;
            return x + mlp_fc2.Forward(F.gelu(mlp_fc1.Forward(norm2.Forward(x)))) * ls2;
        }
    }

    private sealed class InternAttention
    {
        private readonly int heads, headDim;
        private readonly Linear qkv, proj;
        private readonly Norm? q_norm, k_norm;

        public InternAttention(InternVisionConfig config, string prefix, WeightTaker take)
        {
            heads = config.NumAttentionHeads; headDim = config.HeadDim;
            long c = config.HiddenSize;
            qkv = new Linear(take, prefix + ".qkv", c, 3 * c, config.QkvBias);
            // The reference's qk-norm is InternRMSNorm over the whole C-wide q (and k) vector, whatever norm_type says.
            if (config.QkNormalization)
            {
                q_norm = new Norm(take, prefix + ".q_norm", c, rms: true, config.LayerNormEps);
                k_norm = new Norm(take, prefix + ".k_norm", c, rms: true, config.LayerNormEps);
            }
            proj = new Linear(take, prefix + ".proj", c, c, bias: true);
        }

        public Tensor Forward(Tensor x, Action<Tensor>? clsAttentionSink)
        {
            long b = x.shape[0], n = x.shape[1], c = x.shape[2];
            var parts = qkv.Forward(x).view(b, n, 3, heads, headDim).permute(2, 0, 3, 1, 4); // (3, b, heads, n, hd): rows q, k, v
            Tensor q = parts[0], k = parts[1], v = parts[2];
            if (q_norm is not null)
            {
                q = q_norm.Forward(q.transpose(1, 2).flatten(-2)).view(b, n, heads, headDim).transpose(1, 2);
                k = k_norm!.Forward(k.transpose(1, 2).flatten(-2)).view(b, n, heads, headDim).transpose(1, 2);
            }
            if (clsAttentionSink is not null)
            {
                // Only the CLS query row is needed (VisPruner/PruMerge evidence); scale q before the product like the reference.
                var logits = matmul(q[.., .., ..1] * (1.0 / Math.Sqrt(headDim)), k.transpose(-2, -1));
                clsAttentionSink(logits.softmax(-1, ScalarType.Float32).squeeze(2));
            }
            var context = F.scaled_dot_product_attention(q, k, v);                            // bidirectional, scale 1/√hd
            return proj.Forward(context.transpose(1, 2).reshape(b, n, c));
        }
    }

    /// <summary>The Qwen2 tensors under <c>language_model.</c> (remote-code naming; -hf uses the same names).</summary>
    private sealed class Qwen2Weights
    {
        public readonly Tensor embed_tokens, norm, lm_head;
        public readonly Qwen2LayerWeights[] layers;

        public Qwen2Weights(InternVLLanguageConfig config, WeightTaker take)
        {
            long d = config.HiddenSize, v = config.VocabSize;
            embed_tokens = take("language_model.model.embed_tokens.weight", v, d);
            layers = Enumerable.Range(0, config.NumHiddenLayers)
                .Select(i => new Qwen2LayerWeights(config, $"language_model.model.layers.{i}", take)).ToArray();
            norm = take("language_model.model.norm.weight", d);
            lm_head = config.TieWordEmbeddings ? embed_tokens : take("language_model.lm_head.weight", v, d);
        }
    }

    private sealed class Qwen2LayerWeights(InternVLLanguageConfig config, string prefix, WeightTaker take)
    {
        public readonly Tensor input_layernorm = take(prefix + ".input_layernorm.weight", config.HiddenSize);
        public readonly Tensor q_proj_weight = take(prefix + ".self_attn.q_proj.weight", (long)config.NumAttentionHeads * config.HeadDim, config.HiddenSize);
        public readonly Tensor q_proj_bias = take(prefix + ".self_attn.q_proj.bias", (long)config.NumAttentionHeads * config.HeadDim);
        public readonly Tensor k_proj_weight = take(prefix + ".self_attn.k_proj.weight", (long)config.NumKeyValueHeads * config.HeadDim, config.HiddenSize);
        public readonly Tensor k_proj_bias = take(prefix + ".self_attn.k_proj.bias", (long)config.NumKeyValueHeads * config.HeadDim);
        public readonly Tensor v_proj_weight = take(prefix + ".self_attn.v_proj.weight", (long)config.NumKeyValueHeads * config.HeadDim, config.HiddenSize);
        public readonly Tensor v_proj_bias = take(prefix + ".self_attn.v_proj.bias", (long)config.NumKeyValueHeads * config.HeadDim);
        public readonly Tensor o_proj_weight = take(prefix + ".self_attn.o_proj.weight", config.HiddenSize, (long)config.NumAttentionHeads * config.HeadDim);
        public readonly Tensor post_attention_layernorm = take(prefix + ".post_attention_layernorm.weight", config.HiddenSize);
        public readonly Tensor gate_proj = take(prefix + ".mlp.gate_proj.weight", config.IntermediateSize, config.HiddenSize);
        public readonly Tensor up_proj = take(prefix + ".mlp.up_proj.weight", config.IntermediateSize, config.HiddenSize);
        public readonly Tensor down_proj = take(prefix + ".mlp.down_proj.weight", config.HiddenSize, config.IntermediateSize);
    }

    /// <summary>mlp1 = Sequential(LayerNorm, Linear, GELU, Linear): keys mlp1.0, mlp1.1, mlp1.3.</summary>
    private sealed class Mlp1Projector(long inFeatures, long hidden, WeightTaker take)
    {
        // nn.LayerNorm's default eps (1e-5), not the ViT's layer_norm_eps.
        private readonly Norm layer_norm = new(take, "mlp1.0", inFeatures, rms: false, eps: 1e-5);
        private readonly Linear linear_1 = new(take, "mlp1.1", inFeatures, hidden, bias: true);
        private readonly Linear linear_2 = new(take, "mlp1.3", hidden, hidden, bias: true);

        public Tensor Forward(Tensor x) => linear_2.Forward(F.gelu(linear_1.Forward(layer_norm.Forward(x))));
    }
}
