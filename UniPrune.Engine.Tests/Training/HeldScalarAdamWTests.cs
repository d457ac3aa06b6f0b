using TorchSharp;
using UniPrune.Engine.Training;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Training;

public class HeldScalarAdamWTests
{
    /// <summary>Two body + head networks with the same seeded weights.</summary>
    private static ((TorchSharp.Modules.Linear body, TorchSharp.Modules.Linear head) first, (TorchSharp.Modules.Linear body, TorchSharp.Modules.Linear head) second) TwinNetworks(int seed)
    {
        random.manual_seed(seed);
        var first = (body: nn.Linear(6, 5), head: nn.Linear(5, 2));
        var second = (body: nn.Linear(6, 5), head: nn.Linear(5, 2));
        using (no_grad())
        {
            foreach (var (a, b) in first.body.parameters().Concat(first.head.parameters()).Zip(second.body.parameters().Concat(second.head.parameters())))
                b.copy_(a);
        }
        return (first, second);
    }
    /// <summary>
    /// Two copies of a small network, one updated by TorchSharp's AdamW and one by ours, with the same gradients, a learning
    /// rate that changes every step and a head whose gradient only appears at step 3: the parameters stay bit-identical.
    /// </summary>
    [Fact]
    public void MatchesTorchSharpsAdamWBitForBit()
    {
        var (theirs, ours) = TwinNetworks(seed: 11);
        var theirParameters = theirs.body.parameters().Concat(theirs.head.parameters()).ToList();
        var ourParameters = ours.body.parameters().Concat(ours.head.parameters()).ToList();
        var reference = optim.AdamW(theirParameters, 1e-2, weight_decay: 0.01);
        using var optimizer = new HeldScalarAdamW(ourParameters, weightDecay: 0.01);
        var initial = ourParameters.Select(p => p.detach().clone()).ToList();
        var input = randn(8, 6);
        var target = randn(8, 2);

        for (int step = 1; step <= 6; step++)
        {
            double lr = 1e-2 * (1 + 0.3 * Math.Sin(step));
            foreach (var group in reference.ParamGroups) group.LearningRate = lr;
            reference.zero_grad();
            optimizer.ZeroGrad();
            foreach (var (body, head) in new[] { theirs, ours })
            {
                var hidden = body.forward(input);
                // The head joins the loss only from step 3: before that it has no gradient at all.
                var loss = step < 3 ? hidden.pow(2).mean() : head.forward(hidden).sub(target).pow(2).mean();
                loss.backward();
            }
            reference.step();
            optimizer.Step(lr);

            foreach (var (a, b) in theirParameters.Zip(ourParameters))
                Assert.True(a.eq(b).all().item<bool>(), $"step {step}: parameters differ (max |Δ| {(a - b).abs().max().item<float>()})");
        }
        // And every parameter really moved (the head from step 3 on): updates that did nothing would also match.
        foreach (var (now, before) in ourParameters.Zip(initial))
            Assert.False(now.eq(before).all().item<bool>());
    }

    /// <summary>
    /// A learning-rate factor per parameter (what <c>--tower-lr-scale</c> gives the vision tower): one optimizer with the
    /// head at 3× equals two optimizers, the body's at the step's rate and the head's at three times it, bit for bit.
    /// </summary>
    [Fact]
    public void PerParameterScalesEqualSeparateOptimizersAtScaledRates()
    {
        var (scaled, split) = TwinNetworks(seed: 12);
        var scaledParameters = scaled.body.parameters().Concat(scaled.head.parameters()).ToList();
        int bodyCount = scaled.body.parameters().Count();
        using var one = new HeldScalarAdamW(scaledParameters, weightDecay: 0.01,
            learningRateScales: scaledParameters.Select((_, i) => i < bodyCount ? 1.0 : 3.0).ToList());
        using var bodyOnly = new HeldScalarAdamW(split.body.parameters(), weightDecay: 0.01);
        using var headOnly = new HeldScalarAdamW(split.head.parameters(), weightDecay: 0.01);
        var input = randn(8, 6);
        var target = randn(8, 2);
        for (int step = 1; step <= 5; step++)
        {
            double lr = 1e-2 * (1 + 0.3 * Math.Sin(step));
            one.ZeroGrad(); bodyOnly.ZeroGrad(); headOnly.ZeroGrad();
            foreach (var (body, head) in new[] { scaled, split })
                head.forward(body.forward(input)).sub(target).pow(2).mean().backward();
            one.Step(lr);
            bodyOnly.Step(lr);
            headOnly.Step(lr * 3.0);
        }
        var splitParameters = split.body.parameters().Concat(split.head.parameters()).ToList();
        foreach (var (a, b) in scaledParameters.Zip(splitParameters))
            Assert.True(a.eq(b).all().item<bool>(), $"parameters differ (max |Δ| {(a - b).abs().max().item<float>()})");
        Assert.Throws<ArgumentException>(() => new HeldScalarAdamW(scaledParameters, 0.01, learningRateScales: [1.0]));
    }

    [Theory]
    [InlineData("vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight", true)]
    [InlineData("model.visual.blocks.0.attn.qkv.weight", true)]
    [InlineData("visual.merger.mlp.0.weight", true)]
    [InlineData("vision_model.encoder.layers.1.attn.qkv.weight", true)]
    [InlineData("language_model.model.layers.0.self_attn.q_proj.weight", false)]
    [InlineData("multi_modal_projector.linear_1.weight", false)]
    [InlineData("mlp1.1.weight", false)]
    [InlineData("model.layers.0.mlp.up_proj.weight", false)]
    public void TowerParametersAreTheVisionEncoders(string name, bool tower) => Assert.Equal(tower, Trainer.IsVisionTower(name));
}
