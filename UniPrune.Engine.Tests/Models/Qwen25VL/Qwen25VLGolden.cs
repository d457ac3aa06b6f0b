using UniPrune.Engine.Core;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.Qwen25VL;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Models.Qwen25VL;

/// <summary>The Qwen2.5-VL golden folder (tiny float32 checkpoint + reference tensors from transformers 4.50).</summary>
internal sealed class Qwen25VLGolden : IDisposable
{
    public const double Atol = 1e-4, Rtol = 1e-4;

    public string Folder { get; } = TestPaths.Golden("qwen2_5_vl");
    public Qwen25VLConfig Config { get; }
    public SafetensorsFile Inputs { get; }
    public SafetensorsFile Outputs { get; }

    public Qwen25VLGolden()
    {
        Config = Qwen25VLConfig.Load(Path.Combine(Folder, "config.json"));
        Inputs = SafetensorsFile.Open(Path.Combine(Folder, "inputs.safetensors"));
        Outputs = SafetensorsFile.Open(Path.Combine(Folder, "outputs.safetensors"));
    }

    public GridThw[] Grids()
    {
        using var g = Inputs.Read("image_grid_thw");
        var v = g.data<long>().ToArray();
        return Enumerable.Range(0, (int)g.shape[0]).Select(i => new GridThw((int)v[3 * i], (int)v[3 * i + 1], (int)v[3 * i + 2])).ToArray();
    }

    public long[] InputIds()
    {
        using var ids = Inputs.Read("input_ids");
        return ids.data<long>().ToArray();
    }

    public Qwen25VLModel LoadModel() => Qwen25VLModel.Load(Folder, ModelLoadOptions.Cpu());

    /// <summary>The golden image through the model's vision tower.</summary>
    public EncodedImage Encode(Qwen25VLModel model, VisionExtras extras)
    {
        using var pixels = Inputs.Read("pixel_values");
        return model.EncodePixels(pixels, Grids().Single(), extras);
    }

    public void Dispose()
    {
        Inputs.Dispose();
        Outputs.Dispose();
    }

    /// <summary>numpy.allclose at the golden tolerance; logs and returns the max abs difference.</summary>
    public static double AssertClose(Tensor expected, Tensor actual, string name, ITestOutputHelper? log = null, double atol = Atol, double rtol = Rtol) =>
        Common.GoldenAssert.Close(expected, actual, name, log, atol, rtol);
}
