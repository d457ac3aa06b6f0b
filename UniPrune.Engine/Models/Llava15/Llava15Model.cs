using System.Diagnostics;
using System.Security.Cryptography;
using TorchSharp;
using UniPrune.Engine.Core;
using UniPrune.Engine.Generation;
using UniPrune.Engine.Imaging;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.Common;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace UniPrune.Engine.Models.Llava15;

// LLaVA-1.5 = CLIP ViT-L/14-336 (features of the penultimate layer, CLS dropped) → 2-layer GELU projector → LLaMA.
// Modules are named after the llava-hf checkpoint keys (vision_tower.vision_model.*, multi_modal_projector.*,
// language_model.*); Llava15CheckpointKeys maps the other layouts onto them.

// ---------------------------------------------------------------------------------------------------------------------
// CLIP vision tower
// ---------------------------------------------------------------------------------------------------------------------

/// <summary>Patch conv (no bias) → prepend CLS → add learned absolute positions.</summary>
public sealed class ClipVisionEmbeddings : nn.Module<Tensor, Tensor>
{
    private readonly Parameter class_embedding;
    private readonly PatchEmbedding2d patch_embedding;
    private readonly Embedding position_embedding;

    public ClipVisionEmbeddings(ClipVisionConfig c, ParameterFactory factory) : base(nameof(ClipVisionEmbeddings))
    {
        class_embedding = factory.Create(c.HiddenSize);
        patch_embedding = new PatchEmbedding2d(c.NumChannels, c.HiddenSize, c.PatchSize, hasBias: false, factory);
        position_embedding = new Embedding(c.NumPositions, c.HiddenSize, factory);
        RegisterComponents();
    }

    /// <summary>(B, 3, S, S) → (B, 1 + patches, C).</summary>
    public override Tensor forward(Tensor pixels)
    {
        using var scope = NewDisposeScope();
        var patches = patch_embedding.forward(pixels);
        long batch = patches.shape[0];
        var cls = class_embedding.reshape(1, 1, -1).expand(batch, 1, -1);
        var tokens = cat([cls, patches], 1);
        return tokens.Plus(position_embedding.Weight.unsqueeze(0)).MoveToOuterDisposeScope();
    }
}

/// <param name="Hidden">(B, S, C) entering the layer.</param>
/// <param name="ClsAttention">Whether to return the CLS query's softmax attention of this layer.</param>
public sealed record ClipLayerInput(Tensor Hidden, bool ClsAttention);

/// <param name="ClsAttention">(B, heads, S) float32: CLS query → every position (CLS included), when asked.</param>
public sealed record ClipLayerOutput(Tensor Hidden, Tensor? ClsAttention);

/// <summary>Bidirectional multi-head attention with biased q/k/v/out projections; scale 1/√head_dim.</summary>
public sealed class ClipAttention : nn.Module<ClipLayerInput, ClipLayerOutput>
{
    private readonly Linear q_proj;
    private readonly Linear k_proj;
    private readonly Linear v_proj;
    private readonly Linear out_proj;
    private readonly int _heads, _headDim;

    public ClipAttention(ClipVisionConfig c, ParameterFactory factory) : base(nameof(ClipAttention))
    {
        _heads = c.NumHeads; _headDim = c.HeadDim;
        q_proj = new Linear(c.HiddenSize, c.HiddenSize, true, factory);
        k_proj = new Linear(c.HiddenSize, c.HiddenSize, true, factory);
        v_proj = new Linear(c.HiddenSize, c.HiddenSize, true, factory);
        out_proj = new Linear(c.HiddenSize, c.HiddenSize, true, factory);
        RegisterComponents();
    }

    public override ClipLayerOutput forward(ClipLayerInput input)
    {
        using var scope = NewDisposeScope();
        var x = input.Hidden;
        long batch = x.shape[0], length = x.shape[1];
        Tensor Heads(Tensor t) => t.view(batch, length, _heads, _headDim).transpose(1, 2);
        var q = Heads(q_proj.forward(x));
        var k = Heads(k_proj.forward(x));
        var v = Heads(v_proj.forward(x));
        var attended = AttentionKernel.Attend(q, k, v, causal: false);
        var output = out_proj.forward(attended.transpose(1, 2).reshape(batch, length, -1));
        Tensor? cls = input.ClsAttention
            ? AttentionKernel.Probabilities(q, k, tensor(new long[] { 0 }), causal: false).squeeze(2).MoveToOuterDisposeScope()
            : null;
        return new ClipLayerOutput(output.MoveToOuterDisposeScope(), cls);
    }

    /// <summary>Raw q_proj / k_proj outputs (B, S, C), heads not split, q not scaled (PruMerge's input).</summary>
    public (Tensor Queries, Tensor Keys) Projections(Tensor normed) => (q_proj.forward(normed), k_proj.forward(normed));
}

/// <summary>Pre-LN encoder layer: x + attn(LN1 x), then + fc2(quick_gelu(fc1(LN2 x))).</summary>
public sealed class ClipEncoderLayer : nn.Module<ClipLayerInput, ClipLayerOutput>
{
    private readonly LayerNorm layer_norm1;
    private readonly ClipAttention self_attn;
    private readonly LayerNorm layer_norm2;
    private readonly FeedForwardMlp mlp;

    public ClipEncoderLayer(ClipVisionConfig c, ParameterFactory factory) : base(nameof(ClipEncoderLayer))
    {
        layer_norm1 = new LayerNorm(c.HiddenSize, c.LayerNormEps, factory);
        self_attn = new ClipAttention(c, factory);
        layer_norm2 = new LayerNorm(c.HiddenSize, c.LayerNormEps, factory);
        mlp = new FeedForwardMlp(c.HiddenSize, c.IntermediateSize, c.HiddenAct, factory);
        RegisterComponents();
    }

    public override ClipLayerOutput forward(ClipLayerInput input)
    {
        using var scope = NewDisposeScope();
        var attention = self_attn.forward(input with { Hidden = layer_norm1.forward(input.Hidden) });
        var h = input.Hidden.Plus(attention.Hidden);
        var y = h.Plus(mlp.forward(layer_norm2.forward(h)));
        return new ClipLayerOutput(y.MoveToOuterDisposeScope(), attention.ClsAttention?.MoveToOuterDisposeScope());
    }

    /// <summary>This layer's raw q/k projections of its input (only the first half of its attention: no full pass).</summary>
    public (Tensor Queries, Tensor Keys) QueryKeyProjections(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        var (q, k) = self_attn.Projections(layer_norm1.forward(hidden));
        return (q.MoveToOuterDisposeScope(), k.MoveToOuterDisposeScope());
    }
}

public sealed class ClipEncoder : nn.Module
{
    internal readonly TorchSharp.Modules.ModuleList<ClipEncoderLayer> layers;

    public ClipEncoder(ClipVisionConfig c, ParameterFactory factory) : base(nameof(ClipEncoder))
    {
        layers = new TorchSharp.Modules.ModuleList<ClipEncoderLayer>(Enumerable.Range(0, c.NumLayers).Select(_ => new ClipEncoderLayer(c, factory)).ToArray());
        RegisterComponents();
    }
}

/// <summary>What to compute in one pass through the tower.</summary>
/// <param name="SelectedIndex">hidden_states index whose output is wanted (k = output of layer k−1).</param>
/// <param name="ClsAttention">CLS attention of the layer producing the selected state.</param>
/// <param name="LastLayerQueryKey">Raw q/k of the last layer (its input is hidden_states[L−1]).</param>
/// <param name="AllHiddenStates">Run every layer and return hidden_states[0..L] (parity tests).</param>
public sealed record ClipRequest(int SelectedIndex, bool ClsAttention, bool LastLayerQueryKey, bool AllHiddenStates = false);

/// <param name="Pixels">(B, 3, S, S) normalised pixel values.</param>
public sealed record ClipInput(Tensor Pixels, ClipRequest Request);

/// <param name="Selected">(B, S, C) hidden_states[SelectedIndex], CLS included.</param>
/// <param name="ClsAttention">(B, heads, S) of the selected layer, when asked.</param>
/// <param name="LastQueries">(B, S, C) raw q_proj of the last layer, when asked; <paramref name="LastKeys"/> likewise.</param>
public sealed record ClipOutput(Tensor Selected, Tensor? ClsAttention, Tensor? LastQueries, Tensor? LastKeys, IReadOnlyList<Tensor>? HiddenStates) : IDisposable
{
    public void Dispose()
    {
        Selected.Dispose(); ClsAttention?.Dispose(); LastQueries?.Dispose(); LastKeys?.Dispose();
        if (HiddenStates is not null) foreach (var h in HiddenStates) h.Dispose();
    }
}

/// <summary>CLIPVisionTransformer: embeddings → pre_layrnorm → encoder layers (post_layernorm is in the checkpoint but LLaVA never applies it).</summary>
public sealed class ClipVisionTransformer : nn.Module<ClipInput, ClipOutput>
{
    private readonly ClipVisionEmbeddings embeddings;
    private readonly LayerNorm pre_layrnorm;
    private readonly ClipEncoder encoder;
    private readonly LayerNorm post_layernorm;
    private readonly ClipVisionConfig _config;

    public ClipVisionTransformer(ClipVisionConfig c, ParameterFactory factory) : base(nameof(ClipVisionTransformer))
    {
        _config = c;
        embeddings = new ClipVisionEmbeddings(c, factory);
        pre_layrnorm = new LayerNorm(c.HiddenSize, c.LayerNormEps, factory);
        encoder = new ClipEncoder(c, factory);
        post_layernorm = new LayerNorm(c.HiddenSize, c.LayerNormEps, factory);
        RegisterComponents();
    }

    public override ClipOutput forward(ClipInput input)
    {
        var (pixels, request) = (input.Pixels, input.Request);
        int layerCount = _config.NumLayers;
        if (request.SelectedIndex < 1 || request.SelectedIndex > layerCount)
            throw new ArgumentException($"selected hidden state {request.SelectedIndex} is outside 1..{layerCount}");
        // Only the layers that something needs are run: up to the selected one, and to L−1 when the last layer's q/k are asked.
        int toRun = request.AllHiddenStates ? layerCount : Math.Max(request.SelectedIndex, request.LastLayerQueryKey ? layerCount - 1 : 0);

        using var scope = NewDisposeScope();
        var h = pre_layrnorm.forward(embeddings.forward(pixels));
        var states = request.AllHiddenStates ? new List<Tensor> { h } : null;
        Tensor selected = h, lastInput = h;
        Tensor? cls = null;
        for (int i = 0; i < toRun; i++)
        {
            var output = encoder.layers[i].forward(new ClipLayerInput(h, request.ClsAttention && i == request.SelectedIndex - 1));
            h = output.Hidden;
            cls ??= output.ClsAttention;
            states?.Add(h);
            if (i == request.SelectedIndex - 1) selected = h;
            if (i == layerCount - 2) lastInput = h;
        }
        Tensor? q = null, k = null;
        if (request.LastLayerQueryKey) (q, k) = encoder.layers[layerCount - 1].QueryKeyProjections(lastInput);
        return new ClipOutput(selected.MoveToOuterDisposeScope(), cls?.MoveToOuterDisposeScope(), q?.MoveToOuterDisposeScope(), k?.MoveToOuterDisposeScope(),
            states?.Select(s => s.MoveToOuterDisposeScope()).ToList());
    }
}

/// <summary>The checkpoint's "vision_tower." wrapper around CLIP's "vision_model.".</summary>
public sealed class ClipVisionTower : nn.Module
{
    internal readonly ClipVisionTransformer vision_model;

    public ClipVisionTower(ClipVisionConfig c, ParameterFactory factory) : base(nameof(ClipVisionTower))
    {
        vision_model = new ClipVisionTransformer(c, factory);
        RegisterComponents();
    }
}

/// <summary>linear_1 → GELU (exact) → linear_2 (the original's mm_projector "mlp2x_gelu").</summary>
public sealed class LlavaProjector : nn.Module<Tensor, Tensor>
{
    private readonly Linear linear_1;
    private readonly Linear linear_2;
    private readonly Activation _activation;

    public LlavaProjector(int visionHidden, int textHidden, Activation activation, ParameterFactory factory) : base(nameof(LlavaProjector))
    {
        linear_1 = new Linear(visionHidden, textHidden, true, factory);
        linear_2 = new Linear(textHidden, textHidden, true, factory);
        _activation = activation;
        RegisterComponents();
    }

    public override Tensor forward(Tensor features)
    {
        using var scope = NewDisposeScope();
        return linear_2.forward(Activations.Apply(_activation, linear_1.forward(features.to(linear_1.Weight.dtype, linear_1.Weight.device)))).MoveToOuterDisposeScope();
    }
}

// ---------------------------------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------------------------------

/// <summary>LLaVA-specific load choices.</summary>
/// <param name="PromptStyle">Chat layout of <see cref="Llava15Model.Generate"/> (default: VLMEvalKit's, which the benchmark reproduces).</param>
/// <param name="ImageAspect">Pad-to-square (the original LLaVA and VLMEvalKit) or llava-hf's resize-and-crop.</param>
/// <param name="VisionTowerFolder">Original layout only: the CLIP folder (default: "vision_tower" inside the model folder).</param>
public sealed record Llava15Options(
    LlavaPromptStyle PromptStyle = LlavaPromptStyle.VlmEvalKit,
    LlavaImageAspect ImageAspect = LlavaImageAspect.PadToSquare,
    string? VisionTowerFolder = null);

public sealed class Llava15Model : nn.Module, IVisionLanguageModel
{
    private readonly ClipVisionTower vision_tower;
    private readonly LlavaProjector multi_modal_projector;
    private readonly CausalLanguageModel language_model;

    public Llava15Config Config { get; }
    public Llava15Options Options { get; }
    public ScalarType DType { get; }
    public Device Device { get; }
    public ITextTokenizer? Tokenizer { get; private set; }
    public ClipImageProcessor? ImageProcessor { get; private set; }
    public ModelIdentity Identity { get; private set; }
    public CausalLanguageModel LanguageModel => language_model;

    public Llava15Model(Llava15Config config, ParameterFactory factory, Llava15Options? options = null) : base(nameof(Llava15Model))
    {
        Config = config; DType = factory.DType; Device = factory.Device; Options = options ?? new Llava15Options();
        vision_tower = new ClipVisionTower(config.Vision, factory);
        multi_modal_projector = new LlavaProjector(config.Vision.HiddenSize, config.Text.HiddenSize, config.ProjectorActivation, factory);
        language_model = new CausalLanguageModel(config.Text, factory);
        Identity = new ModelIdentity("llava15", "(unloaded)", "", "", DType.ToString(), Device.ToString());
        RegisterComponents();
    }

    /// <summary>The whole skeleton on the meta device: shapes and names only, no memory.</summary>
    public static Llava15Model OnMeta(Llava15Config config, ScalarType dtype = ScalarType.Float16) => new(config, new ParameterFactory(dtype, META));

    /// <summary>
    /// Loads a model folder (config.json, safetensors, tokenizer.json and preprocessor_config.json when present) in
    /// either layout; the load is strict (every tensor present with its shape, nothing left over but known extras).
    /// </summary>
    public static Llava15Model Load(string folder, ModelLoadOptions load, Llava15Options? options = null)
    {
        options ??= new Llava15Options();
        var config = Llava15Config.Load(folder, options.VisionTowerFolder);
        var model = new Llava15Model(config, new ParameterFactory(load.DType, load.Device), options);
        try
        {
            var weightFiles = new List<string>();
            if (config.Layout == LlavaCheckpointLayout.LlavaHf)
            {
                using var checkpoint = Checkpoint.Open(folder);
                var keyOf = Llava15CheckpointKeys.ForHfCheckpoint(checkpoint);
                WeightLoader.Load(model, checkpoint, keyOf, Llava15CheckpointKeys.IgnorableInHf);
                weightFiles.Add(checkpoint.Source);
            }
            else
            {
                string visionFolder = Path.GetDirectoryName(config.VisionConfigFile!)!;
                using (var llm = Checkpoint.Open(folder))
                {
                    WeightLoader.Load(model.ParametersUnder("language_model.", "multi_modal_projector."), llm,
                        Llava15CheckpointKeys.OriginalLlmKey, Llava15CheckpointKeys.IgnorableInOriginalLlm);
                    weightFiles.Add(llm.Source);
                }
                using (var clip = Checkpoint.Open(visionFolder))
                {
                    WeightLoader.Load(model.ParametersUnder("vision_tower."), clip, Llava15CheckpointKeys.ClipKey, Llava15CheckpointKeys.IgnorableInClip);
                    weightFiles.Add(clip.Source);
                }
            }
            model.Identity = new ModelIdentity("llava15", Path.GetFileName(Path.GetFullPath(folder).TrimEnd('/')),
                Fingerprints.OfFile(config.ConfigFile), Fingerprints.OfSafetensors(weightFiles), load.DType.ToString(), load.Device.ToString());
            string tokenizerFile = Path.Combine(folder, "tokenizer.json");
            if (File.Exists(tokenizerFile) && load.TokenizerLoader is not null) model.Tokenizer = load.TokenizerLoader(tokenizerFile);
            model.ImageProcessor = LoadImageProcessor(folder, config, options.ImageAspect);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return model;
    }

    private IReadOnlyList<(string Name, Tensor Parameter)> ParametersUnder(params string[] prefixes) =>
        named_parameters().Where(p => prefixes.Any(p.name.StartsWith)).Select(p => (p.name, (Tensor)p.parameter)).ToList();

    private static ClipImageProcessor LoadImageProcessor(string folder, Llava15Config config, LlavaImageAspect aspect)
    {
        string own = Path.Combine(folder, "preprocessor_config.json");
        if (File.Exists(own)) return ClipImageProcessor.FromPreprocessorConfig(own, aspect);
        if (config.VisionConfigFile is not null)
        {
            string clip = Path.Combine(Path.GetDirectoryName(config.VisionConfigFile)!, "preprocessor_config.json");
            if (File.Exists(clip)) return ClipImageProcessor.FromPreprocessorConfig(clip, aspect);
            return ClipImageProcessor.FromModelConfig(JsonConfig.Load(config.VisionConfigFile), aspect);
        }
        return ClipImageProcessor.FromModelConfig(JsonConfig.Load(config.ConfigFile), aspect);
    }

    /// <summary>Lets a tokenizer be attached after loading (tests, or a harness that builds tokenizers itself).</summary>
    public void UseTokenizer(ITextTokenizer tokenizer) => Tokenizer = tokenizer;

    // ---------------------------------------------------------------------------------------------------------------
    // Vision
    // ---------------------------------------------------------------------------------------------------------------

    public EncodedImage EncodeImage(RgbImage image, VisionExtras extras = VisionExtras.All)
    {
        var processor = ImageProcessor ?? throw new InvalidOperationException("this model was not loaded from a folder, so it has no image processor; use EncodePixels");
        using var input = processor.Process(image);
        return EncodePixels(input.PixelValues, extras);
    }

    /// <summary>CLIP to the selected layer, drop CLS, project. <paramref name="pixelValues"/>: (1, 3, S, S) normalised.</summary>
    public EncodedImage EncodePixels(Tensor pixelValues, VisionExtras extras = VisionExtras.All)
    {
        if (pixelValues.dim() != 4 || pixelValues.shape[0] != 1 || pixelValues.shape[1] != Config.Vision.NumChannels
            || pixelValues.shape[2] != Config.Vision.ImageSize || pixelValues.shape[3] != Config.Vision.ImageSize)
            throw new ArgumentException($"pixel values must be (1, {Config.Vision.NumChannels}, {Config.Vision.ImageSize}, {Config.Vision.ImageSize}); got [{string.Join(", ", pixelValues.shape)}]");
        using var _ = inference_mode();
        using var scope = NewDisposeScope();
        var clock = Stopwatch.StartNew();
        var request = new ClipRequest(Config.VisionLayersToRun, extras.HasFlag(VisionExtras.ClsAttention), extras.HasFlag(VisionExtras.LastLayerQueryKey));
        var output = vision_tower.vision_model.forward(new ClipInput(pixelValues.to(DType, Device), request));
        int skip = Config.DropClsToken ? 1 : 0;
        var features = output.Selected[0, skip..];
        var embeddings = multi_modal_projector.forward(features);
        // Head mean of the CLS query's probabilities, restricted to the visual tokens that remain.
        var cls = output.ClsAttention?[0].mean([0])[skip..];
        GreedyDecoder.Synchronize(Device);
        double ms = clock.Elapsed.TotalMilliseconds;
        int side = Config.Vision.PatchesPerSide;
        return new EncodedImage
        {
            Embeddings = embeddings.MoveToOuterDisposeScope(),
            FeaturesBeforeProjector = features.MoveToOuterDisposeScope(),
            ClsAttention = cls?.MoveToOuterDisposeScope(),
            LastLayerQueries = output.LastQueries?[0].MoveToOuterDisposeScope(),
            LastLayerKeys = output.LastKeys?[0].MoveToOuterDisposeScope(),
            Units = [new VisualUnit(VisualUnitKind.Image, 0, 0, (int)embeddings.shape[0], Config.DropClsToken ? side : 1, Config.DropClsToken ? side : (int)embeddings.shape[0])],
            VisionMs = ms,
        };
    }

    /// <summary>Every CLIP hidden state (L+1, S, C) and the selected layer's CLS attention per head (heads, S): parity tests.</summary>
    public (Tensor HiddenStates, Tensor ClsAttentionPerHead) TraceVision(Tensor pixelValues)
    {
        using var _ = inference_mode();
        using var scope = NewDisposeScope();
        using var output = vision_tower.vision_model.forward(new ClipInput(pixelValues.to(DType, Device), new ClipRequest(Config.VisionLayersToRun, true, false, AllHiddenStates: true)));
        var states = stack(output.HiddenStates!.Select(h => h[0]).ToArray());
        return (states.MoveToOuterDisposeScope(), output.ClsAttention![0].clone().MoveToOuterDisposeScope());
    }

    /// <summary>The projector as a function (merging methods project merged pre-projector features themselves).</summary>
    public Tensor Project(Tensor features) => multi_modal_projector.forward(features);

    /// <summary>
    /// Training entry (additive, used by Engine/Training): projected visual tokens (B, n, H) of normalised pixels (B, 3, S, S)
    /// through the same CLIP layers, feature layer and CLS handling as <see cref="EncodePixels"/>, but with autograd (no inference_mode).
    /// </summary>
    public Tensor VisualTokensForTraining(Tensor pixelValues)
    {
        using var output = vision_tower.vision_model.forward(new ClipInput(pixelValues.to(DType, Device), new ClipRequest(Config.VisionLayersToRun, false, false)));
        int skip = Config.DropClsToken ? 1 : 0;
        return multi_modal_projector.forward(output.Selected[.., skip..]);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Prompts
    // ---------------------------------------------------------------------------------------------------------------

    public GenerationResult Generate(PromptMessage prompt, IReadOnlyList<EncodedImage> images, IPruningHooks? hooks, GenerationOptions options)
    {
        var tokenizer = Tokenizer ?? throw new InvalidOperationException(
            $"{Identity.Name}: no tokenizer (tokenizer.json absent or no TokenizerLoader given); use RunPrompt with token ids");
        var order = prompt.Segments.OfType<ImageSegment>().Select(s => s.ImageIndex).ToList();
        foreach (var index in order)
            if (index < 0 || index >= images.Count) throw new ArgumentException($"the prompt refers to image {index} but {images.Count} were given");
        var ids = Llava15Prompt.Tokenize(Llava15Prompt.Build(prompt, Options.PromptStyle), tokenizer, Config.BosTokenId);
        var stops = new HashSet<long> { Config.EosTokenId };
        if (options.ExtraStopTokenIds is not null) stops.UnionWith(options.ExtraStopTokenIds.Select(t => (long)t));
        using var run = RunPrompt(ids, order.Select(i => images[i]).ToList(), hooks, options.MaxNewTokens, stops);
        return run.ToResult(tokenizer.Decode(run.AnswerTokens).Trim(), images);
    }

    /// <summary>
    /// Runs a tokenised prompt: each image is one <see cref="Llava15Config.ImageSentinel"/> id (LLaVA's convention) or a run of
    /// exactly TokenCount placeholder ids (llava-hf's expanded form); images fill them in order.
    /// </summary>
    public PromptRun RunPrompt(IReadOnlyList<long> inputIds, IReadOnlyList<EncodedImage> images, IPruningHooks? hooks, int maxNewTokens,
        IReadOnlySet<long> stopTokenIds, LogitsSelection prefillLogits = LogitsSelection.Last, DecoderTrace? trace = null, bool keepStepLogits = false)
    {
        using var _ = inference_mode();
        using var scope = NewDisposeScope();
        var (embeds, layout) = Splice(inputIds, images);
        if (Config.MaxSplicedLength is int max && embeds.shape[0] > max)
            (embeds, layout) = (embeds[..max], Truncate(layout, max));
        int promptLength = (int)embeds.shape[0];
        var positions = HeldScalars.Arange(promptLength, ScalarType.Int64, Device).unsqueeze(0);
        return PromptRunner.Run(language_model, null, embeds, positions, layout, hooks, () => PreLlmContextFor(embeds, layout, images),
            nextPosition: null, maxNewTokens, stopTokenIds, prefillLogits, trace, keepStepLogits);
    }

    /// <summary>Token embeddings with each image's projected rows placed at its placeholder; the layout of those rows.</summary>
    public (Tensor Embeddings, VisualLayout Layout) Splice(IReadOnlyList<long> inputIds, IReadOnlyList<EncodedImage> images)
    {
        using var scope = NewDisposeScope();
        var pieces = new List<Tensor>();
        var units = new List<VisualUnit>();
        var visualRows = new List<long>();
        var text = new List<long>();
        long row = 0;
        int image = 0, visualOffset = 0;
        void FlushText()
        {
            if (text.Count == 0) return;
            pieces.Add(language_model.Embed(tensor(text.ToArray(), dtype: ScalarType.Int64)));
            row += text.Count;
            text.Clear();
        }
        void PlaceImage()
        {
            if (image >= images.Count) throw new ArgumentException($"the prompt has more image placeholders than the {images.Count} images given");
            var encoded = images[image];
            FlushText();
            pieces.Add(encoded.Embeddings.to(DType, Device));
            foreach (var u in encoded.Units) units.Add(u with { ImageIndex = image, Offset = visualOffset + u.Offset });
            for (int i = 0; i < encoded.TokenCount; i++) visualRows.Add(row + i);
            row += encoded.TokenCount;
            visualOffset += encoded.TokenCount;
            image++;
        }
        for (int i = 0; i < inputIds.Count; i++)
        {
            long id = inputIds[i];
            if (id == Llava15Config.ImageSentinel) { PlaceImage(); continue; }
            if (id == Config.ImageTokenIndex && Config.Layout == LlavaCheckpointLayout.LlavaHf)
            {
                // Expanded form: exactly TokenCount placeholder ids per image.
                int needed = image < images.Count ? images[image].TokenCount : 0;
                int run = 0;
                while (i + run < inputIds.Count && inputIds[i + run] == id && run < needed) run++;
                if (needed == 0 || run < needed)
                    throw new ArgumentException($"placeholder run at token {i} has {run} ids; image {image} needs {needed} (one per visual token)");
                PlaceImage();
                i += run - 1;
                continue;
            }
            if (id < 0 || id >= Config.Text.VocabSize) throw new ArgumentException($"token id {id} at position {i} is outside the vocabulary (0..{Config.Text.VocabSize - 1})");
            text.Add(id);
        }
        FlushText();
        if (image != images.Count) throw new ArgumentException($"{images.Count} images were given but the prompt has {image} placeholders");
        var embeddings = cat(pieces, 0);
        var layout = new VisualLayout(units, visualRows, (int)row);
        return (embeddings.MoveToOuterDisposeScope(), layout);
    }

    /// <summary>The layout of the first <paramref name="length"/> rows (visual tokens past the cut are gone, as in LLaVA's truncation).</summary>
    public static VisualLayout Truncate(VisualLayout layout, int length)
    {
        var rows = layout.SequenceIndices.Where(r => r < length).ToList();
        var units = new List<VisualUnit>();
        foreach (var u in layout.Units)
        {
            int kept = Math.Max(0, Math.Min(u.Count, rows.Count - u.Offset));
            if (kept > 0) units.Add(u with { Count = kept });
        }
        return new VisualLayout(units, rows, length);
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
                ClsAttention = Cat(i => i.ClsAttention),
                // PruMerge reads one image's q/k (with CLS); several images have no single CLS row.
                LastLayerQueries = images.Count == 1 ? images[0].LastLayerQueries : null,
                LastLayerKeys = images.Count == 1 ? images[0].LastLayerKeys : null,
                Layout = layout,
                Tower = VisionTowerKind.ClipWithCls,
                Project = Project,
            },
            TextEmbeddings = embeds.index_select(0, tensor(textRows, dtype: ScalarType.Int64, device: Device)),
            TextAfterImage = SequencePlan.TextAfterLastVisual(layout, layout.SequenceLength),
        };
    }
}
