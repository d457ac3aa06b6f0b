using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using UniPrune.Engine.Core;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Generation;
using UniPrune.Engine.Models.Common;
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

    /// <summary>The tiling the image processor chose for one image.</summary>
    public static InternVLImageTiles Of(Imaging.InternVLImageInput image) => new(image.LocalTileCount, image.HasThumbnail);
}

/// <summary>Ids of InternVL's image tokens and turn end, read from the tokenizer (they are not in config.json).</summary>
public sealed record InternVL3SpecialTokens(long ImageContext, long ImageStart, long ImageEnd, long EndOfTurn);

/// <summary>One prompt for <see cref="InternVL3Model.Generate"/>: the normalised tiles of all its images (tile-major,
/// thumbnail last per image), how each image was tiled, and the token ids with every image already expanded to its
/// <c>&lt;IMG_CONTEXT&gt;</c> run (<see cref="InternVL3Prompt.Expand"/>).</summary>
public sealed record InternVL3Input(Tensor PixelValues, IReadOnlyList<InternVLImageTiles> Images, long[] InputIds, long ImageContextId);

/// <summary>The greedy run plus the counts and stage times a benchmark cell reports.</summary>
public sealed record InternVL3Generation(GreedyRun Run, int PromptTokens, int VisualTokens, int VisualTokensKept, StageTimings Timings) : IDisposable
{
    public void Dispose() => Run.Dispose();
}

/// <summary>Copies of every intermediate stage of one request, for the golden parity tests (costs memory).</summary>
public sealed class InternVL3Trace : IDisposable
{
    public IReadOnlyList<Tensor> VisionHiddenStates { get; private set; } = [];
    public Tensor? SelectedFeatures { get; private set; }
    public Tensor? ClsAttentionPerHead { get; private set; }
    public Tensor? PixelShuffled { get; private set; }
    public Tensor? ImageEmbeds { get; private set; }
    public Tensor? InputsEmbeds { get; private set; }
    public DecoderTrace Decoder { get; } = new();
    /// <summary>(L', V) float32 logits at every prompt row that reached the head.</summary>
    public Tensor? Logits { get; internal set; }

    internal void Record(InternVitOutput vit, Tensor shuffled, Tensor projected, Tensor inputsEmbeds)
    {
        static Tensor Keep(Tensor t) => t.clone().DetachFromDisposeScope();
        VisionHiddenStates = vit.HiddenStates?.Select(Keep).ToList() ?? [];
        SelectedFeatures = Keep(vit.SelectedFeatures);
        ClsAttentionPerHead = vit.ClsAttentionPerHead is null ? null : Keep(vit.ClsAttentionPerHead);
        PixelShuffled = Keep(shuffled);
        ImageEmbeds = Keep(projected);
        InputsEmbeds = Keep(inputsEmbeds);
    }

    public void Dispose()
    {
        foreach (var t in VisionHiddenStates) t.Dispose();
        SelectedFeatures?.Dispose(); ClsAttentionPerHead?.Dispose(); PixelShuffled?.Dispose();
        ImageEmbeds?.Dispose(); InputsEmbeds?.Dispose(); Logits?.Dispose();
        Decoder.Dispose();
    }
}

/// <summary>
/// InternVL3 (OpenGVLab remote code, <c>InternVLChatModel</c>): InternViT → pixel shuffle → mlp1 → Qwen2.
/// Weight fields are named after their checkpoint keys (remote-code naming; other layouts are mapped by
/// <see cref="CheckpointWeights"/>).
/// </summary>
public sealed class InternVL3Model : nn.Module
{
    public InternVL3Config Config { get; }
    public ScalarType DType { get; }
    public Device Device { get; }

    private readonly InternVisionModel vision_model;
    private readonly Mlp1Projector mlp1;
    private readonly CausalLanguageModel language_model;
    private readonly IRotaryEmbedding _rotary;

    /// <summary>The skeleton with uninitialised weights (on the meta device it costs nothing); <see cref="Load"/> fills it.</summary>
    public InternVL3Model(InternVL3Config config, ParameterFactory factory) : base(nameof(InternVL3Model))
    {
        Config = config; DType = factory.DType; Device = factory.Device;
        vision_model = new InternVisionModel(config.Vision, config.VisionLayersToRun, factory);
        mlp1 = new Mlp1Projector(config.ProjectorInputSize, config.Language.HiddenSize, factory);
        // The shared decoder's own "model.*" / "lm_head.*" end up under "language_model.", as in the checkpoint.
        language_model = new CausalLanguageModel(config.Language.ToDecoderConfig(), factory);
        var lc = config.Language;
        _rotary = lc.DynamicRopeFactor is double factor
            ? new DynamicNtkRotary(lc.HeadDim, lc.RopeTheta, factor, lc.MaxPositionEmbeddings)
            : new RotaryEmbedding(lc.HeadDim, lc.RopeTheta);
        RegisterComponents();
    }

    /// <summary>Loads config.json and the weights (remote-code or -hf layout) from a model folder; the load is strict.</summary>
    public static InternVL3Model Load(string folder, ScalarType dtype, Device device)
    {
        var config = InternVL3Config.Load(folder);
        using var checkpoint = Checkpoint.Open(folder);
        var model = new InternVL3Model(config, new ParameterFactory(dtype, device));
        try
        {
            var weights = new CheckpointWeights(checkpoint, dtype, device);
            model.LoadWeights(weights);
            weights.RequireAllConsumed();
        }
        catch { model.Dispose(); throw; }
        return model;
    }

    /// <summary>Fills every parameter, by its name (= the remote-code checkpoint key), from <paramref name="weights"/>.</summary>
    public void LoadWeights(IInternVL3Weights weights)
    {
        using var _ = no_grad();
        foreach (var (name, parameter) in named_parameters())
        {
            using var value = weights.Take(name, parameter.shape);
            parameter.copy_(value);
        }
    }

    /// <summary>Every weight name with its shape, in registration order (shape approvals on the meta device).</summary>
    public IReadOnlyList<(string Key, long[] Shape)> ParameterShapes() =>
        named_parameters().Select(p => (p.name, p.parameter.shape)).ToList();

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
        return mlp1.forward(shuffled.to(DType, Device)).MoveToOuterDisposeScope();
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
        var embeddings = language_model.Embed(inputIds.reshape(-1));
        if (visualEmbeddings.shape[0] != layout.Count)
            throw new ArgumentException($"{visualEmbeddings.shape[0]} visual embeddings for {layout.Count} <IMG_CONTEXT> rows");
        var rows = tensor(layout.SequenceIndices.ToArray(), ScalarType.Int64, Device);
        embeddings.index_copy_(0, rows, visualEmbeddings.to(DType, Device));
        return embeddings.MoveToOuterDisposeScope();
    }

    // ----------------------------------------------------------------------------------------------------------
    // One request: vision → (pre-LLM seam) → splice → decoder with the intra-LLM seam → greedy decoding
    // ----------------------------------------------------------------------------------------------------------

    /// <summary>
    /// Runs one prompt greedily. <paramref name="hooks"/> null is vanilla inference; otherwise the model shows the
    /// pruning framework its evidence after the projector (CLS attention pooled per pixel-shuffle group, pixel-shuffled
    /// features, projected embeddings) and at every layer it is asked about, and applies the decisions.
    /// </summary>
    public InternVL3Generation Generate(InternVL3Input input, int maxNewTokens, IReadOnlySet<long> stopTokenIds,
        IPruningHooks? hooks = null, InternVL3Trace? trace = null, bool keepStepLogits = false)
    {
        using var scope = NewDisposeScope();
        using var _ = inference_mode();
        var clock = System.Diagnostics.Stopwatch.StartNew();

        // Vision side, for all tiles of all images at once (tile-major, thumbnails last per image).
        using var vit = EncodeTiles(input.PixelValues, keepHiddenStates: trace is not null, clsAttention: hooks is not null || trace is not null);
        var shuffled = PixelShuffle(vit.SelectedFeatures);
        var projected = Project(shuffled);
        var visual = projected.reshape(-1, projected.shape[^1]);
        GenerationSync();
        double visionMs = clock.Elapsed.TotalMilliseconds;

        var layout = LayoutOf(input.InputIds, input.Images, input.ImageContextId);
        var ids = tensor(input.InputIds, ScalarType.Int64);
        var embeds = SpliceEmbeddings(ids, visual, layout);
        var promptEmbeddings = embeds;
        var positions = arange(input.InputIds.Length, ScalarType.Int64, Device).unsqueeze(0);
        long? nextPosition = null;
        int visualTokens = layout.Count;
        double methodMs = 0;
        trace?.Record(vit, shuffled, projected, embeds);

        if (hooks is not null)
        {
            var evidence = new VisionEvidence
            {
                Embeddings = visual,
                FeaturesBeforeProjector = shuffled.reshape(-1, shuffled.shape[^1]),
                ClsAttention = PoolClsAttentionPerGroup(vit.ClsAttentionPerHead!),
                Layout = layout,
                Tower = VisionTowerKind.InternVitPixelShuffle,
                Project = Project,
            };
            var textRows = Enumerable.Range(0, input.InputIds.Length).Where(r => input.InputIds[r] != input.ImageContextId).Select(r => (long)r).ToArray();
            var context = new PreLlmContext
            {
                Vision = evidence,
                TextEmbeddings = embeds.index_select(0, tensor(textRows, ScalarType.Int64, Device)),
                TextAfterImage = SequencePlan.TextAfterLastVisual(layout, input.InputIds.Length),
            };
            var methodClock = System.Diagnostics.Stopwatch.StartNew();
            var decision = hooks.OnVisualTokens(context);
            methodMs += methodClock.Elapsed.TotalMilliseconds;
            if (decision is not null)
            {
                var plan = SequencePlan.Build(layout, input.InputIds.Length, decision.Kept, decision.ExtraTokens);
                embeds = plan.GatherRows(embeds, layout, decision.Kept, decision.Embeddings);
                positions = plan.Positions(positions, decision.Positions);
                // Renumbered ids continue from the shorter sequence; original ids continue the unpruned one.
                nextPosition = decision.Positions == PositionPolicy.Renumber ? plan.Length : input.InputIds.Length;
                layout = plan.Layout;
            }
        }

        using var session = new DecoderSession(language_model, _rotary);
        var pruning = hooks is null ? null : new IntraLlmPruning { Hooks = hooks, Layout = layout, PromptEmbeddings = promptEmbeddings };
        DecoderOutput? prefill = null;
        var run = GreedyDecoder.Run(
            () =>
            {
                prefill = session.Prefill(embeds, positions, pruning, nextPosition,
                    trace is null ? LogitsSelection.Last : LogitsSelection.All, trace?.Decoder);
                // The session disposes its prefill logits; the decoder loop gets its own copy.
                if (trace is null) return prefill.Logits!.clone();
                trace.Logits = prefill.Logits!.clone().DetachFromDisposeScope();
                return trace.Logits[^1].clone();
            },
            session.Step, Device, maxNewTokens, stopTokenIds, keepStepLogits);
        methodMs += prefill!.HookMilliseconds;
        int kept = prefill.Layout?.Count ?? layout.Count;
        return new InternVL3Generation(run, input.InputIds.Length, visualTokens, kept,
            new StageTimings(visionMs, run.PrefillMs, run.DecodeMs, methodMs));
    }

    private void GenerationSync() => GreedyDecoder.Synchronize(Device);



    // ----------------------------------------------------------------------------------------------------------
    // Building blocks. Field names follow the checkpoint keys under their module.
    // ----------------------------------------------------------------------------------------------------------

    /// <summary>Conv2d with kernel = stride = patch size, with bias (unlike CLIP's).</summary>
    private sealed class PatchConv : nn.Module<Tensor, Tensor>
    {
        private readonly Parameter weight, bias;
        private readonly long _patch;

        public PatchConv(long channels, long inChannels, long patch, ParameterFactory factory) : base(nameof(PatchConv))
        {
            weight = factory.Create(channels, inChannels, patch, patch);
            bias = factory.Create(channels);
            _patch = patch;
            RegisterComponents();
        }

        public override Tensor forward(Tensor pixels) => F.conv2d(pixels, weight, bias, strides: [_patch, _patch]);
    }

    private static nn.Module<Tensor, Tensor> VitNorm(InternVisionConfig config, ParameterFactory factory) =>
        config.NormType == InternVitNorm.RmsNorm
            ? new RmsNorm(config.HiddenSize, config.LayerNormEps, factory)   // InternRMSNorm: same float32 recipe
            : new LayerNorm(config.HiddenSize, config.LayerNormEps, factory);

    private sealed class InternVisionEmbeddings : nn.Module<Tensor, Tensor>
    {
        private readonly InternVisionConfig config;
        private readonly Parameter class_embedding;        // (1, 1, C)
        private readonly PatchConv patch_embedding;        // (C, 3, p, p) + (C)
        private readonly Parameter position_embedding;     // (1, 1 + g², C)

        public InternVisionEmbeddings(InternVisionConfig config, ParameterFactory factory) : base(nameof(InternVisionEmbeddings))
        {
            this.config = config;
            long c = config.HiddenSize, g = config.GridSize;
            class_embedding = factory.Create(1, 1, c);
            patch_embedding = new PatchConv(c, config.NumChannels, config.PatchSize, factory);
            position_embedding = factory.Create(1, 1 + g * g, c);
            RegisterComponents();
        }

        public override Tensor forward(Tensor pixelValues)
        {
            var patches = patch_embedding.forward(pixelValues);
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

    private sealed class InternVisionModel : nn.Module
    {
        private readonly InternVisionEmbeddings embeddings;
        private readonly InternVisionEncoder encoder;
        public int LayersToRun { get; }

        public InternVisionModel(InternVisionConfig config, int layersToRun, ParameterFactory factory) : base(nameof(InternVisionModel))
        {
            embeddings = new InternVisionEmbeddings(config, factory);
            encoder = new InternVisionEncoder(config, factory);
            LayersToRun = layersToRun;
            RegisterComponents();
        }

        public InternVitOutput Forward(Tensor pixelValues, bool keepHiddenStates, bool clsAttention)
        {
            var x = embeddings.forward(pixelValues);
            var hidden = keepHiddenStates ? new List<Tensor> { x } : null;
            Tensor? cls = null;
            // Every layer's weights are in the checkpoint, but only those up to select_layer run.
            for (int i = 0; i < LayersToRun; i++)
            {
                bool selected = i == LayersToRun - 1;
                x = encoder.layers[i].Forward(x, clsAttention && selected ? a => cls = a : null);
                hidden?.Add(x);
            }
            return new InternVitOutput(x[.., 1..], hidden, cls);
        }
    }

    private sealed class InternVisionEncoder : nn.Module
    {
        internal readonly TorchSharp.Modules.ModuleList<InternVisionEncoderLayer> layers;

        public InternVisionEncoder(InternVisionConfig config, ParameterFactory factory) : base(nameof(InternVisionEncoder))
        {
            layers = new TorchSharp.Modules.ModuleList<InternVisionEncoderLayer>(
                Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new InternVisionEncoderLayer(config, factory)).ToArray());
            RegisterComponents();
        }
    }

    private sealed class InternVisionEncoderLayer : nn.Module
    {
        private readonly nn.Module<Tensor, Tensor> norm1, norm2;
        private readonly InternAttention attn;
        private readonly InternMlp mlp;
        private readonly Parameter ls1, ls2;

        public InternVisionEncoderLayer(InternVisionConfig config, ParameterFactory factory) : base(nameof(InternVisionEncoderLayer))
        {
            attn = new InternAttention(config, factory);
            mlp = new InternMlp(config, factory);
            norm1 = VitNorm(config, factory);
            norm2 = VitNorm(config, factory);
            ls1 = factory.Create(config.HiddenSize);
            ls2 = factory.Create(config.HiddenSize);
            RegisterComponents();
        }

        public Tensor Forward(Tensor x, Action<Tensor>? clsAttentionSink)
        {
            x = x + attn.Forward(norm1.forward(x), clsAttentionSink) * ls1;
            return x + mlp.forward(norm2.forward(x)) * ls2;
        }
    }

    private sealed class InternMlp : nn.Module<Tensor, Tensor>
    {
        private readonly Linear fc1, fc2;

        public InternMlp(InternVisionConfig config, ParameterFactory factory) : base(nameof(InternMlp))
        {
            fc1 = new Linear(config.HiddenSize, config.IntermediateSize, true, factory);
            fc2 = new Linear(config.IntermediateSize, config.HiddenSize, true, factory);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => fc2.forward(F.gelu(fc1.forward(x)));
    }

    private sealed class InternAttention : nn.Module
    {
        private readonly int heads, headDim;
        private readonly Linear qkv, proj;
        private readonly RmsNorm? q_norm, k_norm;

        public InternAttention(InternVisionConfig config, ParameterFactory factory) : base(nameof(InternAttention))
        {
            heads = config.NumAttentionHeads; headDim = config.HeadDim;
            long c = config.HiddenSize;
            qkv = new Linear(c, 3 * c, config.QkvBias, factory);
            // The reference's qk-norm is InternRMSNorm over the whole C-wide q (and k) vector, whatever norm_type says.
            if (config.QkNormalization)
            {
                q_norm = new RmsNorm(c, config.LayerNormEps, factory);
                k_norm = new RmsNorm(c, config.LayerNormEps, factory);
            }
            proj = new Linear(c, c, true, factory);
            RegisterComponents();
        }

        public Tensor Forward(Tensor x, Action<Tensor>? clsAttentionSink)
        {
            long b = x.shape[0], n = x.shape[1], c = x.shape[2];
            var parts = qkv.forward(x).view(b, n, 3, heads, headDim).permute(2, 0, 3, 1, 4); // (3, b, heads, n, hd): rows q, k, v
            Tensor q = parts[0], k = parts[1], v = parts[2];
            if (q_norm is not null)
            {
                q = q_norm.forward(q.transpose(1, 2).flatten(-2)).view(b, n, heads, headDim).transpose(1, 2);
                k = k_norm!.forward(k.transpose(1, 2).flatten(-2)).view(b, n, heads, headDim).transpose(1, 2);
            }
            if (clsAttentionSink is not null)
            {
                // Only the CLS query row is needed (VisPruner/PruMerge evidence); scale q before the product like the reference.
                var logits = matmul(q[.., .., ..1] * (1.0 / Math.Sqrt(headDim)), k.transpose(-2, -1));
                clsAttentionSink(logits.softmax(-1, ScalarType.Float32).squeeze(2));
            }
            var context = F.scaled_dot_product_attention(q, k, v);                            // bidirectional, scale 1/√hd
            return proj.forward(context.transpose(1, 2).reshape(b, n, c));
        }
    }

    /// <summary>mlp1 = Sequential(LayerNorm, Linear, GELU, Linear): keys mlp1.0, mlp1.1, mlp1.3 (index 2 is the GELU).</summary>
    private sealed class Mlp1Projector : nn.Module<Tensor, Tensor>
    {
        private readonly LayerNorm layer_norm;
        private readonly Linear linear_1, linear_2;

        public Mlp1Projector(long inFeatures, long hidden, ParameterFactory factory) : base(nameof(Mlp1Projector))
        {
            // nn.LayerNorm's default eps (1e-5), not the ViT's layer_norm_eps.
            layer_norm = new LayerNorm(inFeatures, 1e-5, factory);
            linear_1 = new Linear(inFeatures, hidden, true, factory);
            linear_2 = new Linear(hidden, hidden, true, factory);
            register_module("0", layer_norm);
            register_module("1", linear_1);
            register_module("3", linear_2);
        }

        public override Tensor forward(Tensor x) => linear_2.forward(F.gelu(linear_1.forward(layer_norm.forward(x))));
    }
}
