namespace UniPrune.Engine.Imaging;

/// <summary>Pillow's convolution filters for <c>Image.resize</c> (the values of <c>Image.Resampling</c> minus NEAREST).</summary>
public enum PilFilter { Box = 4, Bilinear = 2, Hamming = 5, Bicubic = 3, Lanczos = 1 }

/// <summary>
/// Pillow's resize for 8-bit RGB, reproduced bit for bit: a separable convolution, horizontal pass first, whose
/// kernel support grows with the downscale factor (so downscaling is antialiased), with weights normalised per
/// output pixel, converted to 22-bit fixed point, accumulated in 32-bit integers with a half-unit rounding offset,
/// and clipped to 0..255 after each pass. HF image processors and InternVL's torchvision transforms resize PIL
/// images, so pixel parity with them needs this exact arithmetic; torch's bicubic (a = −0.75, no antialias) differs.
/// </summary>
public static class PilResampler
{
    // Pillow keeps 32 − 8 − 2 bits of fraction: 8 for the pixel value, 2 of headroom for kernels wider than 1.
    private const int PrecisionBits = 32 - 8 - 2;

    public static RgbImage Resize(RgbImage source, int width, int height, PilFilter filter = PilFilter.Bicubic)
    {
        if (width <= 0 || height <= 0)
            throw new ArgumentOutOfRangeException(nameof(width), $"resize target {width}x{height}: both sides must be positive");
        // Pillow returns a copy when the size does not change; no pass runs, so pixels are untouched.
        if (width == source.Width && height == source.Height)
            return new RgbImage(width, height, (byte[])source.Pixels.Clone());

        var (kernel, support) = KernelOf(filter);
        var horizontal = FixedPointWeights.Compute(source.Width, width, kernel, support);
        var vertical = FixedPointWeights.Compute(source.Height, height, kernel, support);

        bool needHorizontal = width != source.Width;
        bool needVertical = height != source.Height;

        // Only the source rows that the vertical pass reads are resampled horizontally.
        int firstRow = needVertical ? vertical.Start[0] : 0;
        int lastRow = needVertical ? vertical.Start[height - 1] + vertical.Count[height - 1] : source.Height;

        RgbImage intermediate = source;
        if (needHorizontal)
        {
            intermediate = ResampleHorizontal(source, width, firstRow, lastRow - firstRow, horizontal);
            if (needVertical) vertical.ShiftStarts(-firstRow);
        }
        return needVertical ? ResampleVertical(intermediate, height, vertical) : intermediate;
    }

    private static unsafe RgbImage ResampleHorizontal(RgbImage source, int outWidth, int firstRow, int rows, FixedPointWeights w)
    {
        var output = new byte[outWidth * rows * 3];
        byte[] input = source.Pixels;
        int inStride = source.Width * 3;
        ParallelRows(rows, outWidth * rows, y =>
        {
            fixed (byte* inBase = input, outBase = output)
            fixed (int* coefficients = w.Coefficients)
            {
                byte* inRow = inBase + (long)(y + firstRow) * inStride;
                byte* outPixel = outBase + (long)y * outWidth * 3;
                for (int x = 0; x < outWidth; x++, outPixel += 3)
                {
                    int count = w.Count[x];
                    int* k = coefficients + x * w.KernelSize;
                    byte* p = inRow + w.Start[x] * 3;
                    int r = 1 << (PrecisionBits - 1), g = r, b = r;
                    for (int i = 0; i < count; i++, p += 3)
                    {
                        int c = k[i];
                        r += p[0] * c; g += p[1] * c; b += p[2] * c;
                    }
                    outPixel[0] = Clip8(r); outPixel[1] = Clip8(g); outPixel[2] = Clip8(b);
                }
            }
        });
        return new RgbImage(outWidth, rows, output);
    }

    private static unsafe RgbImage ResampleVertical(RgbImage source, int outHeight, FixedPointWeights w)
    {
        int rowBytes = source.Width * 3;
        var output = new byte[rowBytes * outHeight];
        byte[] input = source.Pixels;
        ParallelRows(outHeight, source.Width * outHeight, y =>
        {
            fixed (byte* inBase = input, outBase = output)
            fixed (int* coefficients = w.Coefficients)
            {
                int count = w.Count[y];
                int* k = coefficients + y * w.KernelSize;
                byte* firstInput = inBase + (long)w.Start[y] * rowBytes;
                byte* outRow = outBase + (long)y * rowBytes;
                for (int i = 0; i < rowBytes; i++)
                {
                    int acc = 1 << (PrecisionBits - 1);
                    byte* p = firstInput + i;
                    for (int j = 0; j < count; j++, p += rowBytes) acc += *p * k[j];
                    outRow[i] = Clip8(acc);
                }
            }
        });
        return new RgbImage(source.Width, outHeight, output);
    }

    private static void ParallelRows(int rows, long outputPixels, Action<int> row)
    {
        // Rows are independent and each writes its own bytes, so the result does not depend on scheduling.
        if (outputPixels < 64 * 1024) { for (int y = 0; y < rows; y++) row(y); }
        else Parallel.For(0, rows, row);
    }

    // Arithmetic shift then clamp: Pillow's clip8 lookup table does exactly this.
    private static byte Clip8(int accumulator)
    {
        int v = accumulator >> PrecisionBits;
        return v < 0 ? (byte)0 : v > 255 ? (byte)255 : (byte)v;
    }

    private static (Func<double, double> Kernel, double Support) KernelOf(PilFilter filter) => filter switch
    {
        PilFilter.Box => (BoxKernel, 0.5),
        PilFilter.Bilinear => (TriangleKernel, 1.0),
        PilFilter.Hamming => (HammingKernel, 1.0),
        PilFilter.Bicubic => (CubicKernel, 2.0),
        PilFilter.Lanczos => (LanczosKernel, 3.0),
        _ => throw new ArgumentOutOfRangeException(nameof(filter), $"unknown resampling filter {filter}"),
    };

    // The kernels keep Pillow's operation order so each double matches before fixed-point conversion.
    private static double BoxKernel(double x) => x > -0.5 && x <= 0.5 ? 1.0 : 0.0;

    private static double TriangleKernel(double x)
    {
        if (x < 0.0) x = -x;
        return x < 1.0 ? 1.0 - x : 0.0;
    }

    private static double HammingKernel(double x)
    {
        if (x < 0.0) x = -x;
        if (x == 0.0) return 1.0;
        if (x >= 1.0) return 0.0;
        x *= Math.PI;
        return Math.Sin(x) / x * (0.54 + 0.46 * Math.Cos(x));
    }

    private static double CubicKernel(double x)
    {
        const double a = -0.5; // Keys' cubic with a = −0.5 (Catmull-Rom), Pillow's choice
        if (x < 0.0) x = -x;
        if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    }

    private static double Sinc(double x)
    {
        if (x == 0.0) return 1.0;
        x *= Math.PI;
        return Math.Sin(x) / x;
    }

    private static double LanczosKernel(double x) => -3.0 <= x && x < 3.0 ? Sinc(x) * Sinc(x / 3) : 0.0;

    /// <summary>Per output pixel: the first input index, the number of taps, and 22-bit fixed-point weights.</summary>
    private sealed class FixedPointWeights
    {
        public required int[] Start { get; init; }
        public required int[] Count { get; init; }
        public required int[] Coefficients { get; init; }
        public required int KernelSize { get; init; }

        public void ShiftStarts(int delta)
        {
            for (int i = 0; i < Start.Length; i++) Start[i] += delta;
        }

        public static FixedPointWeights Compute(int inSize, int outSize, Func<double, double> kernel, double baseSupport)
        {
            // Pillow passes the box edges as floats; for whole-image resizes they are 0 and inSize, exact in float.
            double scale = (double)(float)inSize / outSize;
            double filterScale = Math.Max(scale, 1.0);
            double support = baseSupport * filterScale;
            int kernelSize = (int)Math.Ceiling(support) * 2 + 1;

            var start = new int[outSize];
            var count = new int[outSize];
            var coefficients = new int[checked(outSize * kernelSize)];
            var weights = new double[kernelSize];
            for (int o = 0; o < outSize; o++)
            {
                double center = (o + 0.5) * scale;
                double inverseScale = 1.0 / filterScale;
                // C's (int) truncates toward zero; both bounds are clamped right after, as in Pillow.
                int min = (int)(center - support + 0.5);
                if (min < 0) min = 0;
                int max = (int)(center + support + 0.5);
                if (max > inSize) max = inSize;
                int taps = max - min;

                double total = 0.0;
                for (int i = 0; i < taps; i++)
                {
                    double w = kernel((i + min - center + 0.5) * inverseScale);
                    weights[i] = w;
                    total += w;
                }
                for (int i = 0; i < taps; i++)
                {
                    double normalised = total != 0.0 ? weights[i] / total : weights[i];
                    // Round half away from zero, as Pillow's normalize_coeffs_8bpc does.
                    coefficients[o * kernelSize + i] = normalised < 0
                        ? (int)(-0.5 + normalised * (1 << PrecisionBits))
                        : (int)(0.5 + normalised * (1 << PrecisionBits));
                }
                start[o] = min;
                count[o] = taps;
            }
            return new FixedPointWeights { Start = start, Count = count, Coefficients = coefficients, KernelSize = kernelSize };
        }
    }
}
