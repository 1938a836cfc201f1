#!/usr/bin/python3
"""Make the decoder fixtures of tests/unit/test_decode.c (run from anywhere).

One synthetic 80x60 picture (gradients and shapes, drawn here, no photo),
saved in every format and variant cbp_decode handles.  Lossless copies hold
exactly the same pixels, which the test checks; lossy ones must hash within a
few bits.  Deterministic: re-running gives the same pictures (the encoders'
byte output may vary with library versions, which does not matter).
"""
import os
import struct
import zlib

from PIL import Image, ImageDraw

W, H = 80, 60
here = os.path.dirname(os.path.abspath(__file__))


def picture():
    im = Image.new("RGB", (W, H))
    px = im.load()
    for y in range(H):
        for x in range(W):
            px[x, y] = (x * 3 % 256, y * 4 % 256, (x * y) // 20 % 256)
    d = ImageDraw.Draw(im)
    d.ellipse((8, 6, 38, 36), fill=(240, 200, 20))
    d.rectangle((44, 10, 72, 30), fill=(20, 40, 200))
    d.polygon([(10, 55), (40, 40), (70, 56)], fill=(200, 30, 60))
    d.line((0, 0, 79, 59), fill=(255, 255, 255), width=2)
    return im


def png_adam7(im, path):
    """Interlaced PNG by hand: Pillow cannot write Adam7."""
    rgb = im.convert("RGB")
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
              (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = bytearray()
    for x0, y0, dx, dy in passes:
        for y in range(y0, H, dy):
            xs = list(range(x0, W, dx))
            if not xs:
                continue
            raw.append(0)
            for x in xs:
                raw.extend(rgb.getpixel((x, y)))

    def chunk(t, data):
        c = struct.pack(">I", len(data)) + t + data
        return c + struct.pack(">I", zlib.crc32(t + data) & 0xffffffff)
    ihdr = struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 1)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
                chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b""))


def png_filtered(im, path, wbits=15, idat=8192, first=None, filt=None, bad_row=None,
                 strategy=zlib.Z_DEFAULT_STRATEGY, block_at=None):
    """PNG written by hand with every filter type in turn, for the PNG fast
    path (decode.c, png_fast) against libspng: rows cycle through None,
    Sub, Up, Average and Paeth (or use filt), the zlib window is 2**wbits,
    and the stream is cut into IDAT chunks of idat bytes (the first of
    `first` bytes when given); row bad_row gets the undefined filter 5;
    a new deflate block starts at row block_at."""
    mode = im.mode
    bpp = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
    ctype = {"L": 0, "LA": 4, "RGB": 2, "RGBA": 6}[mode]
    w, h = im.size
    data = im.tobytes()
    n = w * bpp

    def paeth(a, b, c):
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        return a if pa <= pb and pa <= pc else (b if pb <= pc else c)
    raw = bytearray()
    prev = bytes(n)
    for y in range(h):
        cur = data[y * n:(y + 1) * n]
        f = (y % 5) if filt is None else filt
        out = bytearray(n)
        for i in range(n):
            a = cur[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            pred = (0, a, b, (a + b) >> 1, paeth(a, b, c))[f]
            out[i] = (cur[i] - pred) & 0xff
        raw.append(5 if y == bad_row else f)
        raw.extend(out)
        prev = cur
    co = zlib.compressobj(9, zlib.DEFLATED, wbits, 9, strategy)
    cut = len(raw) if block_at is None else block_at * (n + 1)
    z = co.compress(bytes(raw[:cut])) + co.flush(zlib.Z_FULL_FLUSH)
    z += co.compress(bytes(raw[cut:])) + co.flush()

    def chunk(t, d):
        c = struct.pack(">I", len(d)) + t + d
        return c + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    parts = []
    pos = 0
    if first is not None:
        parts.append(z[:first])
        pos = first
    while pos < len(z):
        parts.append(z[pos:pos + idat])
        pos += idat
    ihdr = struct.pack(">IIBBBBB", w, h, 8, ctype, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
                b"".join(chunk(b"IDAT", p) for p in parts) + chunk(b"IEND", b""))


def png_fast_cases(im, out):
    """The fast path's fixtures: every colour type it takes, every filter,
    rows wider than its 256 KiB window, many small IDATs, and the cases it
    leaves to libspng (a small zlib window, a zlib header split between
    IDATs)."""
    noisy = im.convert("L").point(lambda v: v * 7919 % 256)  # busy alpha, deterministic
    rgba = Image.merge("RGBA", im.split() + (noisy,))
    png_filtered(im.convert("L"), out("fast-grey.png"))
    png_filtered(Image.merge("LA", (im.convert("L"), noisy)), out("fast-la.png"))
    png_filtered(im, out("fast-rgb.png"), idat=97)
    png_filtered(rgba, out("fast-rgba.png"))
    for f in range(5):
        png_filtered(rgba, out("fast-filter%d.png" % f), filt=f)
    wide = im.resize((30000, 12), Image.NEAREST)	# 90 kB rows: a row a window
    png_filtered(wide, out("fast-wide.png"), idat=65536)
    png_filtered(im, out("fast-window9.png"), wbits=9)
    png_filtered(im, out("fast-split-header.png"), first=1)
    png_filtered(im, out("fast-badfilter.png"), bad_row=30)
    # Mostly flat, like an icon: the stream ends long before the rows do,
    # and the last ones come out of ISA-L's state after the last IDAT is
    # used up (a bug of the first version).
    big = Image.new("RGBA", (512, 128))
    big.paste(rgba, (200, 0))
    png_filtered(big, out("fast-big.png"), filt=0, strategy=zlib.Z_RLE, block_at=60)


def main():
    im = picture()
    grey = im.convert("L")
    pal = im.quantize(64)
    rgba = im.copy()
    rgba.putalpha(Image.linear_gradient("L").resize((W, H)))
    out = lambda n: os.path.join(here, n)

    im.save(out("base.png"))
    png_fast_cases(im, out)
    png_adam7(im, out("interlaced.png"))
    grey.save(out("grey.png"))
    grey.convert("I").point(lambda v: v * 257).convert("I;16").save(out("grey16.png"))
    Image.merge("LA", (grey, grey.point(lambda v: 255 - v))).save(out("la.png"))
    rgba.save(out("rgba.png"))
    pal.save(out("p.png"))

    im.save(out("base.jpg"), quality=92)
    im.save(out("progressive.jpg"), quality=92, progressive=True)
    grey.save(out("grey.jpg"), quality=92)
    im.convert("CMYK").save(out("cmyk.jpg"), quality=92)

    im.save(out("raw.tif"))
    im.save(out("lzw.tif"), compression="tiff_lzw")
    im.save(out("jpeg.tif"), compression="jpeg")
    grey.save(out("grey.tif"))

    pal.save(out("base.gif"))
    pal.save(out("noninterlaced.gif"), interlace=False)

    im.save(out("lossless.webp"), lossless=True)
    im.save(out("lossy.webp"), quality=90)
    im.save(out("anim.webp"), save_all=True, append_images=[grey.convert("RGB")],
            duration=100, lossless=True)

    im.save(out("base.bmp"))
    pal.save(out("p8.bmp"))
    im.convert("1", dither=Image.NONE).save(out("mono.bmp"))
    rgba.save(out("rgba.bmp"))

    im.save(out("base.jp2"))
    im.save(out("base.j2k"))
    im.save(out("lossy.jp2"), quality_mode="rates", quality_layers=[8], irreversible=True)
    grey.save(out("grey.jp2"))

    im.save(out("base.ppm"))
    grey.save(out("grey.pgm"))


if __name__ == "__main__":
    main()
