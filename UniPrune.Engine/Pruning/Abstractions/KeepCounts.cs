using UniPrune.Engine.Models.Abstractions;

namespace UniPrune.Engine.Pruning.Abstractions;

/// <summary>How a retention ratio becomes a kept-token count (methods.md §0.4). Recorded in every result.</summary>
public enum KeepCountRule
{
    /// <summary>k = round(r·N), ties to even like Python's round: 192/128/64 for N = 576.</summary>
    Round,
    /// <summary>The UniPruneBench code's convention: k = int(N · r truncated to 3 decimals), e.g. int(576·0.111) = 63.</summary>
    PaperFloor,
}

/// <summary>Which visual tokens a pre-LLM method prunes together (methods.md §1.5).</summary>
public enum UnitPolicy
{
    /// <summary>Each <see cref="VisualUnit"/> separately, each with its own keep count (InternVL: thumbnail alone, local tiles
    /// jointly; multi-image: each image).</summary>
    PerUnit,
    /// <summary>All visual tokens of the prompt as one unit.</summary>
    Global,
}

public static class KeepCounts
{
    /// <summary>Throws unless 0 &lt; r ≤ 1 (1 means no pruning).</summary>
    public static double ValidateRetention(double retention, string what = "retention")
    {
        if (!(retention > 0 && retention <= 1))
            throw new ArgumentOutOfRangeException(what, retention,
                $"{what} must be in (0, 1] (the fraction of visual tokens kept; 1 = no pruning), got {retention.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
        return retention;
    }

    /// <summary>The number of tokens kept out of <paramref name="count"/>, at least 1 and at most count.</summary>
    public static int Compute(double retention, int count, KeepCountRule rule)
    {
        ValidateRetention(retention);
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "token count must be ≥ 0");
        if (count == 0) return 0;
        if (retention == 1.0) return count;
        double exact = rule switch
        {
            KeepCountRule.Round => Math.Round(retention * count, MidpointRounding.ToEven),
            // 1/9 → 0.111, 2/9 → 0.222, 1/3 → 0.333; the tiny epsilon keeps 0.111 itself at 0.111.
            KeepCountRule.PaperFloor => Math.Floor(count * (Math.Floor(retention * 1000 + 1e-9) / 1000)),
            _ => throw new ArgumentOutOfRangeException(nameof(rule), rule, "unknown keep-count rule"),
        };
        return (int)Math.Clamp(exact, 1, count);
    }

    /// <summary>The units a pre-LLM method prunes, as (offset among visual tokens, count) pairs.</summary>
    public static IReadOnlyList<(int Offset, int Count)> Units(VisualLayout layout, UnitPolicy policy) =>
        policy == UnitPolicy.Global || layout.Units.Count == 0
            ? [(0, layout.Count)]
            : layout.Units.Select(u => (u.Offset, u.Count)).ToList();
}
