namespace UniPrune.Engine.Training;

/// <summary>
/// Weights of the training-only losses a family can add to its answer loss (0 = off). None of them is saved with the model.
/// </summary>
/// <param name="Reconstruction">Each visual token predicts the pixels of its region (<see cref="PatchReconstructionHead"/>).</param>
/// <param name="Symbols">Each visual token names the objects and glyphs under it (<see cref="SymbolTargets"/>).</param>
/// <param name="ReadPointer">Attention toward the glyphs a reading answer spells (<see cref="ReadingPointers.For"/>).</param>
/// <param name="GlyphClasses">The symbol head's glyph cross-entropy (needs <paramref name="Symbols"/>; <see cref="SymbolHead"/>).</param>
/// <param name="CopyPointer">Attention toward the option text a multiple-choice answer copies (<see cref="ReadingPointers.InPrompt"/>).</param>
public sealed record AuxiliaryLosses(double Reconstruction = 0, double Symbols = 0, double ReadPointer = 0, double GlyphClasses = 0, double CopyPointer = 0)
{
    public static readonly AuxiliaryLosses None = new();

    /// <summary>This, or an error naming the weight that is negative or a glyph-class weight without the symbol head.</summary>
    public AuxiliaryLosses Validated()
    {
        foreach (var (name, value) in new[] { ("reconstruction", Reconstruction), ("symbols", Symbols), ("read pointer", ReadPointer), ("glyph classes", GlyphClasses), ("copy pointer", CopyPointer) })
            if (!(value >= 0)) throw new ArgumentOutOfRangeException(name, $"the {name} weight must be ≥ 0; got {value}");
        if (GlyphClasses > 0 && Symbols == 0) throw new ArgumentException($"a glyph class weight ({GlyphClasses}) needs the symbol head (a symbols weight > 0)");
        return this;
    }
}

/// <summary>The auxiliary heads and attention losses a family's <see cref="AuxiliaryLosses"/> switch on, for a decoder of <paramref name="hidden"/> width.</summary>
public sealed class AuxiliaryHeads(int hidden, AuxiliaryLosses? weights)
{
    public AuxiliaryLosses Weights { get; } = (weights ?? AuxiliaryLosses.None).Validated();

    /// <summary>Each visual token predicts its own region's pixels (see <see cref="PatchReconstructionHead"/>).</summary>
    public PatchReconstructionHead? Reconstruction { get; } = weights?.Reconstruction > 0 ? new PatchReconstructionHead(hidden) : null;

    /// <summary>Each visual token names the objects and glyphs under it (see <see cref="SymbolTargets"/>).</summary>
    public SymbolHead? Symbols { get; } = weights?.Symbols > 0 ? new SymbolHead(hidden, weights.GlyphClasses) : null;

    /// <summary>Attention loss toward the glyphs a reading answer spells (see <see cref="ReadingPointers"/>).</summary>
    public ReadingPointerLoss? Pointer { get; } = weights?.ReadPointer > 0 ? new ReadingPointerLoss(weights.ReadPointer) : null;

    /// <summary>Attention loss toward the option text a multiple-choice answer copies (see <see cref="ReadingPointers.InPrompt"/>).</summary>
    public ReadingPointerLoss? Copy { get; } = weights?.CopyPointer > 0 ? new ReadingPointerLoss(weights.CopyPointer, "copy") : null;

    /// <summary>Whether some head needs each image's token regions (from its scene).</summary>
    public bool NeedTokenBoxes => Symbols is not null || Pointer is not null;

    public IReadOnlyList<TorchSharp.torch.nn.Module> Modules => new TorchSharp.torch.nn.Module?[] { Reconstruction, Symbols, Pointer, Copy }.OfType<TorchSharp.torch.nn.Module>().ToList();
}
