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


def main():
    im = picture()
    grey = im.convert("L")
    pal = im.quantize(64)
    rgba = im.copy()
    rgba.putalpha(Image.linear_gradient("L").resize((W, H)))
    out = lambda n: os.path.join(here, n)

    im.save(out("base.png"))
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
