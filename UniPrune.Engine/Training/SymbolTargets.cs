using UniPrune.Engine.Imaging;
using UniPrune.Engine.Models.Common;
using UniPrune.Engine.Synthetic;
using static TorchSharp.torch;

namespace UniPrune.Engine.Training;

/// <summary>An axis-aligned box in the original image's pixel coordinates: [X0, X1) × [Y0, Y1).</summary>
public readonly record struct Box(double X0, double Y0, double X1, double Y1)
{
    public double Area => Math.Max(0, X1 - X0) * Math.Max(0, Y1 - Y0);

    public double Overlap(Box other) =>
        Math.Max(0, Math.Min(X1, other.X1) - Math.Max(X0, other.X0)) * Math.Max(0, Math.Min(Y1, other.Y1) - Math.Max(Y0, other.Y0));
}

/// <summary>
/// Dense symbolic targets for the embedded models' visual tokens: for each token, how much of each quarter of the image
/// region it stands for is covered by each kind of thing the scene holds — an object of a colour and shape (21 kinds) or
/// a glyph (a–z case-folded, 0–9, any other mark: 37 kinds). An answer token says little about an image and a pixel
/// target says nothing of what a glyph means; these say, per token and in place, which glyph or object is there, so the
/// tower learns to read while the decoder learns to ask. Training only; the scenes come from a <see cref="SceneLedger"/>.
/// </summary>
public static class SymbolTargets
{
    public static readonly int ObjectKinds = Palette.Colors.Count * Palette.Shapes.Count;
    public const int GlyphKinds = 26 + 10 + 1;
    public static int Kinds => ObjectKinds + GlyphKinds;
    /// <summary>Each token region is cut 2×2, so the order of glyphs inside one token is learnt too.</summary>
    public const int Quarters = 4;
    public static int Size => Kinds * Quarters;

    /// <summary>(tokens, <see cref="Size"/>) coverage in [0, 1]: entry [t, kind·4 + q] for quarter q (row-major) of token t's box.</summary>
    public static Tensor For(Scene scene, IReadOnlyList<Box> tokens)
    {
        var items = Items(scene).ToList();   // enumerated once per token quarter
        var values = new float[tokens.Count * Size];
        for (int t = 0; t < tokens.Count; t++)
        {
            var b = tokens[t];
            double mx = (b.X0 + b.X1) / 2, my = (b.Y0 + b.Y1) / 2;
            Box[] quarters = [new(b.X0, b.Y0, mx, my), new(mx, b.Y0, b.X1, my), new(b.X0, my, mx, b.Y1), new(mx, my, b.X1, b.Y1)];
            for (int q = 0; q < Quarters; q++)
            {
                double area = quarters[q].Area;
                if (area <= 0) continue;
                foreach (var (kind, box) in items)
                {
                    double covered = quarters[q].Overlap(box);
                    if (covered <= 0) continue;
                    int at = t * Size + kind * Quarters + q;
                    values[at] = (float)Math.Min(1.0, values[at] + covered / area);
                }
            }
        }
        return tensor(values, [tokens.Count, Size]);
    }

    /// <summary>Every object's and glyph's kind and box.</summary>
    public static IEnumerable<(int Kind, Box Box)> Items(Scene scene)
    {
        foreach (var o in scene.Objects)
        {
            int color = IndexOf(Palette.Colors, o.Color), shape = IndexOf(Palette.Shapes, o.Shape);
            if (color < 0 || shape < 0) continue;   // a colour outside the palette (chart ink) names no object kind
            double half = o.Size / 2.0;
            yield return (color * Palette.Shapes.Count + shape, new Box(o.X - half, o.Y - half, o.X + half, o.Y + half));
        }
        foreach (var t in scene.Texts)
            for (int i = 0; i < t.Text.Length; i++)
            {
                if (GlyphKind(t.Text[i]) is not int kind) continue;
                double x = t.X + i * BitmapFont.Advance * t.Scale;
                yield return (ObjectKinds + kind, new Box(x, t.Y, x + BitmapFont.GlyphWidth * t.Scale, t.Y + BitmapFont.GlyphHeight * t.Scale));
            }
    }

    /// <summary>a–z (either case) 0–25, digits 26–35, any other visible mark 36; a space is nothing.</summary>
    public static int? GlyphKind(char c) => c switch
    {
        >= 'a' and <= 'z' => c - 'a',
        >= 'A' and <= 'Z' => c - 'A',
        >= '0' and <= '9' => 26 + (c - '0'),
        ' ' => null,
        _ => 36,
    };

    private static int IndexOf<T>(IReadOnlyList<T> list, T item)
    {
        for (int i = 0; i < list.Count; i++) if (EqualityComparer<T>.Default.Equals(list[i], item)) return i;
        return -1;
    }

    // ---- Where each family's visual tokens sit in the original image, in the order the tower returns them. ----

    /// <summary>
    /// LLaVA-1.5: the CLIP patch grid of the prepared square (optional pad to square, shortest-edge resize, centre crop),
    /// row-major, mapped back through the crop, the resize and the pad.
    /// </summary>
    public static IReadOnlyList<Box> LlavaTokens(ClipImageProcessor processor, int width, int height, int patchSize)
    {
        bool pad = processor.Aspect == LlavaImageAspect.PadToSquare && width != height;
        int side = Math.Max(width, height);
        var (w0, h0) = pad ? (side, side) : (width, height);
        double ox = pad && width < height ? (side - width) / 2 : 0, oy = pad && width > height ? (side - height) / 2 : 0;
        var (rw, rh) = processor.DoResize ? ClipImageProcessor.ShortestEdgeSize(w0, h0, processor.ShortestEdge) : (w0, h0);
        var (cw, ch) = processor.DoCenterCrop ? (processor.CropWidth, processor.CropHeight) : (rw, rh);
        double cx = (rw - cw) / 2, cy = (rh - ch) / 2, fx = (double)rw / w0, fy = (double)rh / h0;
        var boxes = new List<Box>();
        for (int r = 0; r < ch / patchSize; r++)
            for (int c = 0; c < cw / patchSize; c++)
                boxes.Add(new Box((c * patchSize + cx) / fx - ox, (r * patchSize + cy) / fy - oy,
                    ((c + 1) * patchSize + cx) / fx - ox, ((r + 1) * patchSize + cy) / fy - oy));
        return boxes;
    }

    /// <summary>Qwen2.5-VL: merge units (unit × unit px of the resized image) in row-major order, scaled back to the original.</summary>
    public static IReadOnlyList<Box> QwenTokens(int width, int height, int resizedWidth, int resizedHeight, int unit)
    {
        double fx = (double)width / resizedWidth, fy = (double)height / resizedHeight;
        var boxes = new List<Box>();
        for (int r = 0; r < resizedHeight / unit; r++)
            for (int c = 0; c < resizedWidth / unit; c++)
                boxes.Add(new Box(c * unit * fx, r * unit * fy, (c + 1) * unit * fx, (r + 1) * unit * fy));
        return boxes;
    }

    /// <summary>
    /// InternVL: the image resized to columns × rows tiles, tile by tile (row-major), each tile's tokenGrid² tokens
    /// row-major; then the thumbnail's (the whole image in one tile) when there is one.
    /// </summary>
    public static IReadOnlyList<Box> InternVLTokens(int width, int height, int columns, int rows, bool thumbnail, int tokenGrid)
    {
        var boxes = new List<Box>();
        double tw = (double)width / columns, th = (double)height / rows;
        for (int tile = 0; tile < columns * rows; tile++)
            AddTile(tile % columns * tw, tile / columns * th, tw, th);
        if (thumbnail) AddTile(0, 0, width, height);
        return boxes;

        void AddTile(double x, double y, double w, double h)
        {
            for (int r = 0; r < tokenGrid; r++)
                for (int c = 0; c < tokenGrid; c++)
                    boxes.Add(new Box(x + c * w / tokenGrid, y + r * h / tokenGrid, x + (c + 1) * w / tokenGrid, y + (r + 1) * h / tokenGrid));
        }
    }
}

/// <summary>
/// Training-only linear head from each visual token to its <see cref="SymbolTargets"/> (binary cross-entropy on the coverages),
/// optionally plus a softmax cross-entropy over the glyph kinds on every token quarter a glyph mostly covers. Never saved.
/// </summary>
/// <param name="glyphClassWeight">Weight of the glyph cross-entropy (0 = none). The coverage BCE spreads its gradient over 232
/// mostly-empty entries per quarter; this term asks one question per glyph — which one is it — as a classifier would.</param>
public sealed class SymbolHead : nn.Module, IAuxiliaryHead
{
    public string HeadName => "symbols";
    public double LastLoss { get; private set; } = double.NaN;

    /// <summary>
    /// Of the token quarters that a glyph covers at least half of, the share whose most likely glyph is that one — whether the
    /// tower tells glyphs apart at all (a diagnostic; NaN when the batch drew no text).
    /// </summary>
    public double LastGlyphAccuracy { get; private set; } = double.NaN;

    /// <summary>The last batch's glyph cross-entropy (NaN without the term or without glyphs).</summary>
    public double LastGlyphLoss { get; private set; } = double.NaN;

    public IReadOnlyDictionary<string, double> LastMetrics => new Dictionary<string, double> { ["glyph_acc"] = LastGlyphAccuracy, ["glyph_ce"] = LastGlyphLoss };

    private readonly nn.Module<Tensor, Tensor> predict;
    private readonly double _glyphClassWeight;

    public SymbolHead(int hidden, double glyphClassWeight = 0) : base(nameof(SymbolHead))
    {
        if (glyphClassWeight < 0) throw new ArgumentOutOfRangeException(nameof(glyphClassWeight), $"a glyph class weight must be ≥ 0; got {glyphClassWeight}");
        _glyphClassWeight = glyphClassWeight;
        predict = nn.Linear(hidden, SymbolTargets.Size);
        RegisterComponents();
    }

    /// <param name="tokens">(n, hidden) visual tokens.</param>
    /// <param name="targets">(n, <see cref="SymbolTargets.Size"/>) their coverages.</param>
    public Tensor Loss(Tensor tokens, Tensor targets)
    {
        using var scope = NewDisposeScope();
        if (targets.shape[0] != tokens.shape[0]) throw new ArgumentException($"symbols: {tokens.shape[0]} tokens for {targets.shape[0]} target rows");
        // Summed over the kinds, averaged over tokens and quarters: a token's few present kinds weigh as much as in a softmax.
        var logits = predict.forward(tokens);
        var perEntry = nn.functional.binary_cross_entropy_with_logits(logits, targets.to(tokens.dtype).detach(), reduction: nn.Reduction.None);
        var loss = perEntry.sum().Times(1.0 / (tokens.shape[0] * SymbolTargets.Quarters));
        LastLoss = loss.item<float>();
        LastGlyphAccuracy = GlyphAccuracy(logits.detach(), targets);
        if (_glyphClassWeight > 0 && GlyphClassLoss(logits, targets) is { } glyphs)
        {
            LastGlyphLoss = glyphs.item<float>();
            loss = loss.Plus(glyphs.Times(_glyphClassWeight));
        }
        else LastGlyphLoss = double.NaN;
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>The coverage from which a glyph counts as the one a quarter shows (held: libtorch must not get a temporary Scalar).</summary>
    private static readonly TorchSharp.Scalar MostlyCovered = 0.5;

    /// <summary>Mean softmax cross-entropy over the glyph kinds of the token quarters a glyph covers half of or more; null if none.</summary>
    internal static Tensor? GlyphClassLoss(Tensor logits, Tensor targets)
    {
        using var scope = NewDisposeScope();
        long n = logits.shape[0];
        // (tokens, kinds, quarters) → (tokens·quarters, glyph kinds)
        var glyphLogits = logits.reshape(n, SymbolTargets.Kinds, SymbolTargets.Quarters)[.., SymbolTargets.ObjectKinds.., ..].permute(0, 2, 1)
            .reshape(n * SymbolTargets.Quarters, SymbolTargets.GlyphKinds);
        var glyphTargets = targets.to(float32).reshape(n, SymbolTargets.Kinds, SymbolTargets.Quarters)[.., SymbolTargets.ObjectKinds.., ..].permute(0, 2, 1)
            .reshape(n * SymbolTargets.Quarters, SymbolTargets.GlyphKinds);
        var (coverage, truth) = glyphTargets.max(1);
        var rows = coverage.ge(MostlyCovered).nonzero().reshape(-1);
        if (rows.shape[0] == 0) return null;
        var loss = nn.functional.cross_entropy(glyphLogits.index_select(0, rows.to(glyphLogits.device)), truth.index_select(0, rows).to(glyphLogits.device));
        return loss.MoveToOuterDisposeScope();
    }

    internal static double GlyphAccuracy(Tensor logits, Tensor targets)
    {
        // Entry [t, kind·4 + q]: view as (tokens, kinds, quarters) and keep the glyph kinds.
        long n = logits.shape[0];
        var glyphLogits = logits.reshape(n, SymbolTargets.Kinds, SymbolTargets.Quarters)[.., SymbolTargets.ObjectKinds.., ..];
        var glyphTargets = targets.to(float32).reshape(n, SymbolTargets.Kinds, SymbolTargets.Quarters)[.., SymbolTargets.ObjectKinds.., ..];
        var (coverage, truth) = glyphTargets.max(1);
        var covered = coverage.ge(MostlyCovered);
        long count = covered.sum().item<long>();
        if (count == 0) return double.NaN;
        var hits = glyphLogits.argmax(1).eq(truth).logical_and(covered).sum().item<long>();
        return (double)hits / count;
    }
}
