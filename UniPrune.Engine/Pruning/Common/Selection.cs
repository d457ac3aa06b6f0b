using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Pruning.Abstractions;
using static TorchSharp.torch;

namespace UniPrune.Engine.Pruning.Common;

/// <summary>Small vectorised building blocks shared by the methods.</summary>
public static class Selection
{
    public static long[] ToLongs(Tensor t)
    {
        using var c = t.to_type(ScalarType.Int64).cpu().contiguous();
        return c.data<long>().ToArray();
    }

    public static float[] ToFloats(Tensor t)
    {
        using var c = t.to_type(ScalarType.Float32).cpu().contiguous();
        return c.data<float>().ToArray();
    }

    /// <summary>All indices by descending score, ties by ascending index (a stable sort).</summary>
    public static long[] ArgsortDescending(Tensor scores)
    {
        var values = ToFloats(scores);
        return Enumerable.Range(0, values.Length).OrderByDescending(i => values[i]).Select(i => (long)i).ToArray();
    }

    /// <summary>Indices of the k largest scores, in descending score order.</summary>
    public static long[] TopKOrder(Tensor scores, int k)
    {
        using var scope = NewDisposeScope();
        if (k <= 0) return [];
        var (_, idx) = scores.to_type(ScalarType.Float32).topk(Math.Min(k, (int)scores.shape[0]), largest: true, sorted: true);
        return ToLongs(idx);
    }

    /// <summary>Indices of the k largest scores, ascending (raster order).</summary>
    public static long[] TopKAscending(Tensor scores, int k)
    {
        var order = TopKOrder(scores, k);
        Array.Sort(order);
        return order;
    }

    /// <summary>Rows scaled to unit L2 norm (float32), as x / ‖x‖ like the references do.</summary>
    public static Tensor Normalized(Tensor x)
    {
        using var scope = NewDisposeScope();
        var f = x.to_type(ScalarType.Float32);
        return (f / f.norm(dim: 1, keepdim: true)).MoveToOuterDisposeScope();
    }

    /// <summary>Pairwise cosine similarity of the rows (n, n).</summary>
    public static Tensor CosineMatrix(Tensor x)
    {
        using var scope = NewDisposeScope();
        var n = Normalized(x);
        return n.matmul(n.t()).MoveToOuterDisposeScope();
    }

    /// <summary>Runs a per-unit selection (methods.md §1.5) and maps the local indices back to visual indices. Each call gets the unit's
    /// offset, size and keep count; the results are concatenated in unit order.</summary>
    public static long[] PerUnit(VisualLayout layout, PruningSettings settings, Func<int, int, int, long[]> selectInUnit)
    {
        var result = new List<long>();
        foreach (var (offset, count) in KeepCounts.Units(layout, settings.Units))
        {
            if (count == 0) continue;
            foreach (long local in selectInUnit(offset, count, settings.KeepCount(count))) result.Add(offset + local);
        }
        return [.. result];
    }

    /// <summary>Checks a per-token tensor's row count and names the method and the field on mismatch.</summary>
    public static Tensor Require(Tensor? t, string method, string field, long rows)
    {
        if (t is null) throw new ArgumentException($"{method} needs {field}, which the model did not provide");
        if (t.shape.Length == 0 || t.shape[0] != rows)
            throw new ArgumentException($"{method}: {field} has shape [{string.Join(", ", t.shape)}], expected {rows} rows (one per visual token)");
        return t;
    }
}

/// <summary>
/// The iteration order CPython 3.x gives a <c>set</c> of small non-negative ints built by inserting them one by one (open addressing
/// with hash(i) = i, linear probes of 9 only when they fit, perturbed probing, growth ×4 past 60 % fill). DART's reference iterates its
/// pivots in this order (<c>list(set(image_pivots + text_pivots))</c>); reproducing it keeps our picks identical.
/// </summary>
public static class PythonSetOrder
{
    private const int LinearProbes = 9;
    private const int PerturbShift = 5;

    public static long[] Of(IEnumerable<long> insertions)
    {
        long?[] table = new long?[8];
        int fill = 0;
        foreach (long key in insertions)
        {
            if (key < 0) throw new ArgumentOutOfRangeException(nameof(insertions), key, "only non-negative ints are supported");
            if (Contains(table, key)) continue;
            Insert(table, key);
            fill++;
            if (fill * 5 >= (table.Length - 1) * 3) table = Resize(table, fill * 4);
        }
        return table.Where(k => k.HasValue).Select(k => k!.Value).ToArray();
    }

    private static bool Contains(long?[] table, long key) => table.Any(k => k == key);

    private static void Insert(long?[] table, long key)
    {
        ulong mask = (ulong)table.Length - 1, perturb = (ulong)key, i = (ulong)key & mask;
        while (true)
        {
            if (table[i] is null) { table[i] = key; return; }
            if (i + LinearProbes <= mask)
                for (ulong j = 1; j <= LinearProbes; j++)
                    if (table[i + j] is null) { table[i + j] = key; return; }
            perturb >>= PerturbShift;
            i = (i * 5 + 1 + perturb) & mask;
        }
    }

    private static long?[] Resize(long?[] old, int minUsed)
    {
        int size = 8;
        while (size <= minUsed) size <<= 1;
        var table = new long?[size];
        foreach (var k in old) if (k.HasValue) Insert(table, k.Value);
        return table;
    }
}

/// <summary>Reading the probed attention at layer K−1.</summary>
public static class ProbedAttention
{
    /// <summary>Attention of the requested query rows to the current visual tokens, reduced over heads by mean (or max): (rows, N).</summary>
    public static Tensor ToVisual(LayerContext context, IReadOnlyList<long> queryRows, string method, bool headMax = false)
    {
        using var scope = NewDisposeScope();
        var attention = context.Attention ?? throw new InvalidOperationException($"{method}: the model gave no attention at layer {context.Layer - 1}");
        var probed = context.AttentionQueryRows.ToList();
        var rowIndex = queryRows.Select(r =>
        {
            int i = probed.IndexOf(r);
            return i >= 0 ? (long)i : throw new InvalidOperationException($"{method}: row {r} was not probed at layer {context.Layer - 1} (probed: {probed.Count} rows)");
        }).ToArray();
        if (attention.dim() != 3 || attention.shape[1] != probed.Count || attention.shape[2] != context.Layout.SequenceLength)
            throw new InvalidOperationException($"{method}: attention has shape [{string.Join(", ", attention.shape)}], expected (heads, {probed.Count}, {context.Layout.SequenceLength})");
        var rows = attention.to_type(ScalarType.Float32).index_select(1, tensor(rowIndex));
        var reduced = headMax ? rows.max(dim: 0).values : rows.mean([0]);
        return reduced.index_select(1, tensor(context.Layout.SequenceIndices.ToArray())).MoveToOuterDisposeScope();
    }
}
