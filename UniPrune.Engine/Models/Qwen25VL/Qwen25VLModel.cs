using System.Diagnostics;
using System.Security.Cryptography;
using UniPrune.Engine.Imaging;
using UniPrune.Engine.Core;
using UniPrune.Engine.Generation;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.Common;
using static TorchSharp.torch;

namespace UniPrune.Engine.Models.Qwen25VL;

// Qwen2.5-VL end to end, read top to bottom: vision tower (per image) → splice the merger outputs into the placeholder rows →
// 3-row M-RoPE ids on the full prompt → pre-LLM seam (gather rows and their original 3-D ids) → the shared causal
// decoder with the intra-LLM seam → greedy decoding from an explicit next position (methods.md §1.4, P-QWEN).

/// <summary>M-RoPE (models.md §2.6) for the shared decoder: position ids are (3, L) rows t, h, w.</summary>
public sealed class MropeRotaryEmbedding : IRotaryEmbedding
{
    private readonly Tensor _inverseFrequencies;   // (head_dim/2) float32
    private readonly int[] _section;

    public int PositionRows => 3;
    public int HeadDim { get; }

    public MropeRotaryEmbedding(int headDim, double theta, IReadOnlyList<int> mropeSection)
    {
        if (mropeSection.Count != 3 || mropeSection.Sum() * 2 != headDim)
            throw new ArgumentException($"mrope_section [{string.Join(",", mropeSection)}] must be 3 integers summing to head_dim/2 = {headDim / 2}");
        HeadDim = headDim;
        _section = [.. mropeSection];
        _inverseFrequencies = RotaryEmbedding.InverseFrequencies(headDim, theta);
    }

    /// <summary>
    /// Frequency slot j takes its angle from stream t, h or w by mrope_section ([16,24,24]: slots 0–15 from t, 16–39
    /// from h, 40–63 from w); the half table is duplicated (rotate-half). float32, cast to <paramref name="dtype"/>
    /// before the rotation, as the reference does.
    /// </summary>
    public (Tensor Cos, Tensor Sin) CosSin(Tensor positionIds, ScalarType dtype)
    {
        if (positionIds.dim() != 2 || positionIds.shape[0] != 3)
            throw new ArgumentException($"M-RoPE expects position ids of shape (3, L); got [{string.Join(", ", positionIds.shape)}]");
        using var scope = NewDisposeScope();
        var inv = _inverseFrequencies.to(positionIds.device);
        var angles = positionIds.to_type(ScalarType.Float32).unsqueeze(-1) * inv;   // (3, L, head_dim/2)
        var pieces = new Tensor[3];
        long slot = 0;
        for (int stream = 0; stream < 3; stream++)
        {
            pieces[stream] = angles[stream].narrow(-1, slot, _section[stream]);
            slot += _section[stream];
        }
        var half = cat(pieces, -1);
        var table = cat([half, half], -1);
        return (table.cos().to_type(dtype).MoveToOuterDisposeScope(), table.sin().to_type(dtype).MoveToOuterDisposeScope());
    }
}

/// <summary>Run-time choices of a Qwen2.5-VL model.</summary>
/// <param name="MinPixels">smart_resize lower bound; null = the preprocessor_config.json value (VLMEvalKit: 1280·28²; paper: 256·28²).</param>
/// <param name="MaxPixels">smart_resize upper bound; null = the preprocessor_config.json value (paper: 1280·28²).</param>
/// <param name="SystemPrompt">The system turn; the chat template's default when VLMEvalKit sets none.</param>
public sealed record Qwen25VLOptions(int? MinPixels = null, int? MaxPixels = null, string SystemPrompt = Qwen25VLPrompt.DefaultSystemPrompt)
{
    /// <summary>The paper's token budget: 256·28² … 1280·28² pixels.</summary>
    public static Qwen25VLOptions Paper => new(256 * 28 * 28, 1280 * 28 * 28);

    /// <summary>VLMEvalKit's Qwen2.5-VL entries: 1280·28² … 16384·28² pixels (every image gets ≥ 1280 visual tokens).</summary>
    public static Qwen25VLOptions VlmEvalKit => new(1280 * 28 * 28, 16384 * 28 * 28);

    /// <summary>VLMEvalKit's one per-dataset override in Qwen2VLChat._prepare_content: OCRBench images use min_pixels 10·10·28².</summary>
    public Qwen25VLOptions ForVlmEvalKitDataset(string dataset) => dataset == "OCRBench" ? this with { MinPixels = 10 * 10 * 28 * 28 } : this;
}

/// <summary>A prompt run plus the M-RoPE ids of the full prompt and its rope_delta.</summary>
public sealed class Qwen25VLPromptRun : PromptRun
{
    [System.Diagnostics.CodeAnalysis.SetsRequiredMembers]
    public Qwen25VLPromptRun(PromptRun run, MropePositions positions) : base(run) => Positions = positions;

    public MropePositions Positions { get; }
}

/// <summary>
/// Qwen2.5-VL-3B/7B-Instruct. Parameters are named as the hub files name them: <c>visual.*</c> for the vision tower,
/// <c>language.model.*</c> / <c>language.lm_head.weight</c> for <c>model.*</c> / <c>lm_head.weight</c> (the 3B ties
/// lm_head to embed_tokens and has no such tensor).
/// </summary>
public sealed class Qwen25VLModel : nn.Module, IVisionLanguageModel
{
    public const string Family = "qwen25vl";

    private readonly Qwen25VisionTower visual;
    private readonly CausalLanguageModel language;
    private readonly MropeRotaryEmbedding _rotary;

    public Qwen25VLConfig Config { get; }
    public Qwen25VLOptions Options { get; }
    public ScalarType DType { get; }
    public Device Device { get; }
    public Qwen25VisionTower Vision => visual;
    public CausalLanguageModel Language => language;
    public ITextTokenizer? Tokenizer { get; private set; }
    /// <summary>smart_resize + patchify with this run's pixel bounds (record MinPixels/MaxPixels with results).</summary>
    public QwenImageProcessor? ImageProcessor { get; private set; }
    public ModelIdentity Identity { get; private set; }

    /// <summary>Builds the model with uninitialised parameters (the meta device builds a shape-only skeleton).</summary>
    public Qwen25VLModel(Qwen25VLConfig config, ParameterFactory factory, Qwen25VLOptions? options = null) : base(nameof(Qwen25VLModel))
    {
        Config = config; Options = options ?? new Qwen25VLOptions(); DType = factory.DType; Device = factory.Device;
        visual = new Qwen25VisionTower(config.Vision, factory);
        language = new CausalLanguageModel(DecoderConfigOf(config.Text), factory);
        _rotary = new MropeRotaryEmbedding(config.Text.HeadDim, config.Text.RopeTheta, config.Text.MropeSection);
        Identity = new ModelIdentity(Family, "(unloaded)", "", "", DType.ToString(), Device.ToString());
        RegisterComponents();
    }

    public static Qwen25VLModel OnMeta(Qwen25VLConfig config, ScalarType dtype = ScalarType.BFloat16) => new(config, new ParameterFactory(dtype, META));

    public static DecoderConfig DecoderConfigOf(Qwen25VLTextConfig t) => new(
        HiddenSize: t.HiddenSize, IntermediateSize: t.IntermediateSize, NumLayers: t.NumLayers, NumHeads: t.NumHeads,
        NumKvHeads: t.NumKeyValueHeads, HeadDim: t.HeadDim, VocabSize: t.VocabSize, RmsNormEps: t.RmsNormEps,
        RopeTheta: t.RopeTheta, AttentionBias: true, TieWordEmbeddings: t.TieWordEmbeddings, HiddenAct: Activation.Silu);

    /// <summary>
    /// Loads a model folder (config.json, model.safetensors or a sharded index, preprocessor_config.json and
    /// tokenizer.json when present). The weight load is strict: every parameter present with its shape, every tensor
    /// used (rotary inv_freq buffers and, for tied models, a redundant lm_head are tolerated). Old and new
    /// transformers names are both accepted.
    /// </summary>
    public static Qwen25VLModel Load(string folder, ModelLoadOptions load, Qwen25VLOptions? options = null)
    {
        var config = Qwen25VLConfig.Load(Path.Combine(folder, "config.json"));
        var model = new Qwen25VLModel(config, new ParameterFactory(load.DType, load.Device), options);
        try
        {
            using (var checkpoint = Checkpoint.Open(folder))
            {
                model.LoadWeights(checkpoint);
                model.Identity = new ModelIdentity(Family, Path.GetFileName(Path.GetFullPath(folder).TrimEnd('/')),
                    Fingerprints.OfFile(config.SourceFile), Fingerprints.OfSafetensors([checkpoint.Source]), load.DType.ToString(), load.Device.ToString());
            }
            string preprocessor = Path.Combine(folder, "preprocessor_config.json");
            if (File.Exists(preprocessor))
            {
                var processor = QwenImageProcessor.FromPreprocessorConfig(preprocessor);
                model.ImageProcessor = processor with
                {
                    MinPixels = model.Options.MinPixels ?? processor.MinPixels,
                    MaxPixels = model.Options.MaxPixels ?? processor.MaxPixels,
                };
            }
            string tokenizerFile = Path.Combine(folder, "tokenizer.json");
            if (File.Exists(tokenizerFile) && load.TokenizerLoader is not null) model.Tokenizer = load.TokenizerLoader(tokenizerFile);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return model;
    }

    public void LoadWeights(Checkpoint checkpoint)
    {
        var index = Qwen25VLCheckpointKeys.Index(checkpoint);
        var tiedHead = Config.Text.TieWordEmbeddings ? index.GetValueOrDefault(Qwen25VLCheckpointKeys.LmHead) : null;
        WeightLoader.Load(this, checkpoint,
            name => index.TryGetValue(HubName(name), out var key) ? key : HubName(name),
            key => Qwen25VLCheckpointKeys.IsIgnorable(key) || key == tiedHead);
    }

    /// <summary>Lets a tokenizer be attached after loading (tests, or a harness that builds tokenizers itself).</summary>
    public void UseTokenizer(ITextTokenizer tokenizer) => Tokenizer = tokenizer;

    /// <summary>This module's parameter name → the hub file's tensor name.</summary>
    public static string HubName(string parameterName) =>
        parameterName.StartsWith("language.", StringComparison.Ordinal) ? parameterName["language.".Length..] : parameterName;

    /// <summary>Every parameter by hub name with its shape, in registration order (meta-device shape approvals).</summary>
    public IEnumerable<(string Name, long[] Shape)> ParameterShapes() =>
        named_parameters().Select(p => (HubName(p.name), p.parameter.shape));

    // ---------------------------------------------------------------------------------------------------------------
    // Vision
    // ---------------------------------------------------------------------------------------------------------------

    public EncodedImage EncodeImage(RgbImage image, VisionExtras extras = VisionExtras.All)
    {
        var processor = ImageProcessor ?? throw new InvalidOperationException(
            $"{Identity.Name}: no preprocessor_config.json was loaded, so there is no image processor; use EncodePixels");
        using var input = processor.Process(image);
        return EncodePixels(input.PixelValues, input.Grid, extras);
    }

    /// <summary>As <see cref="EncodeImage(RgbImage, VisionExtras)"/> with other smart_resize bounds for this image (VLMEvalKit's per-dataset overrides).</summary>
    public EncodedImage EncodeImage(RgbImage image, int minPixels, int maxPixels, VisionExtras extras = VisionExtras.All)
    {
        var processor = ImageProcessor ?? throw new InvalidOperationException(
            $"{Identity.Name}: no preprocessor_config.json was loaded, so there is no image processor; use EncodePixels");
        using var input = (processor with { MinPixels = minPixels, MaxPixels = maxPixels }).Process(image);
        return EncodePixels(input.PixelValues, input.Grid, extras);
    }

    /// <summary>
    /// Vision tower + merger for one image's patch rows (processor order). Images never attend to each other, so
    /// encoding them one by one equals the reference's batched call. The attention-received importance is computed
    /// only when <paramref name="extras"/> asks for it (one explicit softmax over the last full-attention block).
    /// </summary>
    public EncodedImage EncodePixels(Tensor pixelRows, GridThw grid, VisionExtras extras = VisionExtras.All, VisionTrace? trace = null)
    {
        using var _ = inference_mode();
        return Encode(pixelRows, grid, extras, trace);
    }

    /// <summary>
    /// Training entry (used by Engine/Training): the same tower, windows, merger and unit as <see cref="EncodePixels"/>, with
    /// autograd (no inference_mode). The embeddings belong to the caller's dispose scope.
    /// </summary>
    public EncodedImage EncodePixelsForTraining(Tensor pixelRows, GridThw grid)
    {
        using var encoded = Encode(pixelRows, grid, VisionExtras.None, null);
        // The tower hands its outputs over outside every scope; an alias puts them in the caller's (the graph is kept).
        return new EncodedImage { Embeddings = encoded.Embeddings.alias(), Units = encoded.Units, VisionMs = encoded.VisionMs };
    }

    private EncodedImage Encode(Tensor pixelRows, GridThw grid, VisionExtras extras, VisionTrace? trace)
    {
        if (grid.T != 1) throw new NotSupportedException($"grid {grid}: only still images (T = 1) are supported");
        var clock = Stopwatch.StartNew();
        var output = visual.Forward(pixelRows.to(Device), [grid], extras.HasFlag(VisionExtras.AttentionReceived), trace);
        GreedyDecoder.Synchronize(Device);
        double ms = clock.Elapsed.TotalMilliseconds;
        int m = Config.Vision.SpatialMergeSize;
        return new EncodedImage
        {
            Embeddings = output.ImageEmbeds,
            FeaturesBeforeProjector = output.FeaturesBeforeMerger,
            AttentionReceived = output.AttentionReceived,
            Units = [new VisualUnit(VisualUnitKind.Image, 0, 0, (int)output.ImageEmbeds.shape[0], grid.H / m, grid.W / m)],
            VisionMs = ms,
        };
    }

    /// <summary>Merge units (M, 4·C) → LLM space: the merger as a function, for methods that merge before it.</summary>
    public Tensor Project(Tensor units) => visual.ProjectUnits(units);

    // ---------------------------------------------------------------------------------------------------------------
    // Prompts
    // ---------------------------------------------------------------------------------------------------------------

    /// <summary>Chat template → tokenizer → one placeholder per visual token of each image, in segment order.</summary>
    public long[] TokenizePrompt(PromptMessage prompt, IReadOnlyList<EncodedImage> images)
    {
        var tokenizer = Tokenizer ?? throw new InvalidOperationException(
            $"{Identity.Name}: no tokenizer (tokenizer.json absent or no TokenizerLoader given); use RunPrompt with token ids");
        var order = ImageOrder(prompt, images);
        var ids = tokenizer.Encode(Qwen25VLPrompt.Render(prompt, Options.SystemPrompt));
        return Qwen25VLPrompt.ExpandImagePads(ids, Config.Tokens.ImageToken, order.Select(i => images[i].TokenCount).ToList());
    }

    public GenerationResult Generate(PromptMessage prompt, IReadOnlyList<EncodedImage> images, IPruningHooks? hooks, GenerationOptions options)
    {
        var tokenizer = Tokenizer ?? throw new InvalidOperationException(
            $"{Identity.Name}: no tokenizer (tokenizer.json absent or no TokenizerLoader given); use RunPrompt with token ids");
        var ids = TokenizePrompt(prompt, images);
        var ordered = ImageOrder(prompt, images).Select(i => images[i]).ToList();
        var stops = new HashSet<long>(Config.Tokens.StopTokens);
        if (options.ExtraStopTokenIds is not null) stops.UnionWith(options.ExtraStopTokenIds.Select(t => (long)t));
        using var run = RunPrompt(ids, ordered, hooks, options.MaxNewTokens, stops);
        return run.ToResult(tokenizer.Decode(run.AnswerTokens).Trim(), ordered);
    }

    private static List<int> ImageOrder(PromptMessage prompt, IReadOnlyList<EncodedImage> images)
    {
        var order = prompt.Segments.OfType<ImageSegment>().Select(s => s.ImageIndex).ToList();
        foreach (var index in order)
            if (index < 0 || index >= images.Count) throw new ArgumentException($"the prompt refers to image {index} but {images.Count} were given");
        return order;
    }

    /// <summary>
    /// Runs a tokenised prompt whose i-th run of image placeholders (exactly TokenCount ids) takes images[i]:
    /// splice, M-RoPE ids on the full prompt, the pre-LLM seam (kept rows keep their original 3-D ids), prefill with
    /// the intra-LLM seam, and greedy decoding from max(position) + 1 = L + rope_delta whatever was dropped (P-QWEN).
    /// </summary>
    public Qwen25VLPromptRun RunPrompt(IReadOnlyList<long> inputIds, IReadOnlyList<EncodedImage> images, IPruningHooks? hooks, int maxNewTokens,
        IReadOnlySet<long> stopTokenIds, LogitsSelection prefillLogits = LogitsSelection.Last, DecoderTrace? trace = null, bool keepStepLogits = false)
    {
        using var _ = inference_mode();
        using var scope = NewDisposeScope();
        var (embeds, layout, mrope, positions) = PrefillInputs(inputIds, images);
        // Kept rows keep their original 3-D ids, and decoding continues at max(id) + 1 whatever was dropped (P-QWEN).
        var run = PromptRunner.Run(language, _rotary, embeds, positions, layout, hooks, () => PreLlmContextFor(embeds, layout, images),
            mrope.NextPosition, maxNewTokens, stopTokenIds, prefillLogits, trace, keepStepLogits);
        return new Qwen25VLPromptRun(run, mrope);
    }

    /// <summary>
    /// Training entry (used by Engine/Training): float32 logits (L, V) of every row of a tokenised prompt, with autograd,
    /// through the same splice, M-RoPE ids and decoder as <see cref="RunPrompt"/>'s unpruned prefill.
    /// </summary>
    public Tensor TeacherForcedLogits(IReadOnlyList<long> inputIds, IReadOnlyList<EncodedImage> images)
    {
        using var scope = NewDisposeScope();
        var (embeds, _, _, positions) = PrefillInputs(inputIds, images);
        var output = language.forward(new DecoderInput { InputsEmbeds = embeds, PositionIds = positions, Rotary = _rotary, Logits = LogitsSelection.All });
        return output.Logits!.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Training entry (used by Engine/Training's batched loss): the spliced prompt (L, H) and its (3, L) M-RoPE ids exactly as
    /// the unpruned prefill builds them, with autograd.
    /// </summary>
    public (Tensor Embeds, Tensor PositionIds) TeacherForcedInputs(IReadOnlyList<long> inputIds, IReadOnlyList<EncodedImage> images)
    {
        var (embeds, _, _, positions) = PrefillInputs(inputIds, images);
        return (embeds, positions);
    }

    /// <summary>Training entry: the decoder and the M-RoPE table the prefill runs it with.</summary>
    public (CausalLanguageModel Language, IRotaryEmbedding Rotary) TrainingDecoder => (language, _rotary);

    /// <summary>The spliced prompt, its layout, its M-RoPE ids and those ids as a (3, L) tensor.</summary>
    private (Tensor Embeds, VisualLayout Layout, MropePositions Mrope, Tensor Positions) PrefillInputs(IReadOnlyList<long> inputIds, IReadOnlyList<EncodedImage> images)
    {
        var (embeds, layout, mrope) = Splice(inputIds, images);
        var positions = tensor(mrope.Rows.SelectMany(r => r).ToArray(), [3, inputIds.Count], dtype: ScalarType.Int64, device: Device);
        return (embeds, layout, mrope, positions);
    }

    /// <summary>
    /// Token embeddings with each image's merger outputs in its placeholder run, the layout of those rows, and the
    /// M-RoPE ids of the whole prompt (each image's merged grid comes from its unit).
    /// </summary>
    public (Tensor Embeddings, VisualLayout Layout, MropePositions Positions) Splice(IReadOnlyList<long> inputIds, IReadOnlyList<EncodedImage> images)
    {
        using var scope = NewDisposeScope();
        long placeholder = Config.Tokens.ImageToken;
        var units = new List<VisualUnit>();
        var rows = new List<long>();
        var grids = new List<GridThw>();
        int image = 0, offset = 0;
        for (int i = 0; i < inputIds.Count; i++)
        {
            long id = inputIds[i];
            if (id != placeholder)
            {
                if (id < 0 || id >= Config.Text.VocabSize)
                    throw new ArgumentException($"token id {id} at position {i} is outside the vocabulary (0..{Config.Text.VocabSize - 1})");
                continue;
            }
            if (image >= images.Count) throw new ArgumentException($"the prompt has more image placeholder runs than the {images.Count} images given");
            var encoded = images[image];
            int run = 0;
            while (i + run < inputIds.Count && inputIds[i + run] == placeholder && run < encoded.TokenCount) run++;
            if (run < encoded.TokenCount)
                throw new ArgumentException($"placeholder run at token {i} has {run} ids; image {image} needs {encoded.TokenCount} (one per visual token)");
            var unit = encoded.Units.Single();
            units.Add(unit with { ImageIndex = image, Offset = offset });
            grids.Add(new GridThw(1, unit.GridRows * Config.Vision.SpatialMergeSize, unit.GridCols * Config.Vision.SpatialMergeSize));
            for (int k = 0; k < run; k++) rows.Add(i + k);
            offset += run;
            image++;
            i += run - 1;
        }
        if (image != images.Count) throw new ArgumentException($"{images.Count} images were given but the prompt has {image} placeholder runs");

        var embeds = language.Embed(tensor(inputIds.ToArray(), dtype: ScalarType.Int64));
        if (images.Count > 0)
        {
            var visualRows = tensor(rows.ToArray(), dtype: ScalarType.Int64, device: Device);
            var visual = cat(images.Select(e => e.Embeddings.to(DType, Device)).ToArray(), 0);
            embeds = embeds.index_copy(0, visualRows, visual);
        }
        var mrope = MropePositions.Compute(inputIds, grids, Config.Vision.SpatialMergeSize, placeholder, Config.Tokens.VideoToken);
        return (embeds.MoveToOuterDisposeScope(), new VisualLayout(units, rows, inputIds.Count), mrope);
    }

    private PreLlmContext PreLlmContextFor(Tensor embeds, VisualLayout layout, IReadOnlyList<EncodedImage> images)
    {
        Tensor? Cat(Func<EncodedImage, Tensor?> pick) => images.All(i => pick(i) is not null) ? cat(images.Select(i => pick(i)!).ToArray(), 0) : null;
        var textRows = Enumerable.Range(0, layout.SequenceLength).Select(i => (long)i).Except(layout.SequenceIndices).ToArray();
        return new PreLlmContext
        {
            Vision = new VisionEvidence
            {
                Embeddings = embeds.index_select(0, tensor(layout.SequenceIndices.ToArray(), dtype: ScalarType.Int64, device: Device)),
                FeaturesBeforeProjector = Cat(i => i.FeaturesBeforeProjector),
                AttentionReceived = Cat(i => i.AttentionReceived),
                Layout = layout,
                Tower = VisionTowerKind.QwenWindowedNoCls,
                Project = Project,
            },
            TextEmbeddings = embeds.index_select(0, tensor(textRows, dtype: ScalarType.Int64, device: Device)),
            TextAfterImage = SequencePlan.TextAfterLastVisual(layout, layout.SequenceLength),
        };
    }
}
