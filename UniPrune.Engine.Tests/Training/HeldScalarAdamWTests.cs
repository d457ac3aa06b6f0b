using TorchSharp;
using UniPrune.Engine.Training;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Training;

public class HeldScalarAdamWTests
{
    /// <summary>
    /// Two copies of a small network, one updated by TorchSharp's AdamW and one by ours, with the same gradients, a learning
    /// rate that changes every step and a head whose gradient only appears at step 3: the parameters stay bit-identical.
    /// </summary>
    [Fact]
    public void MatchesTorchSharpsAdamWBitForBit()
    {
        random.manual_seed(11);
        var theirs = (body: nn.Linear(6, 5), head: nn.Linear(5, 2));
        var ours = (body: nn.Linear(6, 5), head: nn.Linear(5, 2));
        using (no_grad())
        {
            foreach (var (a, b) in theirs.body.parameters().Concat(theirs.head.parameters()).Zip(ours.body.parameters().Concat(ours.head.parameters())))
                b.copy_(a);
        }
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
}
