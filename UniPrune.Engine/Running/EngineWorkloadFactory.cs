using System.Security.Cryptography;
using System.Text;
using UniPrune.Engine.Datasets;
using UniPrune.Engine.Imaging;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.InternVL3;
using UniPrune.Engine.Models.Llava15;
using UniPrune.Engine.Models.Qwen25VL;
using UniPrune.Engine.Pruning;
using UniPrune.Engine.Pruning.Abstractions;
using UniPrune.Engine.Reporting;
using UniPrune.Engine.Scoring;
using UniPrune.Engine.Scoring.Judge;
using UniPrune.Engine.Text;
using UniPrune.Engine.Timing;
using static TorchSharp.torch;

namespace UniPrune.Engine.Running;

/// <summary>
/// The real binding of manifest cells to the engine: the model from its folder (real checkpoints under UNIPRUNE_MODELS, or the
/// repository's tiny ones), the dataset's rows, prompts and scorer from its TSV (LMUData, or the repository's fixtures), and the
/// pruning hooks from the registry. Each model is loaded once per process and shared by every cell; each image's vision
/// encoding is computed once per model (and per preprocessing setting) and reused by every method and ratio, since pre-LLM
/// methods only choose among the encoded tokens.
/// </summary>
public sealed class EngineWorkloadFactory(BenchEnvironment environment, BenchManifest manifest) : ICellWorkloadFactory
{
    /// <summary>Images kept encoded per process (UNIPRUNE_VISION_CACHE overrides): least recently used ones are dropped beyond it.</summary>
    private readonly int _visionCacheCapacity = int.TryParse(System.Environment.GetEnvironmentVariable("UNIPRUNE_VISION_CACHE"), out var n) && n > 0 ? n : 2048;
    private readonly Dictionary<string, LoadedModel> _models = [];
    private readonly Dictionary<string, (VlmDataset Dataset, IReadOnlyList<DatasetSample> Samples, string FileSha256, bool Official)> _datasets = [];
    private readonly Dictionary<string, LinkedListNode<(string Key, EncodedImage Image)>> _vision = [];
    private readonly LinkedList<(string Key, EncodedImage Image)> _visionOrder = new();

    internal BenchManifest ManifestFor() => manifest;

    public int ModelLoads { get; private set; }
    public int VisionEncodes { get; private set; }
    public int VisionReuses { get; private set; }

    public string? MissingPrerequisite(CellSpec cell)
    {
        var missing = environment.MissingPrerequisite(manifest, cell);
        if (missing is not null) return missing;
        var dataset = DatasetCatalog.Get(manifest.Datasets[cell.Dataset].Benchmark);
        return dataset.JudgeSkipReason(JudgeSettings.FromEnvironment()) is { } judge ? $"{cell.Id}: {judge}" : null;
    }

    public ICellWorkload Create(CellSpec cell)
    {
        var model = Model(cell.Model);
        var (dataset, samples, fileSha, official) = Dataset(cell.Dataset);
        var tier = manifest.Tiers[cell.Tier];
        if (tier.CpuThreads is int threads && !DeviceClock.HasCuda && get_num_threads() != threads) set_num_threads(threads);
        if (tier.MaxSamples is int max) samples = FirstSamples(samples, max);
        return new EngineWorkload(this, cell, model, dataset, samples, fileSha, official, tier.MaxNewTokens);
    }

    /// <summary>
    /// The first <paramref name="max"/> rows, extended to the end of the run of rows that share the last row's image: MMBench's
    /// circular copies, MME's question pair and POPE's questions on one image are scored together, so a cap never splits them.
    /// </summary>
    public static IReadOnlyList<DatasetSample> FirstSamples(IReadOnlyList<DatasetSample> samples, int max)
    {
        int count = Math.Min(max, samples.Count);
        if (count == 0) return [];
        static string? ImageOf(DatasetSample s) => s.Images.Count > 0 ? s.Images[0].Key : null;
        var last = ImageOf(samples[count - 1]);
        while (last is not null && count < samples.Count && ImageOf(samples[count]) == last) count++;
        return count == samples.Count ? samples : samples.Take(count).ToList();
    }

    private LoadedModel Model(string name)
    {
        if (_models.TryGetValue(name, out var loaded)) return loaded;
        var entry = manifest.Models[name];
        var folder = entry.Weights.Resolve(environment.RepositoryRoot, $"weights of {name}", out var missing) ?? throw new FileNotFoundException(missing);
        var device = DeviceClock.HasCuda ? CUDA : CPU;
        // bf16 on GPUs as the reference runs do; float32 on the CPU, where bf16 matmuls are slow and the tiny tier is exact.
        var options = new ModelLoadOptions(DeviceClock.HasCuda ? ScalarType.BFloat16 : ScalarType.Float32, device, HfTokenizer.LoadForModel);
        IVisionLanguageModel model = entry.Family switch
        {
            "llava15" => Llava15Model.Load(folder, options),
            "qwen25vl" => Qwen25VLModel.Load(folder, options),
            "internvl3" => InternVL3Model.Load(folder, options),
            _ => throw new FormatException($"{manifest.File}: models.{name}.family must be llava15, qwen25vl or internvl3 (got '{entry.Family}')"),
        };
        string tokenizerSha = "";
        if (entry.Tokenizer is not null)
        {
            var path = Path.Combine(environment.RepositoryRoot, entry.Tokenizer);
            if (!File.Exists(path)) throw new FileNotFoundException($"{manifest.File}: models.{name}.tokenizer '{path}' does not exist", path);
            ITextTokenizer tokenizer = HfTokenizer.LoadForModel(path);
            switch (model)
            {
                case Llava15Model llava: llava.UseTokenizer(tokenizer); break;
                case Qwen25VLModel qwen: qwen.UseTokenizer(tokenizer); break;
                case InternVL3Model internvl: internvl.UseTokenizer(tokenizer); break;
            }
            tokenizerSha = Sha256(File.ReadAllBytes(path));
        }
        loaded = new LoadedModel(name, entry.Family, model, tokenizerSha);
        ModelLoads++;
        _models[name] = loaded;
        return loaded;
    }

    private (VlmDataset, IReadOnlyList<DatasetSample>, string, bool) Dataset(string name)
    {
        if (_datasets.TryGetValue(name, out var cached)) return cached;
        var entry = manifest.Datasets[name];
        var dataset = DatasetCatalog.Get(entry.Benchmark);
        var path = entry.Data.Resolve(environment.RepositoryRoot, $"data of {name}", out var missing) ?? throw new FileNotFoundException(missing);
        // Real TSVs are checked as VLMEvalKit checks them (MD5, row count); the repository's small project-made files are read as they are.
        bool official = entry.Data.Env is not null;
        var samples = official ? dataset.Load(Path.GetDirectoryName(path)) : dataset.LoadFile(path);
        cached = (dataset, samples, Sha256(File.ReadAllBytes(path)), official);
        _datasets[name] = cached;
        return cached;
    }

    /// <summary>The encoded image for a model and preprocessing setting, computed on first use.</summary>
    internal EncodedImage Encode(LoadedModel model, SampleImage image, PromptPlan plan)
    {
        string setting = model.Family switch
        {
            "qwen25vl" => $"minpx={plan.QwenMinPixels}",
            "internvl3" => $"tiles={plan.InternVLMaxTiles}",
            _ => "",
        };
        string key = $"{model.Name}|{setting}|{image.Key}";
        if (_vision.TryGetValue(key, out var node))
        {
            _visionOrder.Remove(node);
            _visionOrder.AddFirst(node);
            VisionReuses++;
            return node.Value.Image;
        }
        var rgb = ImageDecoder.Decode(image.Bytes, image.Origin);
        EncodedImage encoded = model.Model switch
        {
            Qwen25VLModel qwen when plan.QwenMinPixels is int minPixels => qwen.EncodeImage(rgb, minPixels, qwen.ImageProcessor!.MaxPixels),
            InternVL3Model internvl => EncodeWithTiles(internvl, rgb, plan.InternVLMaxTiles),
            var m => m.EncodeImage(rgb),
        };
        VisionEncodes++;
        _vision[key] = _visionOrder.AddFirst((key, encoded));
        while (_vision.Count > _visionCacheCapacity)
        {
            var last = _visionOrder.Last!;
            _visionOrder.RemoveLast();
            _vision.Remove(last.Value.Key);
            last.Value.Image.Dispose();
        }
        return encoded;
    }

    private static EncodedImage EncodeWithTiles(InternVL3Model model, RgbImage image, int? maxTiles)
    {
        model.UseMaxTiles(maxTiles ?? InternVL3Model.VlmEvalKitDefaultMaxTiles);
        return model.EncodeImage(image);
    }

    internal static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    public void Dispose()
    {
        foreach (var (_, image) in _visionOrder) image.Dispose();
        _visionOrder.Clear();
        _vision.Clear();
        foreach (var model in _models.Values) model.Model.Dispose();
        _models.Clear();
    }

    internal sealed record LoadedModel(string Name, string Family, IVisionLanguageModel Model, string TokenizerSha256);
}

/// <summary>One cell bound to a loaded model, a dataset's rows and a pruning spec.</summary>
internal sealed class EngineWorkload : ICellWorkload
{
    private readonly EngineWorkloadFactory _factory;
    private readonly EngineWorkloadFactory.LoadedModel _model;
    private readonly VlmDataset _dataset;
    private readonly bool _officialData;
    private readonly Dictionary<string, (DatasetSample Sample, PromptPlan Plan)> _byId = [];
    private readonly string? _spec;
    private readonly double _retention;
    private readonly double? _secondRetention;
    private readonly int? _maxNewTokens;

    public CellSpec Cell { get; }
    public string Fingerprint { get; }
    public IReadOnlyDictionary<string, object?> Identity { get; }
    public IReadOnlyList<WorkItem> Items { get; }

    public EngineWorkload(EngineWorkloadFactory factory, CellSpec cell, EngineWorkloadFactory.LoadedModel model, VlmDataset dataset,
        IReadOnlyList<DatasetSample> samples, string dataSha256, bool officialData, int? maxNewTokens)
    {
        _factory = factory; _model = model; _dataset = dataset; _officialData = officialData; _maxNewTokens = maxNewTokens;
        Cell = cell;
        var manifest = factory.ManifestFor();
        _retention = manifest.Retention(cell.Ratio);
        if (!cell.IsVanilla)
        {
            var method = manifest.Methods[cell.Method];
            _spec = method.SpecFor(cell.Stage);
            _secondRetention = method.SecondStageRatio is { } second ? manifest.Retention(second) : null;
        }
        var policy = PromptPolicy.For(model.Family);
        var items = new List<WorkItem>(samples.Count);
        foreach (var sample in samples)
        {
            var plan = policy.Build(dataset, sample);
            var promptKey = plan.PromptMode + "\n" + plan.Text + "\n" + string.Join(",", plan.Images.Select(i => i.Key));
            items.Add(new WorkItem(sample.Index, EngineWorkloadFactory.Sha256(Encoding.UTF8.GetBytes(promptKey))[..16]));
            if (!_byId.TryAdd(sample.Index, (sample, plan)))
                throw new InvalidDataException($"{sample.File}: index {sample.Index} appears twice; the harness keys samples by index");
        }
        Items = items;
        var id = model.Model.Identity;
        Fingerprint = string.Join("|", "engine=" + EngineIdentity.Build, id.Family, id.Name, id.ConfigSha256, id.WeightsSha256, id.DType, id.Device,
            "tokenizer=" + model.TokenizerSha256, "data=" + dataSha256, "spec=" + (_spec ?? "vanilla"), $"retention={_retention:R}",
            $"second={_secondRetention:R}", $"maxNewTokens={maxNewTokens}");
        Identity = new Dictionary<string, object?>
        {
            ["model"] = Tree(("family", id.Family), ("name", id.Name), ("configSha256", id.ConfigSha256), ("weightsSha256", id.WeightsSha256),
                ("dtype", id.DType), ("device", id.Device), ("tokenizerSha256", model.TokenizerSha256)),
            ["dataset"] = Tree(("benchmark", dataset.Name), ("fileSha256", dataSha256), ("rows", samples.Count)),
            ["method"] = Tree(("spec", _spec ?? "none"), ("stage", cell.Stage), ("retention", _retention), ("maxNewTokens", maxNewTokens)),
        };
    }

    public SampleOutput Run(WorkItem item)
    {
        var (sample, plan) = _byId[item.Id];
        var images = plan.Images.Select(image => _factory.Encode(_model, image, plan)).ToList();
        IPruningHooks? hooks = _spec is null ? null : PruningRegistry.CreateHooks(_spec,
            new PruningSettings(_retention) { Seed = SeedOf(item.Id) },
            _secondRetention is double second ? new PruningSettings(second) { Seed = SeedOf(item.Id) } : null);
        var options = new GenerationOptions(_maxNewTokens is int cap ? Math.Min(cap, plan.MaxNewTokens) : plan.MaxNewTokens);
        var result = _model.Model.Generate(plan.Message, images, hooks, options);
        return new SampleOutput(result.Text, result.VisualTokens, result.VisualTokensKept, result.Timings, result.PromptTokens);
    }

    public CellScores Score(IReadOnlyList<(WorkItem Item, string Prediction)> predictions)
    {
        var list = predictions.Select(p => new SamplePrediction(_byId[p.Item.Id].Sample, p.Prediction)).ToList();
        // The repository's small files hold a few rows of a benchmark; MME then scores the categories present instead of refusing.
        var context = new ScoringContext { AllowPartial = !_officialData || list.Count < (_dataset.ExpectedSampleCount ?? 0) };
        return _dataset.ScoreAsync(list, context).GetAwaiter().GetResult().ToCellScores();
    }

    /// <summary>A per-sample seed that does not depend on the order samples are run in (random methods stay reproducible on resume).</summary>
    private static int SeedOf(string id) => BitConverter.ToInt32(SHA256.HashData(Encoding.UTF8.GetBytes(id)), 0) & 0x7fffffff;

    private static SortedDictionary<string, object?> Tree(params (string Key, object? Value)[] entries) =>
        new(entries.ToDictionary(e => e.Key, e => e.Value), StringComparer.Ordinal);
}
