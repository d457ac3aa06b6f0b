using System.Text.Json;
using UniPrune.Engine.Core;
using UniPrune.Engine.Models.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Pruning;

/// <summary>
/// One selection reference file (golden */selection/*.json) with the family's stored tensors. Everything a method needs is built from
/// the tensors the JSON's <c>scored_tensor</c> names; the family is recognised from which inputs its selection_inputs.safetensors holds.
/// </summary>
public sealed class GoldenSelection : IDisposable
{
    public string JsonPath { get; }
    public JsonElement Json { get; }
    public string FamilyDir { get; }
    public string Family { get; }
    public int N { get; }
    public int VisualStart { get; }
    public int PromptLength { get; }
    private readonly SafetensorsFile _outputs, _selection;

    public GoldenSelection(string jsonPath)
    {
        JsonPath = jsonPath;
        Json = JsonDocument.Parse(File.ReadAllText(jsonPath)).RootElement.Clone();
        string selectionDir = Path.GetDirectoryName(jsonPath)!;
        FamilyDir = Path.GetDirectoryName(selectionDir)!;
        _outputs = SafetensorsFile.Open(Path.Combine(FamilyDir, "outputs.safetensors"));
        _selection = SafetensorsFile.Open(Path.Combine(selectionDir, "selection_inputs.safetensors"));
        Family = _selection.Contains("vispruner_qwen_importance") ? "qwen" : _selection.Contains("vispruner_internvl_importance") ? "internvl" : "llava";
        N = Json.GetProperty("N").GetInt32();
        using var index = JsonDocument.Parse(File.ReadAllText(Path.Combine(selectionDir, "_index.json")));
        VisualStart = index.RootElement.GetProperty("visual_span")[0].GetInt32();
        PromptLength = (int)_outputs.Entries["inputs_embeds"].Shape[0];
    }

    public Tensor Output(string name) => _outputs.Read(name, ScalarType.Float32);
    public Tensor SelectionInput(string name) => _selection.Read(name, ScalarType.Float32);
    public Tensor ImageEmbeds() { var t = Output("image_embeds"); return t.reshape(N, t.shape[^1]); }

    /// <summary>The file's unit_policy (per_unit: methods.md §1.5; absent or global: one unit).</summary>
    public Engine.Pruning.Abstractions.UnitPolicy UnitPolicy =>
        Json.TryGetProperty("unit_policy", out var p) && p.GetString() == "per_unit" ? Engine.Pruning.Abstractions.UnitPolicy.PerUnit : Engine.Pruning.Abstractions.UnitPolicy.Global;

    public string Method => Json.GetProperty("method").GetString()!;
    public long[] Longs(string name) => Json.GetProperty(name).EnumerateArray().Select(e => e.GetInt64()).ToArray();
    public long[] ParamLongs(string name) => Json.GetProperty("params").GetProperty(name).EnumerateArray().Select(e => e.GetInt64()).ToArray();
    public int ParamInt(string name) => Json.GetProperty("params").GetProperty(name).GetInt32();

    public double Ratio
    {
        get
        {
            var parts = Json.GetProperty("ratio").GetString()!.Split('/');
            return double.Parse(parts[0]) / double.Parse(parts[1]);
        }
    }

    /// <summary>Visual tokens rows vs..vs+N−1; InternVL: local tiles then the thumbnail (16 tokens per tile, 4×4).</summary>
    public VisualLayout Layout()
    {
        var rows = Enumerable.Range(VisualStart, N).Select(i => (long)i).ToArray();
        IReadOnlyList<VisualUnit> units = Family switch
        {
            "internvl" => [new VisualUnit(VisualUnitKind.LocalTiles, 0, 0, N - 16, 4, 4, (N - 16) / 16), new VisualUnit(VisualUnitKind.Thumbnail, 0, N - 16, 16, 4, 4)],
            "llava" => [new VisualUnit(VisualUnitKind.Image, 0, 0, N, (int)Math.Sqrt(N), (int)Math.Sqrt(N))],
            _ => [new VisualUnit(VisualUnitKind.Image, 0, 0, N, 1, N)],
        };
        return new VisualLayout(units, rows, PromptLength);
    }

    public IReadOnlyList<long> TextAfterImage => Enumerable.Range(VisualStart + N, PromptLength - VisualStart - N).Select(i => (long)i).ToArray();

    public VisionTowerKind Tower => Family switch { "llava" => VisionTowerKind.ClipWithCls, "internvl" => VisionTowerKind.InternVitPixelShuffle, _ => VisionTowerKind.QwenWindowedNoCls };

    /// <summary>The pre-LLM context from the stored tensors (the projector from the checkpoint for LLaVA, for PruMerge).</summary>
    public PreLlmContext PreLlmContext(Func<Tensor, Tensor>? project = null)
    {
        var inputs = Output("inputs_embeds");
        var textRows = Enumerable.Range(0, PromptLength).Where(r => r < VisualStart || r >= VisualStart + N).Select(r => (long)r).ToArray();
        var vision = new VisionEvidence
        {
            Embeddings = ImageEmbeds(),
            Layout = Layout(),
            Tower = Tower,
            Project = project,
            FeaturesBeforeProjector = Family == "llava" ? Output("vision_selected_features") : null,
            ClsAttention = Family switch { "llava" => Output("vision_cls_attn_selected_layer_mean"), "internvl" => SelectionInput("vispruner_internvl_importance"), _ => null },
            AttentionReceived = Family == "qwen" ? SelectionInput("vispruner_qwen_importance") : null,
            LastLayerQueries = Family == "llava" ? SelectionInput("vision_last_layer_q_proj") : null,
            LastLayerKeys = Family == "llava" ? SelectionInput("vision_last_layer_k_proj") : null,
        };
        return new PreLlmContext { Vision = vision, TextEmbeddings = inputs.index_select(0, tensor(textRows)), TextAfterImage = TextAfterImage };
    }

    /// <summary>The context at the input of layer 2 (K = 2): layer-1 attention of the last row, layer-1 keys, the final-normed layer-1 output.</summary>
    public LayerContext LayerTwoContext(LayerProbe probe)
    {
        var normed = SelectionInput("llm_hidden_after_layer1_final_norm");
        long last = PromptLength - 1;
        bool wantsAttention = probe.AttentionQueryRows.Count > 0;
        if (wantsAttention && !(probe.AttentionQueryRows.Count == 1 && probe.AttentionQueryRows[0] == last))
            throw new InvalidOperationException($"the golden set stores only the last row's layer-1 attention; the probe asked for rows [{string.Join(", ", probe.AttentionQueryRows)}]");
        return new LayerContext
        {
            Layer = 2,
            NumLayers = 4,
            Layout = Layout(),
            Hidden = Output("llm_hidden_after_layer1"),
            Attention = wantsAttention ? SelectionInput("llm_layer1_attn_last_token_per_head").unsqueeze(1) : null,
            AttentionQueryRows = probe.AttentionQueryRows,
            Keys = probe.NeedsKeys ? SelectionInput("llm_layer1_key_states_post_rope") : null,
            FinalNorm = _ => normed,
            PromptEmbeddings = Output("inputs_embeds"),
            TextAfterImage = TextAfterImage,
        };
    }

    /// <summary>LLaVA's multi_modal_projector (linear_1, exact GELU, linear_2) from the golden checkpoint.</summary>
    public Func<Tensor, Tensor> LlavaProjector()
    {
        using var ckpt = Checkpoint.Open(FamilyDir);
        var w1 = ckpt.Read("multi_modal_projector.linear_1.weight"); var b1 = ckpt.Read("multi_modal_projector.linear_1.bias");
        var w2 = ckpt.Read("multi_modal_projector.linear_2.weight"); var b2 = ckpt.Read("multi_modal_projector.linear_2.bias");
        return x => nn.functional.linear(nn.functional.gelu(nn.functional.linear(x, w1, b1)), w2, b2);
    }

    public Tensor Merged(string name)
    {
        using var merged = SafetensorsFile.Open(Path.Combine(Path.GetDirectoryName(JsonPath)!, "prumerge_merged.safetensors"));
        return merged.Read($"{Path.GetFileNameWithoutExtension(JsonPath)}/{name}", ScalarType.Float32);
    }

    public void Dispose() { _outputs.Dispose(); _selection.Dispose(); }

    /// <summary>Every selection JSON in the repo's golden fixtures plus the folders in UNIPRUNE_GOLDEN_DIRS (each a family folder
    /// holding selection/, a folder of such family folders, or a selection folder itself).</summary>
    public static IEnumerable<string> AllFiles()
    {
        var roots = new List<string> { Path.Combine(TestPaths.Fixtures, "golden") };
        var extra = Environment.GetEnvironmentVariable("UNIPRUNE_GOLDEN_DIRS");
        if (!string.IsNullOrWhiteSpace(extra)) roots.AddRange(extra.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        var files = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var root in roots)
        {
            if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"UNIPRUNE_GOLDEN_DIRS names '{root}', which is not a folder");
            IEnumerable<string> selectionDirs = File.Exists(Path.Combine(root, "selection_inputs.safetensors")) ? [root]
                : Directory.Exists(Path.Combine(root, "selection")) ? [Path.Combine(root, "selection")]
                : Directory.GetDirectories(root).Select(d => Path.Combine(d, "selection")).Where(Directory.Exists);
            foreach (var dir in selectionDirs)
                foreach (var f in Directory.GetFiles(dir, "*.json").Where(f => !Path.GetFileName(f).StartsWith('_')))
                    files.Add(Path.GetFullPath(f));
        }
        return files;
    }
}
