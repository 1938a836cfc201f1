#!/usr/bin/python3
"""Generate the seed corpora of the image metadata fuzz targets.

    /usr/bin/python3 tests/fuzz/gen_meta_seeds.py [outdir]

writes tests/fuzz/seeds/fuzz_{jpeg,png,jp2,tiff}/ (or under outdir).  Every
seed is small (a few KB at most) and made from scratch here -- with Pillow
for real pixel data and by hand for the metadata structures -- so the
corpus holds no third-party files.  The seeds cover each structure the
parser reads (Exif in both byte orders, XMP, extended XMP, IPTC, PNG text
chunks, raw profiles, JP2 boxes, codestream COM, BigTIFF) plus a few
deliberately broken variants, so the fuzzer starts next to the edge cases.
Output is deterministic: running it twice gives the same bytes.
"""
import io
import os
import struct
import sys
import zlib

from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from cbptest.fixtures import LPR_TEXT  # noqa: E402
from cbptest.formats import (XMP_EXT_ID, XMP_ID, jp2_box, png_chunk,  # noqa: E402
                             png_insert, segment, tiff)

PLATE = LPR_TEXT.encode()
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf='
       b'"http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
       b'xmlns:lpr="urn:example:lpr" lpr:PORT="2304" lpr:LANE="07">'
       b"<lpr:PLATE>7ABC123</lpr:PLATE></rdf:Description></rdf:RDF></x:xmpmeta>")
UUID_XMP = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")
UUID_IPTC = bytes.fromhex("33C7A4D2B81D4723A0BAF1A3E097AD38")


# ---- TIFF / Exif ---------------------------------------------------------

def short(be, v):
    return struct.pack(">H" if be else "<H", v)


def long_(be, v):
    return struct.pack(">I" if be else "<I", v)


def exif_block(be, thumb=None):
    """IFD0 (Make, Model, Orientation, description, XP*), Exif IFD
    (UserComment, dates, owner), GPS IFD, IFD1 with a thumbnail."""
    ifd0 = [
        (0x010E, 2, len(PLATE) + 1, PLATE + b"\0"),
        (0x010F, 2, 5, b"ACME\0"),
        (0x0110, 2, 8, b"LPR-CAM\0"),
        (0x0112, 3, 1, short(be, 6)),
        (0x0131, 2, 6, b"fw1.0\0"),
        (0x9C9C, 1, 28, "PLATE=7ABC123\0".encode("utf-16-le")),
        (0x8769, 4, 1, ("ifd", 1)),
        (0x8825, 4, 1, ("ifd", 2)),
    ]
    uc = b"UNICODE\0" + "PORT=2304 PLATE=7ABC123".encode("utf-16-be" if be else "utf-16-le")
    exif = [
        (0x9003, 2, 20, b"2019:05:31 12:13:14\0"),
        (0x9286, 7, len(uc), uc),
        (0xA430, 2, 6, b"owner\0"),
        (0xA431, 2, 4, b"SN1\0"),
    ]
    gps = [
        (0x0001, 2, 2, b"N\0"),
        (0x001B, 7, 13, b"ASCII\0\0\0GPS\0\0"),
    ]
    ifds = [(ifd0, 3), (exif, None), (gps, None)]
    if thumb is not None:
        ifds.append(([(0x0201, 4, 1, long_(be, 0)), (0x0202, 4, 1, long_(be, len(thumb)))], None))
        t = tiff(be, ifds)
        ifds[3] = ([(0x0201, 4, 1, long_(be, len(t))), (0x0202, 4, 1, long_(be, len(thumb)))], None)
        return tiff(be, ifds) + thumb
    ifds.append(([(0x0103, 3, 1, short(be, 6))], None))
    return tiff(be, ifds)


# ---- JPEG ------------------------------------------------------------------

def tiny_jpeg(progressive=False, size=(8, 8)):
    im = Image.new("RGB", size, (200, 30, 30))
    b = io.BytesIO()
    im.save(b, "JPEG", quality=50, progressive=progressive, optimize=False)
    return b.getvalue()


def with_segments(jpeg, segs):
    """Insert segments right after SOI."""
    return jpeg[:2] + b"".join(segs) + jpeg[2:]


def iim():
    """IPTC-IIM datasets: 1:90 (UTF-8), Caption, Keywords, ObjectName, By-line."""
    out = b"\x1c\x01\x5a\x00\x03\x1b\x25\x47"
    for ds, text in ((120, PLATE), (25, b"lpr"), (25, b"lane7"), (5, b"read"), (80, b"cam1")):
        out += bytes([0x1C, 2, ds]) + struct.pack(">H", len(text)) + text
    return out


def psir():
    """Photoshop resource 0x0404 holding the IIM."""
    data = iim()
    res = b"8BIM" + struct.pack(">H", 0x0404) + b"\0\0" + struct.pack(">I", len(data)) + data
    return res + b"\0" * (len(data) & 1)


def iptc_app13():
    return segment(0xED, b"Photoshop 3.0\0" + psir())


def ext_xmp_segments(text):
    guid = b"0123456789ABCDEF0123456789ABCDEF"
    out = []
    for off in range(0, len(text), 100):
        part = text[off:off + 100]
        out.append(segment(0xE1, XMP_EXT_ID + guid + struct.pack(">II", len(text), off) + part))
    return out


def skeleton_196():
    return bytes.fromhex(
        "FFD8FFE1005C457869660000"
        "49492A0008000000"
        "03000F0102000500000032000000"
        "120103000100000006000000"
        "6987040001000000380000000000000041434D450000"
        "0100869207000A0000004A000000000000004153434949000000"
        "6869"
        "FFE10044" + XMP_ID.hex() +
        "3C783A786D706D65746120786D6C6E733A783D2261646F62653A6E733A6D6574612F222F3E"
        "FFFE000768656C6C6F"
        "FFC000110800F0014003012200021101031101"
        "FFD9")


def jpeg_seeds():
    base = tiny_jpeg()
    prog = tiny_jpeg(progressive=True, size=(16, 16))
    thumb = tiny_jpeg(size=(4, 4))
    s = {}
    s["skeleton196.jpg"] = skeleton_196()
    s["exif_ii.jpg"] = with_segments(base, [segment(0xE1, b"Exif\0\0" + exif_block(False))])
    s["exif_mm_thumb.jpg"] = with_segments(base, [segment(0xE1, b"Exif\0\0" + exif_block(True, thumb))])
    s["xmp_com_iptc.jpg"] = with_segments(prog, [
        segment(0xE1, XMP_ID + XMP), segment(0xFE, PLATE), iptc_app13()])
    s["ext_xmp.jpg"] = with_segments(base, [
        segment(0xE1, XMP_ID + b'<x:xmpmeta xmpNote:HasExtendedXMP="0123"/>')] +
        ext_xmp_segments(XMP * 2))
    s["progressive.jpg"] = prog
    # Broken on purpose: a segment cut short, SOF length 0, junk between segments.
    s["truncated_segment.jpg"] = (b"\xFF\xD8" + segment(0xFE, b"kept") +
                                  b"\xFF\xE1\x10\x00Exif\0\0II*\0")
    s["sof_len0.jpg"] = b"\xFF\xD8\xFF\xC0\x00\x00\x08\x00\xF0\x01\x40\x03\xFF\xD9"
    s["junk.jpg"] = base[:2] + segment(0xFE, b"a") + b"junk\xFF\x00" + base[2:]
    loop = tiff(False, [([(0x010F, 2, 5, b"ACME\0"), (0x8769, 4, 1, ("ifd", 1))], 0),
                        ([(0x8769, 4, 1, ("ifd", 1))], None)])
    s["ifd_loop.jpg"] = with_segments(base, [segment(0xE1, b"Exif\0\0" + loop)])
    return s


# ---- PNG -------------------------------------------------------------------

def tiny_png():
    im = Image.new("L", (4, 4), 128)
    b = io.BytesIO()
    im.save(b, "PNG")
    return b.getvalue()


def hexdump(name, data):
    h = data.hex()
    lines = "\n".join(h[i:i + 72] for i in range(0, len(h), 72))
    return ("\n%s\n%8d\n%s\n" % (name, len(data), lines)).encode()


def png_seeds():
    p = tiny_png()
    exif = exif_block(False)
    s = {}
    s["text_ztxt_itxt.png"] = png_insert(p, *[
        png_chunk(b"tEXt", b"Comment\0" + PLATE),
        png_chunk(b"zTXt", b"Description\0\0" + zlib.compress(PLATE)),
        png_chunk(b"iTXt", b"Title\0\0\0en\0Titel\0" + "h\u00e9llo".encode()),
        png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\1\0\0\0" + zlib.compress(XMP)),
    ])
    s["exif_after_idat.png"] = png_insert(p, *[png_chunk(b"eXIf", exif),
                                              png_chunk(b"tEXt", b"caf\xe9\0na\xefve")], after_idat=True)
    s["exif_lower.png"] = png_insert(p, *[png_chunk(b"exIf", exif_block(True))])
    s["raw_profiles.png"] = png_insert(p, *[
        png_chunk(b"zTXt", b"Raw profile type exif\0\0" +
              zlib.compress(hexdump("exif", b"Exif\0\0" + exif))),
        png_chunk(b"tEXt", b"Raw profile type xmp\0" + hexdump("xmp", XMP)),
        png_chunk(b"tEXt", b"Raw profile type iptc\0" + hexdump("iptc", psir())),
    ])
    # Broken on purpose: huge length, bad CRC, zlib cut short, no IEND.
    s["len_ffffffff.png"] = png_insert(p, *[png_chunk(b"tEXt", b"k\0v"),
                                           b"\xFF\xFF\xFF\xFFtEXtk\0v"])
    bad = bytearray(png_insert(p, *[png_chunk(b"tEXt", b"Comment\0bad crc")]))
    bad[33 + 8 + 15] ^= 0xFF
    s["bad_crc.png"] = bytes(bad)
    s["ztxt_cut.png"] = png_insert(p, *[png_chunk(b"zTXt", b"k\0\0" + zlib.compress(PLATE * 20)[:30])])
    s["no_iend.png"] = p[:-12]
    s["bomb_small.png"] = png_insert(p, *[png_chunk(b"zTXt", b"k\0\0" + zlib.compress(b"A" * 200000, 9))])
    return s


# ---- JPEG 2000 -------------------------------------------------------------

def j2k_with_com(cs, text):
    """Insert a COM (Rcom 1) after SIZ in a codestream."""
    lsiz = struct.unpack(">H", cs[4:6])[0]
    at = 4 + lsiz
    com = b"\xFF\x64" + struct.pack(">HH", len(text) + 4, 1) + text
    return cs[:at] + com + cs[at:]


def jp2_seeds():
    im = Image.new("L", (8, 8), 77)
    b = io.BytesIO()
    im.save(b, "JPEG2000", irreversible=False, no_jp2=True)
    j2k = b.getvalue()
    assert j2k[:4] == b"\xFF\x4F\xFF\x51"
    cs = j2k_with_com(j2k, PLATE)
    ihdr = jp2_box(b"ihdr", struct.pack(">IIHBBBB", 8, 8, 1, 7, 7, 0, 0))
    colr = jp2_box(b"colr", b"\x01\x00\x00\x00\x00\x00\x11")
    sig = jp2_box(b"jP  ", b"\r\n\x87\n") + jp2_box(b"ftyp", b"jp2 \0\0\0\0jp2 ")
    jp2h = jp2_box(b"jp2h", ihdr + colr)
    s = {}
    s["codestream_com.j2k"] = cs
    s["full.jp2"] = (sig + jp2h + jp2_box(b"xml ", XMP) +
                     jp2_box(b"uuid", UUID_XMP + XMP) +
                     jp2_box(b"uuid", b"JpgTiffExif->JP2" + b"Exif\0\0" + exif_block(False)) +
                     jp2_box(b"uuid", UUID_IPTC + iim()) +
                     struct.pack(">I", 0) + b"jp2c" + cs)
    s["xlbox.jp2"] = sig + jp2h + struct.pack(">I", 1) + b"jp2c" + struct.pack(">Q", len(cs) + 16) + cs
    s["asoc.jp2"] = sig + jp2h + jp2_box(b"asoc", jp2_box(b"lbl ", b"gml") + jp2_box(b"xml ", b"<a>PLATE=7ABC123</a>")) + jp2_box(b"jp2c", cs)
    # Broken on purpose: box shorter than its header, huge 64-bit length, deep nesting.
    s["box_len4.jp2"] = sig + jp2h + b"\0\0\0\x04xml "
    s["xlbox_huge.jp2"] = sig + b"\0\0\0\x01xml " + b"\xFF" * 8 + b"<a/>"
    deep = ihdr
    for _ in range(12):
        deep = jp2_box(b"jp2h", deep)
    s["deep.jp2"] = sig + deep
    return s


# ---- TIFF ------------------------------------------------------------------

def tiff_seeds():
    s = {}
    im = Image.new("L", (4, 4), 10)
    b = io.BytesIO()
    im.save(b, "TIFF", description=PLATE.decode(), software="fw")
    s["pillow.tif"] = b.getvalue()
    for be in (False, True):
        ifd0 = [
            (0x0100, 3, 1, short(be, 640)),
            (0x0101, 4, 1, long_(be, 480)),
            (0x010E, 2, len(PLATE) + 1, PLATE + b"\0"),
            (0x0112, 3, 1, short(be, 8)),
            (0x02BC, 1, len(XMP), XMP),
            (0x83BB, 7, len(iim()), iim()),
            (0x8769, 4, 1, ("ifd", 1)),
        ]
        exif = [(0x9286, 7, 10, b"ASCII\0\0\0hi")]
        page2 = [(0x0100, 3, 1, short(be, 2)), (0x010F, 2, 6, b"page2\0")]
        s["tags_%s.tif" % ("mm" if be else "ii")] = tiff(be, [(ifd0, 2), (exif, None), (page2, None)])
    ifd0 = [(0x0100, 16, 1, struct.pack("<Q", 99)), (0x0101, 3, 1, short(False, 77)),
            (0x010E, 2, len(PLATE) + 1, PLATE + b"\0")]
    s["bigtiff.tif"] = tiff(False, [(ifd0, None)], big=True)
    s["bigtiff_mm.tif"] = tiff(True, [([(0x0100, 4, 1, long_(True, 5)),
                                        (0x010F, 2, 10, b"big-endia\0")], None)], big=True)
    # Broken on purpose: count 0xFFFF, loops, count*size overflow.
    t = bytearray(tiff(False, [([(0x010F, 2, 5, b"ACME\0")], None)]))
    t[8:10] = b"\xFF\xFF"
    s["count_ffff.tif"] = bytes(t)
    s["loop.tif"] = tiff(False, [([(0x010F, 2, 5, b"ACME\0")], 0)])
    s["overflow.tif"] = tiff(False, [([(0x8769, 4, 0x40000000, long_(False, 8)),
                                       (0x010E, 2, 0xFFFFFFFF, long_(False, 8))], None)])
    return s


def main():
    top = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")
    for name, seeds in (("fuzz_jpeg", jpeg_seeds()), ("fuzz_png", png_seeds()),
                        ("fuzz_jp2", jp2_seeds()), ("fuzz_tiff", tiff_seeds())):
        d = os.path.join(top, name)
        os.makedirs(d, exist_ok=True)
        for fn, data in sorted(seeds.items()):
            assert len(data) <= 8192, (fn, len(data))
            with open(os.path.join(d, fn), "wb") as f:
                f.write(data)
        print("%s: %d seeds" % (d, len(seeds)))


if __name__ == "__main__":
    main()
