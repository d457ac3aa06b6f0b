using UniPrune.Engine.Imaging;
using UniPrune.Engine.Training;
using Xunit;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Training;

/// <summary>The reconstruction head's targets line up with the tokens: region k of the grid is token k.</summary>
public class ReconstructionTargetTests
{
    [Fact]
    public void GridTargetsFollowTheRowMajorTokenOrder()
    {
        // A 2x3 grid of 28-px regions, region k filled with the value k in every channel.
        var pixels = zeros(1, 3, 56, 84);
        for (int r = 0; r < 2; r++)
            for (int c = 0; c < 3; c++)
                pixels[.., .., (r * 28)..((r + 1) * 28), (c * 28)..((c + 1) * 28)] = tensor((float)(r * 3 + c));
        var targets = PatchReconstructionHead.GridTargets(pixels, 28);
        Assert.Equal(new long[] { 1, 6, PatchReconstructionHead.TargetSize }, targets.shape);
        for (int k = 0; k < 6; k++)
        {
            Assert.Equal(k, targets[0, k].min().item<float>());
            Assert.Equal(k, targets[0, k].max().item<float>());
        }
    }

    [Fact]
    public void QwenMergeUnitTargetsEqualTheRegionsOfTheProcessedImage()
    {
        var random = new Random(7);
        var bytes = new byte[112 * 56 * 3];
        random.NextBytes(bytes);
        var image = new RgbImage(112, 56, bytes);   // multiples of 28: smart_resize keeps the size
        var processor = new QwenImageProcessor(56 * 56, 224 * 224, 14, 2, 2, 1 / 255.0, ChannelStats.OpenAIClip, "test");
        using var input = processor.Process(image);
        Assert.Equal(112, input.ResizedImage.Width);

        // The same image normalised by hand, (1, 3, H, W), cut into 28-px regions in raster order.
        var normalised = tensor(bytes.Select(b => (float)b).ToArray(), [56, 112, 3]).permute(2, 0, 1).unsqueeze(0).div(255.0f);
        var mean = tensor(ChannelStats.OpenAIClip.Mean.Select(m => (float)m).ToArray()).view(1, 3, 1, 1);
        var std = tensor(ChannelStats.OpenAIClip.Std.Select(s => (float)s).ToArray()).view(1, 3, 1, 1);
        var expected = PatchReconstructionHead.GridTargets((normalised - mean) / std, 28)[0];

        var actual = PatchReconstructionHead.QwenMergeUnitTargets(input.PixelValues, 2, 14, 2);
        Assert.Equal(expected.shape, actual.shape);
        double difference = (expected - actual).abs().max().item<float>();
        Assert.True(difference < 1e-4, $"max difference {difference}");
    }
}
