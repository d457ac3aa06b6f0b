#!/usr/bin/python3
"""Writes the imaging reference fixtures from real Pillow (Debian python3-pil 9.4, python3-numpy).

    apt-get install -y python3-pil python3-numpy
    /usr/bin/python3 tools/imaging-reference/make_reference.py UniPrune.Engine.Tests/Fixtures/imaging

Everything pixel-valued here comes from Pillow itself: decoding (Image.open(...).convert('RGB')), resizing
(Image.resize), padding (Image.new + paste) and cropping. The small decision functions (smart_resize and InternVL's
aspect-ratio choice) are restated from qwen-vl-utils and InternVL's dynamic_preprocess and run in CPython, because
their answers hinge on Python semantics (round-half-to-even, float division, set iteration order + stable sort).
The output is deterministic; re-running rewrites identical files.
"""
import io
import json
import math
import os
import sys

import numpy as np
from PIL import Image

OUT = sys.argv[1] if len(sys.argv) > 1 else "UniPrune.Engine.Tests/Fixtures/imaging"


def synthetic(width, height, seed, channels=3):
    """Gradients, two rectangles and mild noise: smooth enough to compress, noisy enough to exercise rounding."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.zeros((height, width, channels), np.float64)
    img[..., 0] = 255 * x / max(width - 1, 1)
    img[..., 1] = 255 * y / max(height - 1, 1)
    img[..., 2] = 127 + 120 * np.sin((x + 2 * y) / 7.0)
    if channels == 4:
        img[..., 3] = 255 * (x + y) / max(width + height - 2, 1)
    x0, y0 = width // 4, height // 5
    img[y0:y0 + max(height // 3, 1), x0:x0 + max(width // 3, 1), :3] = (250, 10, 30)
    img[height // 2:, width // 2:width // 2 + max(width // 6, 1), :3] = (5, 5, 5)
    img[..., :3] += rng.randint(-12, 13, size=(height, width, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def png_with_filters(samples, color_type):
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit RGB), cycling rows through filter types 0..4."""
    import struct
    import zlib
    height, width = samples.shape[:2]
    bpp = 2 * (samples.shape[2] if samples.ndim == 3 else 1)
    raw, previous = b"", bytes(width * bpp)
    for y in range(height):
        row = samples[y].tobytes()
        kind = y % 5
        out = bytearray()
        for i, value in enumerate(row):
            left = row[i - bpp] if i >= bpp else 0
            up = previous[i]
            up_left = previous[i - bpp] if i >= bpp else 0
            if kind == 0: pred = 0
            elif kind == 1: pred = left
            elif kind == 2: pred = up
            elif kind == 3: pred = (left + up) // 2
            else:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else up_left
            out.append((value - pred) & 0xFF)
        raw += bytes([kind]) + bytes(out)
        previous = row

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def save_png(path, array_or_image):
    im = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    im.save(path, format="PNG", optimize=False, compress_level=9)


def write_resize_cases(root):
    os.makedirs(root, exist_ok=True)
    sources = {"s37x23": (37, 23, 1), "s64x64": (64, 64, 2), "s100x75": (100, 75, 3), "s17x91": (17, 91, 4),
               "s224x112": (224, 112, 5), "s5x3": (5, 3, 6)}
    targets = {
        "s37x23": [(74, 46), (12, 7), (37, 11), (50, 50), (1, 1)],
        "s64x64": [(33, 33), (128, 96), (21, 64), (336, 336)],
        "s100x75": [(336, 252), (28, 28), (99, 74), (56, 112)],
        "s17x91": [(34, 13), (5, 90), (17, 92)],
        "s224x112": [(112, 112), (448, 224), (111, 57)],
        "s5x3": [(13, 11), (2, 2)],
    }
    filters = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR,
               "box": Image.BOX, "hamming": Image.HAMMING, "lanczos": Image.LANCZOS}
    cases = []
    for name, (w, h, seed) in sources.items():
        save_png(os.path.join(root, f"{name}.png"), synthetic(w, h, seed))
        src = Image.open(os.path.join(root, f"{name}.png")).convert("RGB")
        for (tw, th) in targets[name]:
            for fname, f in filters.items():
                if fname not in ("bicubic", "bilinear") and (tw, th) != targets[name][0]:
                    continue  # the other filters get one case per source; bicubic/bilinear get them all
                out = f"{name}_{fname}_{tw}x{th}.png"
                save_png(os.path.join(root, out), src.resize((tw, th), f))
                cases.append({"source": f"{name}.png", "filter": fname, "width": tw, "height": th, "expected": out})
    with open(os.path.join(root, "cases.json"), "w") as fh:
        json.dump({"pillow": Image.__version__, "cases": cases}, fh, indent=1)


def hashed_noise(width, height, seed):
    """Integer-hash noise that the C# test rebuilds exactly; pure noise is the harshest case for rounding and clipping."""
    y, x = np.mgrid[0:height, 0:width].astype(np.uint64)
    planes = []
    for c in range(3):
        h = (x * np.uint64(73856093)) ^ (y * np.uint64(19349663)) ^ np.uint64(c * 83492791) ^ np.uint64(seed * 2654435761)
        h &= np.uint64(0xFFFFFFFF)
        planes.append(((h >> np.uint64(13)) & np.uint64(255)).astype(np.uint8))
    return np.stack(planes, axis=-1)


def write_hashed_resize_cases(root):
    """Large resizes stored as SHA-256 of Pillow's output bytes (HWC RGB), so the fixture stays tiny."""
    import hashlib
    cases = []
    for (w, h, seed, tw, th, fname) in [
            (3000, 2000, 1, 336, 224, "bicubic"), (2000, 3000, 2, 896, 1344, "bicubic"),
            (1600, 1200, 3, 1148, 840, "bicubic"), (1000, 750, 4, 336, 336, "bicubic"),
            (1000, 1000, 5, 980, 980, "bicubic"), (640, 480, 6, 1344, 896, "bicubic"),
            (4000, 300, 7, 1344, 112, "bicubic"), (333, 4001, 8, 28, 336, "bicubic"),
            (1600, 1200, 9, 1148, 840, "bilinear"), (999, 777, 10, 448, 448, "lanczos")]:
        filt = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "lanczos": Image.LANCZOS}[fname]
        out = np.asarray(Image.fromarray(hashed_noise(w, h, seed)).resize((tw, th), filt))
        cases.append({"width": w, "height": h, "seed": seed, "filter": fname, "target_width": tw, "target_height": th,
                      "sha256": hashlib.sha256(out.tobytes()).hexdigest()})
    with open(os.path.join(root, "hashed_cases.json"), "w") as fh:
        json.dump({"pillow": Image.__version__, "cases": cases}, fh, indent=1)


def write_decode_cases(root):
    os.makedirs(root, exist_ok=True)
    cases = []

    def add(file_name, data):
        with open(os.path.join(root, file_name), "wb") as fh:
            fh.write(data)
        expected = file_name + ".pil_rgb.png"
        save_png(os.path.join(root, expected), Image.open(io.BytesIO(data)).convert("RGB"))
        cases.append({"file": file_name, "expected": expected, "mode": Image.open(io.BytesIO(data)).mode})

    def encoded(im, fmt, **kw):
        buf = io.BytesIO()
        im.save(buf, format=fmt, **kw)
        return buf.getvalue()

    rgb = Image.fromarray(synthetic(61, 47, 11))
    add("baseline_q90_420.jpg", encoded(rgb, "JPEG", quality=90, subsampling=2))
    add("baseline_q75_444.jpg", encoded(rgb, "JPEG", quality=75, subsampling=0))
    add("progressive_q85.jpg", encoded(rgb, "JPEG", quality=85, progressive=True))
    add("gray_q90.jpg", encoded(rgb.convert("L"), "JPEG", quality=90))
    add("odd_size_q95_422.jpg", encoded(Image.fromarray(synthetic(33, 19, 12)), "JPEG", quality=95, subsampling=1))
    rgba = Image.fromarray(synthetic(29, 21, 13, channels=4), "RGBA")
    add("rgba.png", encoded(rgba, "PNG"))
    add("la.png", encoded(rgba.convert("LA"), "PNG"))
    add("gray.png", encoded(rgba.convert("L"), "PNG"))
    add("rgb.png", encoded(rgba.convert("RGB"), "PNG"))
    palette = rgba.convert("RGB").quantize(colors=32)
    palette.info["transparency"] = 3  # a tRNS entry: convert('RGB') must ignore it
    add("palette_trns.png", encoded(palette, "PNG", transparency=3))
    add("rgb.bmp", encoded(rgba.convert("RGB"), "BMP"))
    add("lossless.webp", encoded(rgba.convert("RGB"), "WEBP", lossless=True))
    add("cmyk_q90.jpg", encoded(rgb.convert("CMYK"), "JPEG", quality=90))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation "rotate 90": Image.open ignores it, and so must we
    add("exif_orientation6.jpg", encoded(rgb, "JPEG", quality=90, exif=exif.tobytes()))
    add("opaque.gif", encoded(rgba.convert("RGB").quantize(colors=16), "GIF"))  # 29x21: Pillow interlaces it
    add("transparent.gif", encoded(rgba.convert("RGB").quantize(colors=16), "GIF", transparency=2))
    small = Image.fromarray(synthetic(13, 9, 15)).quantize(colors=7)
    add("small_not_interlaced.gif", encoded(small, "GIF", transparency=1))
    add("gray.gif", encoded(rgba.convert("L"), "GIF"))
    add("colors256.gif", encoded(Image.fromarray(np.random.RandomState(16).randint(0, 256, (150, 200, 3)).astype(np.uint8))
                                 .quantize(colors=256), "GIF"))
    # Frame 0 smaller than the screen and offset: Pillow fills the rest with the transparent index (or index 0).
    for name, trns in (("offset_frame_transparent.gif", 3), ("offset_frame_opaque.gif", None)):
        kw = {} if trns is None else {"transparency": trns}
        data = bytearray(encoded(small, "GIF", **kw))
        data[6:10] = bytes([20, 0, 15, 0])  # screen 20x15
        descriptor = data.index(b",", 13 + (3 << ((data[10] & 7) + 1)))
        data[descriptor + 1:descriptor + 5] = bytes([5, 0, 4, 0])  # frame at (5, 4)
        add(name, bytes(data))
    # Frame reaching past a too-small screen: Pillow grows the image to hold it.
    data = bytearray(encoded(small, "GIF"))
    data[6:10] = bytes([8, 0, 6, 0])
    add("frame_past_screen.gif", bytes(data))
    add("bilevel.png", encoded(rgba.convert("L").point(lambda v: 255 if v > 100 else 0).convert("1"), "PNG"))
    add("palette_4bit.png", encoded(rgba.convert("RGB").quantize(colors=16), "PNG", bits=4))
    rng = np.random.RandomState(14)
    # 16-bit grayscale: Pillow opens it as mode I and convert('RGB') clamps to 255; values straddle that edge.
    add("gray16_all_filters.png", png_with_filters(rng.randint(0, 600, size=(9, 13)).astype(">u2"), color_type=0))
    add("rgb16.png", png_with_filters(rng.randint(0, 65536, size=(9, 13, 3)).astype(">u2"), color_type=2))
    with open(os.path.join(root, "cases.json"), "w") as fh:
        json.dump({"pillow": Image.__version__, "cases": cases}, fh, indent=1)


# ---- decision functions, restated so CPython's own semantics decide the answers ----

def qwen_smart_resize(height, width, factor, min_pixels, max_pixels):
    if max(height, width) / min(height, width) > 200:
        raise ValueError("aspect")
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def internvl_grid(width, height, min_num, max_num, tile):
    aspect = width / height
    candidates = set((i, j) for n in range(min_num, max_num + 1) for i in range(1, n + 1) for j in range(1, n + 1)
                     if min_num <= i * j <= max_num)
    candidates = sorted(candidates, key=lambda r: r[0] * r[1])  # stable: ties keep CPython's set order
    best, best_diff = (1, 1), float("inf")
    for cols, rows in candidates:
        diff = abs(aspect - cols / rows)
        if diff < best_diff:
            best, best_diff = (cols, rows), diff
        elif diff == best_diff and width * height > 0.5 * tile * tile * cols * rows:
            best = (cols, rows)
    return best


def write_decision_cases(root):
    os.makedirs(root, exist_ok=True)
    sizes = sorted(set([(w, h) for w in (1, 27, 28, 41, 42, 56, 97, 224, 335, 336, 448, 640, 700, 1000, 1023, 1920, 4000)
                        for h in (1, 14, 28, 42, 99, 224, 300, 448, 480, 672, 896, 1080, 2000, 5000)]))
    qwen = []
    for (min_px, max_px) in ((3136, 12845056), (256 * 28 * 28, 1280 * 28 * 28), (78400, 1280 * 28 * 28)):
        for (w, h) in sizes:
            try:
                rh, rw = qwen_smart_resize(h, w, 28, min_px, max_px)
                qwen.append({"width": w, "height": h, "min_pixels": min_px, "max_pixels": max_px,
                             "resized_width": rw, "resized_height": rh})
            except ValueError:
                qwen.append({"width": w, "height": h, "min_pixels": min_px, "max_pixels": max_px, "error": "aspect"})
    # Half-way cases for round-half-to-even: 42 = 1.5*28, 70 = 2.5*28, 98 = 3.5*28, 126 = 4.5*28.
    for (w, h) in ((42, 70), (98, 126), (70, 42), (154, 182)):
        rh, rw = qwen_smart_resize(h, w, 28, 28 * 28, 10 ** 9)
        qwen.append({"width": w, "height": h, "min_pixels": 28 * 28, "max_pixels": 10 ** 9,
                     "resized_width": rw, "resized_height": rh})
    intern = []
    for max_num in (1, 6, 12, 24):
        for (w, h) in sizes + [(448, 224), (896, 448), (1344, 448), (600, 400), (300, 200), (224, 112), (2, 1), (3, 1)]:
            cols, rows = internvl_grid(w, h, 1, max_num, 448)
            intern.append({"width": w, "height": h, "max_num": max_num, "tile": 448, "cols": cols, "rows": rows})
    with open(os.path.join(root, "decisions.json"), "w") as fh:
        json.dump({"smart_resize": qwen, "internvl_grid": intern}, fh, indent=0)


def write_pipeline_cases(root):
    """uint8 images right before rescale/normalise, produced with Pillow for each family's pipeline."""
    os.makedirs(root, exist_ok=True)
    cases = []

    # LLaVA-1.5 original: expand2square with the CLIP-mean colour, then shortest edge 336 + centre crop 336.
    for name, (w, h, seed) in {"llava_wide": (100, 61, 21), "llava_tall": (45, 80, 22)}.items():
        save_png(os.path.join(root, f"{name}.png"), synthetic(w, h, seed))
        img = Image.open(os.path.join(root, f"{name}.png")).convert("RGB")
        mean = (0.48145466, 0.4578275, 0.40821073)
        side = max(w, h)
        canvas = Image.new("RGB", (side, side), tuple(int(m * 255) for m in mean))
        canvas.paste(img, ((side - w) // 2, (side - h) // 2))
        out = canvas.resize((336, 336), Image.BICUBIC)
        save_png(os.path.join(root, f"{name}.pad336.png"), out)
        cases.append({"family": "llava_pad", "source": f"{name}.png", "expected": [f"{name}.pad336.png"]})
        # llava-hf: CLIPImageProcessor resize (shortest edge, long edge int(size*long/short)) then centre crop.
        short, long = min(w, h), max(w, h)
        new_long = int(336 * long / short)
        size = (new_long, 336) if w >= h else (336, new_long)
        resized = np.asarray(img.resize(size, Image.BICUBIC))
        top, left = (resized.shape[0] - 336) // 2, (resized.shape[1] - 336) // 2
        save_png(os.path.join(root, f"{name}.crop336.png"), resized[top:top + 336, left:left + 336])
        cases.append({"family": "llava_crop", "source": f"{name}.png", "expected": [f"{name}.crop336.png"]})

    # Qwen2.5-VL: smart_resize then Pillow bicubic.
    for name, (w, h, seed, min_px, max_px) in {"qwen_small": (90, 61, 31, 256 * 28 * 28, 1280 * 28 * 28),
                                               "qwen_large": (380, 253, 32, 3136, 100 * 28 * 28)}.items():
        save_png(os.path.join(root, f"{name}.png"), synthetic(w, h, seed))
        img = Image.open(os.path.join(root, f"{name}.png")).convert("RGB")
        rh, rw = qwen_smart_resize(h, w, 28, min_px, max_px)
        save_png(os.path.join(root, f"{name}.resized.png"), img.resize((rw, rh)))
        cases.append({"family": "qwen", "source": f"{name}.png", "min_pixels": min_px, "max_pixels": max_px,
                      "expected": [f"{name}.resized.png"]})

    # InternVL3: dynamic tiling (tile 112 to keep fixtures small; the code path is the same for 448).
    for name, (w, h, seed, max_num) in {"internvl_wide": (300, 130, 41, 6), "internvl_square": (100, 100, 42, 6),
                                        "internvl_tall": (70, 250, 43, 12)}.items():
        tile = 112
        save_png(os.path.join(root, f"{name}.png"), synthetic(w, h, seed))
        img = Image.open(os.path.join(root, f"{name}.png")).convert("RGB")
        cols, rows = internvl_grid(w, h, 1, max_num, tile)
        resized = img.resize((tile * cols, tile * rows))
        expected = []
        for i in range(cols * rows):
            box = ((i % cols) * tile, (i // cols) * tile, (i % cols + 1) * tile, (i // cols + 1) * tile)
            expected.append(f"{name}.tile{i}.png")
            save_png(os.path.join(root, expected[-1]), resized.crop(box))
        if cols * rows != 1:
            expected.append(f"{name}.thumbnail.png")
            save_png(os.path.join(root, expected[-1]), img.resize((tile, tile)))
        cases.append({"family": "internvl", "source": f"{name}.png", "tile": tile, "max_num": max_num,
                      "cols": cols, "rows": rows, "expected": expected})
    with open(os.path.join(root, "cases.json"), "w") as fh:
        json.dump({"pillow": Image.__version__, "cases": cases}, fh, indent=1)


if __name__ == "__main__":
    write_resize_cases(os.path.join(OUT, "resize"))
    write_hashed_resize_cases(os.path.join(OUT, "resize"))
    write_decode_cases(os.path.join(OUT, "decode"))
    write_decision_cases(OUT)
    write_pipeline_cases(os.path.join(OUT, "pipelines"))
    print("wrote", OUT)
