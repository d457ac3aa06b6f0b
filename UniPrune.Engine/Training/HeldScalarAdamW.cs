using TorchSharp;
using UniPrune.Engine.Models.Common;
using static TorchSharp.torch;

namespace UniPrune.Engine.Training;

/// <summary>
/// AdamW (decoupled weight decay, bias-corrected moments, no AMSGrad) whose every Scalar operand is held until libtorch
/// has returned.
/// </summary>
/// <remarks>
/// TorchSharp 0.107's <c>optim.AdamW.step</c> hands libtorch temporary Scalars (its betas, 1 − lr·wd, the step size, the
/// hidden alpha of <c>add_(eps)</c>) that nothing keeps reachable, so the GC can finalise one mid-call: a 6000-step run died
/// at step ~860 with "Unknown scalar type" inside <c>mul_</c> (see <see cref="HeldScalars"/>). Same update, same native
/// ops in the same order, so the parameters match TorchSharp's AdamW bit for bit (tested).
/// </remarks>
public sealed class HeldScalarAdamW : IDisposable
{
    private readonly IReadOnlyList<TorchSharp.Modules.Parameter> _parameters;
    private readonly Tensor[] _firstMoments;
    private readonly Tensor[] _secondMoments;
    private readonly Scalar _beta1, _beta2, _oneMinusBeta1, _oneMinusBeta2, _epsilon;
    private readonly double _beta1Value, _beta2Value, _weightDecay;
    private readonly long[] _steps;
    private readonly double[] _learningRateScales;

    /// <param name="learningRateScales">Per parameter, a factor on the step's learning rate (its decay too); default 1 for all.</param>
    public HeldScalarAdamW(IEnumerable<TorchSharp.Modules.Parameter> parameters, double weightDecay, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8,
        IReadOnlyList<double>? learningRateScales = null)
    {
        if (beta1 is < 0 or >= 1 || beta2 is < 0 or >= 1) throw new ArgumentException($"betas must lie in [0, 1); got ({beta1}, {beta2})");
        if (weightDecay < 0 || epsilon < 0) throw new ArgumentException($"weight decay and epsilon must be ≥ 0; got {weightDecay}, {epsilon}");
        _parameters = parameters.ToList();
        _firstMoments = _parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
        _secondMoments = _parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
        _steps = new long[_parameters.Count];
        _learningRateScales = learningRateScales?.ToArray() ?? Enumerable.Repeat(1.0, _parameters.Count).ToArray();
        if (_learningRateScales.Length != _parameters.Count || _learningRateScales.Any(x => !(x > 0)))
            throw new ArgumentException($"learning-rate scales: expected {_parameters.Count} positive factors, got {_learningRateScales.Length} ({string.Join(", ", _learningRateScales.Distinct())})");
        (_beta1Value, _beta2Value, _weightDecay) = (beta1, beta2, weightDecay);
        _beta1 = beta1; _beta2 = beta2; _oneMinusBeta1 = 1 - beta1; _oneMinusBeta2 = 1 - beta2; _epsilon = epsilon;
    }

    /// <summary>Every parameter's gradient set to zero (before a step's backward passes accumulate into it).</summary>
    public void ZeroGrad()
    {
        using var scope = NewDisposeScope();
        foreach (var parameter in _parameters)
            if (parameter.grad is { } gradient) gradient.zero_();
    }

    /// <summary>
    /// One update at learning rate <paramref name="learningRate"/>. A parameter without a gradient is skipped and, as in
    /// TorchSharp, its own step count (which drives its bias correction) does not advance.
    /// </summary>
    public void Step(double learningRate)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        for (int i = 0; i < _parameters.Count; i++)
        {
            var parameter = _parameters[i];
            if (parameter.grad is not { } gradient) continue;
            long step = ++_steps[i];
            double rate = learningRate * _learningRateScales[i];
            using Scalar decay = 1 - rate * _weightDecay;
            using Scalar secondMomentScale = Math.Sqrt(1 - Math.Pow(_beta2Value, step));
            using Scalar negativeStepSize = -(rate / (1 - Math.Pow(_beta1Value, step)));
            parameter.mul_(decay);
            _firstMoments[i].mul_(_beta1).add_(gradient, _oneMinusBeta1);
            _secondMoments[i].mul_(_beta2).addcmul_(gradient, gradient, _oneMinusBeta2);
            var denominator = _secondMoments[i].sqrt().div(secondMomentScale).add_(_epsilon, HeldScalars.One);
            parameter.addcdiv_(_firstMoments[i], denominator, negativeStepSize);
        }
    }

    public void Dispose()
    {
        foreach (var t in _firstMoments.Concat(_secondMoments)) t.Dispose();
        foreach (var s in new[] { _beta1, _beta2, _oneMinusBeta1, _oneMinusBeta2, _epsilon }) s.Dispose();
    }
}
