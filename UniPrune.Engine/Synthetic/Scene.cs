namespace UniPrune.Engine.Synthetic;

public enum ShapeKind { Circle, Square, Triangle }

/// <summary>One drawn object: a filled shape of a named colour centred at (X, Y) with the given side/diameter.</summary>
public sealed record SceneObject(ShapeKind Shape, NamedColor Color, int X, int Y, int Size);

/// <summary>A run of text in the bitmap font with its top-left corner at (X, Y).</summary>
public sealed record SceneText(string Text, int X, int Y, int Scale, NamedColor Color);

/// <summary>A synthetic picture: objects on a plain background plus optional text, rendered deterministically.</summary>
public sealed record Scene(int Width, int Height, NamedColor Background, IReadOnlyList<SceneObject> Objects, IReadOnlyList<SceneText> Texts)
{
    public Canvas Render()
    {
        var canvas = new Canvas(Width, Height, Background);
        foreach (var o in Objects)
        {
            switch (o.Shape)
            {
                case ShapeKind.Circle: canvas.FillCircle(o.X, o.Y, o.Size / 2, o.Color); break;
                case ShapeKind.Square: canvas.FillRect(o.X - o.Size / 2, o.Y - o.Size / 2, o.Size, o.Size, o.Color); break;
                case ShapeKind.Triangle: canvas.FillTriangle(o.X - o.Size / 2, o.Y - o.Size / 2, o.Size, o.Color); break;
            }
        }
        foreach (var t in Texts) canvas.DrawText(t.X, t.Y, t.Text, t.Scale, t.Color);
        return canvas;
    }

    public int Count(ShapeKind shape) => Objects.Count(o => o.Shape == shape);
    public int Count(ShapeKind shape, NamedColor color) => Objects.Count(o => o.Shape == shape && o.Color == color);
    public bool Has(ShapeKind shape, NamedColor color) => Count(shape, color) > 0;
}

/// <summary>The fixed vocabularies of the synthetic world.</summary>
public static class Palette
{
    public static readonly NamedColor White = new("white", 255, 255, 255);
    public static readonly NamedColor Black = new("black", 20, 20, 20);

    /// <summary>Object colours, far apart in RGB so that a colour is never ambiguous.</summary>
    public static readonly IReadOnlyList<NamedColor> Colors =
    [
        new("red", 220, 40, 40), new("green", 40, 170, 60), new("blue", 40, 80, 220), new("yellow", 235, 200, 30),
        new("purple", 140, 60, 180), new("orange", 245, 130, 20), new("gray", 128, 128, 128),
    ];

    public static readonly IReadOnlyList<ShapeKind> Shapes = [ShapeKind.Circle, ShapeKind.Square, ShapeKind.Triangle];

    public static string Name(ShapeKind s) => s switch
    {
        ShapeKind.Circle => "circle", ShapeKind.Square => "square", _ => "triangle",
    };

    public static string Plural(ShapeKind s) => Name(s) + "s";

    public static readonly IReadOnlyList<string> Words =
    [
        "apple", "river", "stone", "cloud", "tiger", "lemon", "piano", "rocket", "garden", "silver", "planet", "window",
        "candle", "forest", "yellow", "bridge", "castle", "dragon", "pepper", "marble", "violin", "harbor", "meadow",
        "jungle", "orbit", "pixel", "quartz", "saddle", "tunnel", "velvet", "wizard", "zebra", "anchor", "basket",
    ];
}

/// <summary>Draws scenes from a seeded random source; objects sit in distinct cells of a coarse grid so they never overlap.</summary>
public sealed class SceneGenerator(Random random)
{
    public const int Cell = 56;

    public Random Random { get; } = random;

    /// <summary>
    /// Canvas sizes: at most 224 px a side, so that the embedded models (LLaVA-style 112-px input, Qwen-style native
    /// resolution, InternVL-style 112-px tiles) see every object as at least one patch and every glyph at ≥ 1 px per
    /// font pixel; mixed aspect ratios still give several Qwen windows and several InternVL tiles + thumbnail.
    /// </summary>
    private static readonly (int W, int H)[] Sizes = [(112, 112), (168, 112), (112, 168), (168, 168), (224, 112), (224, 168), (168, 224), (224, 224)];

    public (int W, int H) NextSize() => Sizes[Random.Next(Sizes.Length)];

    /// <summary>A random canvas size with room for at least <paramref name="objects"/> objects (one per grid cell).</summary>
    public (int W, int H) NextSize(int objects)
    {
        var fitting = Sizes.Where(s => (s.W / Cell) * (s.H / Cell) >= objects).ToArray();
        if (fitting.Length == 0) throw new ArgumentOutOfRangeException(nameof(objects), $"{objects} objects fit no synthetic canvas size");
        return fitting[Random.Next(fitting.Length)];
    }

    public T Pick<T>(IReadOnlyList<T> items) => items[Random.Next(items.Count)];

    /// <summary><paramref name="length"/> random lowercase letters (a non-semantic OCR string), one draw per letter.</summary>
    public string Letters(int length) => new(Enumerable.Range(0, length).Select(_ => (char)('a' + Random.Next(26))).ToArray());

    /// <summary><paramref name="length"/> random digits, leading zeros allowed, one draw per digit.</summary>
    public string Digits(int length) => new(Enumerable.Range(0, length).Select(_ => (char)('0' + Random.Next(10))).ToArray());

    /// <summary>A scene with <paramref name="count"/> random objects (shape, colour, size) in distinct grid cells.</summary>
    public Scene Objects(int count, (int W, int H)? size = null, IReadOnlyList<SceneObject>? required = null)
    {
        var (w, h) = size ?? NextSize(Math.Max(count, required?.Count ?? 0));
        var cells = FreeCells(w, h);
        if (cells.Count < (required?.Count ?? 0))
            throw new ArgumentOutOfRangeException(nameof(size), $"{required!.Count} required objects do not fit a {w}x{h} canvas");
        var objects = new List<SceneObject>();
        foreach (var r in required ?? [])
        {
            var cell = TakeCell(cells);
            objects.Add(r with { X = cell.X, Y = cell.Y });
        }
        while (objects.Count < count && cells.Count > 0)
        {
            var cell = TakeCell(cells);
            objects.Add(new SceneObject(Pick(Palette.Shapes), Pick(Palette.Colors), cell.X, cell.Y, Random.Next(30, 46)));
        }
        return new Scene(w, h, Palette.White, objects, []);
    }

    public List<(int X, int Y)> FreeCells(int w, int h)
    {
        var cells = new List<(int, int)>();
        for (int y = Cell / 2; y + Cell / 2 <= h; y += Cell)
            for (int x = Cell / 2; x + Cell / 2 <= w; x += Cell) cells.Add((x, y));
        return cells;
    }

    public (int X, int Y) TakeCell(List<(int X, int Y)> cells)
    {
        int i = Random.Next(cells.Count);
        var c = cells[i];
        cells.RemoveAt(i);
        return c;
    }
}
