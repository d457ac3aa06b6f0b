using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using UniPrune.Engine.Core;
using UniPrune.Engine.Imaging;
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
    public static InternVLImageTiles Of(InternVLImageInput image) => new(image.LocalTileCount, image.HasThumbnail);
}

/// <summary>Ids of InternVL's image tokens and turn end: read from the tokenizer (they are not in config.json).</summary>
public sealed record InternVL3SpecialTokens(long ImageContext, long ImageStart, long ImageEnd, long EndOfTurn)
{
    /// <summary>Each special token must encode to exactly one id.</summary>
    public static InternVL3SpecialTokens FromTokenizer(ITextTokenizer tokenizer, string source)
    {
        long Single(string token)
        {
            var ids = tokenizer.Encode(token);
            return ids.Count == 1 ? ids[0]
                : throw new CheckpointFormatException(source, $"the tokenizer encodes '{token}' as {ids.Count} ids [{string.Join(", ", ids)}]; InternVL needs it as one added token");
        }
        return new(Single(InternVL3Prompt.ImageContext), Single(InternVL3Prompt.ImageStart), Single(InternVL3Prompt.ImageEnd), Single(InternVL3Prompt.EndOfTurn));
    }

    /// <summary>The ids a golden folder's preprocessor_config.json lists (img_context_token_id, …); null when it lists none.</summary>
    public static InternVL3SpecialTokens? FromPreprocessorConfig(string path)
    {
        if (!File.Exists(path)) return null;
        var c = JsonConfig.Load(path);
        if (!c.Has("img_context_token_id")) return null;
        return new(c.Long("img_context_token_id"), c.Long("img_start_token_id"), c.Long("img_end_token_id"), c.Long("im_end_token_id"));
    }
}

/// <summary>Every InternViT hidden state and the selected layer's CLS attention, for parity tests.</summary>
public sealed record InternVitTrace(Tensor HiddenStates, Tensor ClsAttentionPerHead, Tensor PixelShuffled) : IDisposable
{
    public void Dispose() { HiddenStates.Dispose(); ClsAttentionPerHead.Dispose(); PixelShuffled.Dispose(); }
}

/// <summary>
/// InternVL3 (OpenGVLab remote code, <c>InternVLChatModel</c>): InternViT → pixel shuffle → mlp1 → Qwen2.
/// Weight fields are named after their checkpoint keys (remote-code naming; other layouts are mapped by
/// <see cref="CheckpointWeights"/>).
/// </summary>
public sealed class InternVL3Model : nn.Module, IVisionLanguageModel
{
    public InternVL3Config Config { get; }
    public ScalarType DType { get; }
    public Device Device { get; }
    public ModelIdentity Identity { get; private set; }
    public ITextTokenizer? Tokenizer { get; private set; }
    /// <summary>Image token ids (from the tokenizer, or a golden folder's preprocessor_config.json).</summary>
    public InternVL3SpecialTokens? Tokens { get; private set; }
    /// <summary>Tiling used by <see cref="EncodeImage"/>: the config's tile size and thumbnail rule, VLMEvalKit's 6 tiles at most
    /// unless <see cref="UseMaxTiles"/> says otherwise (24 for OCRBench; datasets.md §1.5).</summary>
    public InternVLImageProcessor ImageProcessor { get; private set; }
    public CausalLanguageModel LanguageModel => language_model;
    public const int VlmEvalKitDefaultMaxTiles = 6;

    private readonly InternVisionModel vision_model;
    private readonly Mlp1Projector mlp1;
    private readonly CausalLanguageModel language_model;
    private readonly IRotaryEmbedding _rotary;

    /// <summary>The skeleton with uninitialised weights (on the meta device it costs nothing); <see cref="Load"/> fills it.</summary>
    public InternVL3Model(InternVL3Config config, ParameterFactory factory) : base(nameof(InternVL3Model))
    {
        Config = config; DType = factory.DType; Device = factory.Device;
        Identity = new ModelIdentity("internvl3", "(unloaded)", "", "", DType.ToString(), Device.ToString());
        ImageProcessor = new InternVLImageProcessor(config.TileSize, config.MinDynamicPatch, VlmEvalKitDefaultMaxTiles,
            config.UseThumbnail, ChannelStats.ImageNet, config.SourceFile);
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

    /// <summary>
    /// Loads a model folder: config.json, the weights in either layout (strict: every tensor present with its shape and
    /// nothing left over), tokenizer.json when a loader is given, and the image token ids.
    /// </summary>
    public static InternVL3Model Load(string folder, ModelLoadOptions load)
    {
        var config = InternVL3Config.Load(folder);
        var model = new InternVL3Model(config, new ParameterFactory(load.DType, load.Device));
        try
        {
            using var checkpoint = Checkpoint.Open(folder);
            var weights = new CheckpointWeights(checkpoint, load.DType, load.Device);
            model.LoadWeights(weights);
            weights.RequireAllConsumed();
            model.Identity = new ModelIdentity("internvl3", Path.GetFileName(Path.GetFullPath(folder).TrimEnd('/')),
                Fingerprints.OfFile(config.SourceFile), Fingerprints.OfSafetensors([checkpoint.Source]),
                load.DType.ToString(), load.Device.ToString());
            string tokenizerFile = Path.Combine(folder, "tokenizer.json");
            if (File.Exists(tokenizerFile) && load.TokenizerLoader is not null) model.UseTokenizer(load.TokenizerLoader(tokenizerFile));
            else model.Tokens = InternVL3SpecialTokens.FromPreprocessorConfig(Path.Combine(folder, "preprocessor_config.json"));
        }
        catch { model.Dispose(); throw; }
        return model;
    }

    public static InternVL3Model Load(string folder, ScalarType dtype, Device device) => Load(folder, new ModelLoadOptions(dtype, device));

    /// <summary>Attaches a tokenizer (and takes the image token ids from it).</summary>
    public void UseTokenizer(ITextTokenizer tokenizer)
    {
        Tokenizer = tokenizer;
        Tokens = InternVL3SpecialTokens.FromTokenizer(tokenizer, Identity.Name);
    }

    /// <summary>Sets the image token ids directly (a model built without a folder, or a cut vocabulary in tests).</summary>
    public void UseSpecialTokens(InternVL3SpecialTokens tokens) => Tokens = tokens;

    /// <summary>VLMEvalKit's per-dataset tile budget (6 by default, 24 for OCRBench).</summary>
    public void UseMaxTiles(int maxTiles) => ImageProcessor = ImageProcessor.WithMaxTiles(maxTiles);


    // Names, shapes and dtypes of every tensor: cheap, and changes whenever the weights' layout does (hashing GBs is not).

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
        using var _ = inference_mode();
        return RunVit(pixelValues, keepHiddenStates, clsAttention);
    }

    private InternVitOutput RunVit(Tensor pixelValues, bool keepHiddenStates, bool clsAttention)
    {
        using var scope = NewDisposeScope();
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
        using var _ = inference_mode();
        return ProjectWithGradient(shuffled);
    }

    private Tensor ProjectWithGradient(Tensor shuffled)
    {
        using var scope = NewDisposeScope();
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
    // Images: tiles → InternViT → pixel shuffle → mlp1, once per image
    // ----------------------------------------------------------------------------------------------------------

    public EncodedImage EncodeImage(RgbImage image, VisionExtras extras = VisionExtras.All)
    {
        using var input = ImageProcessor.Process(image);
        return EncodePixels(input.PixelValues, InternVLImageTiles.Of(input), extras);
    }

    /// <summary>
    /// One image's tiles (tiles, 3, S, S), local crops row-major then the thumbnail: visual tokens tile-major, 16×16
    /// raster inside each tile. Units follow methods.md §1.5: one unit for a single tile; otherwise the local tiles
    /// jointly and the thumbnail alone. The CLS attention (summed per pixel-shuffle group) is computed only when asked.
    /// </summary>
    public EncodedImage EncodePixels(Tensor pixelValues, InternVLImageTiles tiles, VisionExtras extras = VisionExtras.All)
    {
        if (pixelValues.dim() != 4 || pixelValues.shape[0] != tiles.Total)
            throw new ArgumentException($"pixel values must be ({tiles.Total} tiles, {Config.Vision.NumChannels}, H, W) for {tiles}; got [{string.Join(", ", pixelValues.shape)}]");
        using var _ = inference_mode();
        return Encode(pixelValues, tiles, extras);
    }

    /// <summary>
    /// Training entry (used by Engine/Training): the same InternViT layers, pixel shuffle, mlp1 and units as
    /// <see cref="EncodePixels"/>, with autograd (no inference_mode); the tensors belong to the caller's dispose scope.
    /// </summary>
    public EncodedImage EncodePixelsForTraining(Tensor pixelValues, InternVLImageTiles tiles)
    {
        if (pixelValues.dim() != 4 || pixelValues.shape[0] != tiles.Total)
            throw new ArgumentException($"pixel values must be ({tiles.Total} tiles, {Config.Vision.NumChannels}, H, W) for {tiles}; got [{string.Join(", ", pixelValues.shape)}]");
        return Encode(pixelValues, tiles, VisionExtras.None);
    }

    /// <summary>
    /// Training entry for a batch: every image's tiles through InternViT, pixel shuffle and mlp1 in one pass (the tower
    /// sees tiles independently, so this equals encoding each image alone), split back into one encoded image each.
    /// </summary>
    public IReadOnlyList<EncodedImage> EncodeManyForTraining(IReadOnlyList<(Tensor PixelValues, InternVLImageTiles Tiles)> images)
    {
        foreach (var (pixels, tiles) in images)
            if (pixels.dim() != 4 || pixels.shape[0] != tiles.Total)
                throw new ArgumentException($"pixel values must be ({tiles.Total} tiles, {Config.Vision.NumChannels}, H, W) for {tiles}; got [{string.Join(", ", pixels.shape)}]");
        var all = EncodePixelsForTraining(cat(images.Select(i => i.PixelValues).ToList(), 0), new InternVLImageTiles(images.Sum(i => i.Tiles.Total), false));
        var result = new List<EncodedImage>();
        int row = 0;
        foreach (var (_, tiles) in images)
        {
            int rows = tiles.Total * Config.ImageTokensPerTile;
            result.Add(new EncodedImage { Embeddings = all.Embeddings.narrow(0, row, rows), Units = UnitsOf(tiles) });
            row += rows;
        }
        return result;
    }

    private EncodedImage Encode(Tensor pixelValues, InternVLImageTiles tiles, VisionExtras extras)
    {
        using var scope = NewDisposeScope();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var vit = RunVit(pixelValues, keepHiddenStates: false, clsAttention: extras.HasFlag(VisionExtras.ClsAttention));
        var shuffled = PixelShuffle(vit.SelectedFeatures);
        var embeddings = ProjectWithGradient(shuffled);
        var cls = vit.ClsAttentionPerHead is null ? null : PoolClsAttentionPerGroup(vit.ClsAttentionPerHead);
        GreedyDecoder.Synchronize(Device);
        double ms = clock.Elapsed.TotalMilliseconds;
        return new EncodedImage
        {
            Embeddings = embeddings.reshape(-1, embeddings.shape[^1]).MoveToOuterDisposeScope(),
            FeaturesBeforeProjector = shuffled.reshape(-1, shuffled.shape[^1]).MoveToOuterDisposeScope(),
            ClsAttention = cls?.MoveToOuterDisposeScope(),
            Units = UnitsOf(tiles),
            VisionMs = ms,
        };
    }

    private IReadOnlyList<VisualUnit> UnitsOf(InternVLImageTiles tiles)
    {
        int perTile = Config.ImageTokensPerTile, side = Config.TokenGrid;
        if (tiles.Total == 1) return [new VisualUnit(VisualUnitKind.Image, 0, 0, perTile, side, side)];
        var units = new List<VisualUnit>();
        if (tiles.LocalTiles > 0) units.Add(new VisualUnit(VisualUnitKind.LocalTiles, 0, 0, perTile * tiles.LocalTiles, side, side, tiles.LocalTiles));
        if (tiles.HasThumbnail) units.Add(new VisualUnit(VisualUnitKind.Thumbnail, 0, perTile * tiles.LocalTiles, perTile, side, side));
        return units;
    }

    /// <summary>Every InternViT hidden state (layers+1, tiles, 1+P, C), the selected layer's CLS attention per head and the shuffled features.</summary>
    public InternVitTrace TraceVision(Tensor pixelValues)
    {
        using var scope = NewDisposeScope();
        using var vit = EncodeTiles(pixelValues, keepHiddenStates: true, clsAttention: true);
        var shuffled = PixelShuffle(vit.SelectedFeatures);
        return new InternVitTrace(stack(vit.HiddenStates!.ToArray()).MoveToOuterDisposeScope(),
            vit.ClsAttentionPerHead!.clone().MoveToOuterDisposeScope(), shuffled.MoveToOuterDisposeScope());
    }

    // ----------------------------------------------------------------------------------------------------------
    // Prompts: template → ids → splice → (pre-LLM seam) → decoder with the intra-LLM seam → greedy decoding
    // ----------------------------------------------------------------------------------------------------------

    /// <summary>
    /// Answers a prompt as VLMEvalKit's InternVL wrapper does: its image placement, the internvl2_5 template, one
    /// <c>&lt;img&gt;&lt;IMG_CONTEXT&gt;…&lt;/img&gt;</c> block per image, greedy decoding until <c>&lt;|im_end|&gt;</c>, answer stripped.
    /// </summary>
    public GenerationResult Generate(PromptMessage prompt, IReadOnlyList<EncodedImage> images, IPruningHooks? hooks, GenerationOptions options)
    {
        var tokenizer = Tokenizer ?? throw new InvalidOperationException(
            $"{Identity.Name}: no tokenizer (tokenizer.json absent or no TokenizerLoader given); use RunPrompt with token ids");
        var tokens = Tokens!;
        var ordered = InOrder(prompt, images);
        var ids = TokenizePrompt(prompt, images);
        var stops = new HashSet<long> { tokens.EndOfTurn };
        if (options.ExtraStopTokenIds is not null) stops.UnionWith(options.ExtraStopTokenIds.Select(t => (long)t));
        using var run = RunPrompt(ids, ordered, hooks, options.MaxNewTokens, stops);
        // The reference decodes without special tokens, splits at the template separator and strips.
        string decoded = tokenizer.Decode(run.AnswerTokens);
        int separator = decoded.IndexOf(InternVL3Prompt.EndOfTurn, StringComparison.Ordinal);
        if (separator >= 0) decoded = decoded[..separator];
        return run.ToResult(decoded.Trim(), ordered);
    }

    /// <summary>Images in the order the message names them (one placeholder each): the order their rows fill the prompt.</summary>
    public static List<EncodedImage> InOrder(PromptMessage prompt, IReadOnlyList<EncodedImage> images)
    {
        var order = prompt.Segments.OfType<ImageSegment>().Select(s => s.ImageIndex).ToList();
        foreach (var index in order)
            if (index < 0 || index >= images.Count) throw new ArgumentException($"the prompt refers to image {index} but {images.Count} were given");
        return order.Select(i => images[i]).ToList();
    }

    /// <summary>VLMEvalKit's image placement, the internvl2_5 template and one &lt;img&gt;&lt;IMG_CONTEXT&gt;…&lt;/img&gt; block per image (message order), tokenised.</summary>
    public IReadOnlyList<long> TokenizePrompt(PromptMessage prompt, IReadOnlyList<EncodedImage> images)
    {
        var tokenizer = Tokenizer ?? throw new InvalidOperationException(
            $"{Identity.Name}: no tokenizer (tokenizer.json absent or no TokenizerLoader given); use RunPrompt with token ids");
        var tilesPerImage = InOrder(prompt, images).Select(i => i.TokenCount / Config.ImageTokensPerTile).ToList();
        return tokenizer.Encode(InternVL3Prompt.Expand(InternVL3Prompt.UserContent(prompt), tilesPerImage, Config.ImageTokensPerTile));
    }

    /// <summary>
    /// Runs a tokenised prompt whose <c>&lt;IMG_CONTEXT&gt;</c> rows (all images' runs, in order) take the images' embeddings.
    /// <paramref name="hooks"/> null is vanilla inference; otherwise the model shows its evidence at the pre-LLM seam and
    /// at every layer it is asked about, and applies the decisions (pre-LLM: gather rows, positions per the decision's
    /// policy; the next decode position follows that policy).
    /// </summary>
    public PromptRun RunPrompt(IReadOnlyList<long> inputIds, IReadOnlyList<EncodedImage> images, IPruningHooks? hooks, int maxNewTokens,
        IReadOnlySet<long> stopTokenIds, LogitsSelection prefillLogits = LogitsSelection.Last, DecoderTrace? trace = null, bool keepStepLogits = false)
    {
        using var _ = inference_mode();
        using var scope = NewDisposeScope();
        var (embeds, layout, positions) = PrefillInputs(inputIds, images);
        int promptLength = inputIds.Count;
        return PromptRunner.Run(language_model, _rotary, embeds, positions, layout, hooks, () => PreLlmContextFor(embeds, layout, images, promptLength),
            nextPosition: null, maxNewTokens, stopTokenIds, prefillLogits, trace, keepStepLogits);
    }

    /// <summary>
    /// Training entry (used by Engine/Training): float32 logits (L, V) of every row of a tokenised prompt, with autograd,
    /// through the same splice, position ids and rotary as <see cref="RunPrompt"/>'s unpruned prefill.
    /// </summary>
    public Tensor TeacherForcedLogits(IReadOnlyList<long> inputIds, IReadOnlyList<EncodedImage> images)
    {
        using var scope = NewDisposeScope();
        var (embeds, _, positions) = PrefillInputs(inputIds, images);
        var output = language_model.forward(new DecoderInput { InputsEmbeds = embeds, PositionIds = positions, Rotary = _rotary, Logits = LogitsSelection.All });
        return output.Logits!.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Training entry (used by Engine/Training's batched loss): the spliced prompt (L, H) and its (1, L) position ids
    /// exactly as the unpruned prefill builds them, with autograd.
    /// </summary>
    public (Tensor Embeds, Tensor PositionIds) TeacherForcedInputs(IReadOnlyList<long> inputIds, IReadOnlyList<EncodedImage> images)
    {
        var (embeds, _, positions) = PrefillInputs(inputIds, images);
        return (embeds, positions);
    }

    /// <summary>Training entry: the decoder and the rotary table the prefill runs it with.</summary>
    public (CausalLanguageModel Language, IRotaryEmbedding Rotary) TrainingDecoder => (language_model, _rotary);

    private (Tensor Embeds, VisualLayout Layout, Tensor Positions) PrefillInputs(IReadOnlyList<long> inputIds, IReadOnlyList<EncodedImage> images)
    {
        long imageContext = (Tokens ?? throw new InvalidOperationException(
            $"{Identity.Name}: the <IMG_CONTEXT> id is unknown (no tokenizer and no img_context_token_id in preprocessor_config.json)")).ImageContext;
        var (embeds, layout) = Splice(inputIds, images, imageContext);
        var positions = HeldScalars.Arange(inputIds.Count, ScalarType.Int64, Device).unsqueeze(0);
        return (embeds, layout, positions);
    }

    /// <summary>
    /// Token embeddings with the images' rows written over the <c>&lt;IMG_CONTEXT&gt;</c> rows in order (the reference's
    /// <c>input_embeds[selected] = vit_embeds</c>), and where they sit: each image's units, offsets counted over all images.
    /// </summary>
    public (Tensor Embeddings, VisualLayout Layout) Splice(IReadOnlyList<long> inputIds, IReadOnlyList<EncodedImage> images, long imageContextId)
    {
        using var scope = NewDisposeScope();
        var rows = new List<long>();
        for (int i = 0; i < inputIds.Count; i++) if (inputIds[i] == imageContextId) rows.Add(i);
        int expected = images.Sum(im => im.TokenCount);
        if (rows.Count != expected)
            throw new ArgumentException($"the prompt has {rows.Count} <IMG_CONTEXT> tokens (id {imageContextId}) but its {images.Count} image(s) have {expected} visual tokens");
        var units = new List<VisualUnit>();
        int offset = 0;
        for (int image = 0; image < images.Count; image++)
        {
            foreach (var u in images[image].Units) units.Add(u with { ImageIndex = image, Offset = offset + u.Offset });
            offset += images[image].TokenCount;
        }
        var embeddings = language_model.Embed(tensor(inputIds.ToArray(), dtype: ScalarType.Int64));
        if (images.Count > 0)
        {
            var visual = cat(images.Select(i => i.Embeddings.to(DType, Device)).ToArray(), 0);
            embeddings = embeddings.index_copy(0, tensor(rows.ToArray(), dtype: ScalarType.Int64, device: Device), visual);
        }
        return (embeddings.MoveToOuterDisposeScope(), new VisualLayout(units, rows, inputIds.Count));
    }

    private PreLlmContext PreLlmContextFor(Tensor embeds, VisualLayout layout, IReadOnlyList<EncodedImage> images, int promptLength)
    {
        Tensor? Join(Func<EncodedImage, Tensor?> pick) =>
            images.All(i => pick(i) is not null) ? cat(images.Select(i => pick(i)!.to(Device)).ToArray(), 0) : null;
        var visualRows = layout.SequenceIndices.ToHashSet();
        var textRows = Enumerable.Range(0, promptLength).Where(r => !visualRows.Contains(r)).Select(r => (long)r).ToArray();
        return new PreLlmContext
        {
            Vision = new VisionEvidence
            {
                Embeddings = cat(images.Select(i => i.Embeddings.to(DType, Device)).ToArray(), 0),
                FeaturesBeforeProjector = Join(i => i.FeaturesBeforeProjector),
                ClsAttention = Join(i => i.ClsAttention),
                Layout = layout,
                Tower = VisionTowerKind.InternVitPixelShuffle,
                Project = Project,
            },
            TextEmbeddings = embeds.index_select(0, tensor(textRows, dtype: ScalarType.Int64, device: Device)),
            TextAfterImage = SequencePlan.TextAfterLastVisual(layout, promptLength),
        };
    }

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
            return cat([cls, tokens], 1).Plus(positions);
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
            x = x.Plus(attn.Forward(norm1.forward(x), clsAttentionSink) * ls1);
            return x.Plus(mlp.forward(norm2.forward(x)) * ls2);
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
                var logits = matmul(q[.., .., ..1].Times(1.0 / Math.Sqrt(headDim)), k.transpose(-2, -1));
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
