#!/usr/bin/python3
"""Fixtures for the cbpscan end-to-end tests, the demo and the benchmark.

Every fixture is built at run time, byte-exactly, from Pillow pictures and
the layouts in docs/formats.md (shared/docs), through the byte builders
of cbptest.formats: JPEG segments (COM, APP1 Exif,
APP1 XMP), TIFF/Exif IFDs, PNG chunks (tEXt, zTXt, iTXt, eXIf), JP2 boxes,
ISO/IEC 19794-5 face records (2005 "010" and 2011 "030"), ANSI/NIST-ITL
Type-1 + Type-10 transactions, and archives of all of these.  Nothing
binary is checked in.  Real sample files (testdata, AGPL plate photos) are
only ever read from CBP_TESTDATA and modified copies written to temp dirs.

    PYTHONPATH=tests/lib /usr/bin/python3 -m cbptest.fixtures --sample-tree DIR

writes the demo tree (a contractor host with exports, a database dump, an
ANSI/NIST transaction, holiday photos, logs and an encrypted zip).
"""

import gzip
import io
import os
import random
import shutil
import struct
import subprocess
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path

from PIL import Image, ImageDraw, TiffImagePlugin

from cbptest.formats import (FS, GS, PNG_SIG, RS, US, XMP_ID, jp2_box,  # noqa: F401
                             jp2_boxes, png_chunk, png_chunks, png_insert,
                             segment, tagged)
from cbptest.formats import tiff as tiff_structure

REPO = Path(__file__).resolve().parents[3]


def testdata():
    """The shared test data directory (env CBP_TESTDATA)."""
    return Path(os.environ.get("CBP_TESTDATA", REPO.parent / "shared" / "testdata"))


# ---- records (the text a carrier holds) -----------------------------------

PLATE = "7ABC123"
PLATE_MASKED = "7A***23"
LPR_TEXT = "LPR;PORT=2304;LANE=07;TS=20190531T121314Z;PLATE=7ABC123;ST=CA;CONF=93"
DOC = "X12345678"
TRAVELER_TEXT = "CAPTURE;TRAVELER_ID=T987654321;DOC_NUM=X12345678;PORT=2304;GATE=B12;TS=20240101T101010Z"


def lpr_text(plate=PLATE, port="2304", lane="07"):
    return f"LPR;PORT={port};LANE={lane};TS=20190531T121314Z;PLATE={plate};ST=CA;CONF=93"


def xmp_packet(fields, as_elements=False, prefix="lpr",
               ns="http://example.org/lpr/1.0/"):
    """An XMP packet with fields (dict) as attributes or as elements of
    rdf:Description, in their own namespace."""
    if as_elements:
        body = "".join(f"<{prefix}:{k}>{v}</{prefix}:{k}>" for k, v in fields.items())
        desc = (f'<rdf:Description rdf:about="" xmlns:{prefix}="{ns}">'
                f"{body}</rdf:Description>")
    else:
        attrs = " ".join(f'{prefix}:{k}="{v}"' for k, v in fields.items())
        desc = f'<rdf:Description rdf:about="" xmlns:{prefix}="{ns}" {attrs}/>'
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f"{desc}</rdf:RDF></x:xmpmeta>\n"
            '<?xpacket end="w"?>').encode("utf-8")


LPR_FIELDS = {"PLATE": PLATE, "PORT": "2304", "LANE": "07", "CONF": "93"}
TRAVELER_FIELDS = {"PASSPORT": DOC, "FLIGHT": "UA123", "PORT": "2304"}


# ---- pictures (Pillow) -------------------------------------------------------

def picture(w, h, seed=1, mode="RGB"):
    """A deterministic picture with some structure (not flat)."""
    rnd = random.Random(seed)
    im = Image.new("RGB", (w, h), tuple(rnd.randrange(256) for _ in range(3)))
    d = ImageDraw.Draw(im)
    for _ in range(12):
        x0, y0 = rnd.randrange(w), rnd.randrange(h)
        x1, y1 = x0 + rnd.randrange(1, w), y0 + rnd.randrange(1, h)
        d.rectangle([x0, y0, x1, y1], fill=tuple(rnd.randrange(256) for _ in range(3)))
    return im.convert(mode) if mode != "RGB" else im


def jpeg(w=320, h=240, seed=1, quality=80, **kw):
    b = io.BytesIO()
    picture(w, h, seed).save(b, "JPEG", quality=quality, **kw)
    return b.getvalue()


def png(w=320, h=240, seed=1, mode="RGB", **kw):
    b = io.BytesIO()
    picture(w, h, seed, mode).save(b, "PNG", **kw)
    return b.getvalue()


def tiff(w=320, h=240, seed=1, description=None):
    b = io.BytesIO()
    info = TiffImagePlugin.ImageFileDirectory_v2()
    if description is not None:
        info[270] = description
    picture(w, h, seed).save(b, "TIFF", tiffinfo=info)
    return b.getvalue()


# ---- JPEG segments -----------------------------------------------------------

def com(text):
    return segment(0xFE, text.encode("utf-8") if isinstance(text, str) else text)


def app1_exif(tiff_bytes):
    return segment(0xE1, b"Exif\0\0" + tiff_bytes)


def app1_xmp(packet):
    return segment(0xE1, XMP_ID + packet)


def jpeg_segments(data):
    """(offset, marker, total length) of each segment before SOS."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    out, i = [], 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            break
        m = data[i + 1]
        if m == 0xFF:
            i += 1
            continue
        n = struct.unpack(">H", data[i + 2:i + 4])[0]
        out.append((i, m, n + 2))
        if m == 0xDA:
            break
        i += n + 2
    return out


def jpeg_insert(data, *segs, strip=()):
    """Insert segments after SOI (after APP0 JFIF when present); drop the
    segments for which one of the strip predicates (marker, payload) holds."""
    segs_in = jpeg_segments(data)
    keep, pos = [], 2
    for off, m, n in segs_in:
        if m == 0xDA:
            break
        payload = data[off + 4:off + n]
        if not any(p(m, payload) for p in strip):
            keep.append(data[off:off + n])
        pos = off + n
    rest = data[pos:]
    at = 1 if keep and keep[0][1] == 0xE0 else 0
    return b"\xff\xd8" + b"".join(keep[:at]) + b"".join(segs) + b"".join(keep[at:]) + rest


def is_exif(m, payload):
    return m == 0xE1 and payload.startswith(b"Exif\0\0")


def is_xmp(m, payload):
    return m == 0xE1 and payload.startswith(b"http://ns.adobe.com/xap/1.0/")


# ---- TIFF / Exif structures ------------------------------------------------

ASCII, BYTE, SHORT, LONG, RATIONAL, UNDEFINED = 2, 1, 3, 4, 5, 7
T_DESCRIPTION, T_MAKE, T_MODEL, T_SOFTWARE, T_DATETIME = 0x010E, 0x010F, 0x0110, 0x0131, 0x0132
T_XPCOMMENT, T_EXIF_IFD, T_GPS_IFD, T_USERCOMMENT = 0x9C9C, 0x8769, 0x8825, 0x9286
T_DATETIME_ORIGINAL, T_ORIENTATION = 0x9003, 0x0112


def _value(typ, val, e):
    """(count, bytes) of a tag value."""
    if typ == ASCII:
        raw = val.encode("utf-8") if isinstance(val, str) else bytes(val)
        return len(raw) + 1, raw + b"\0"
    if typ in (BYTE, UNDEFINED):
        return len(val), bytes(val)
    vals = val if isinstance(val, (list, tuple)) else [val]
    if typ == SHORT:
        return len(vals), b"".join(struct.pack(e + "H", v) for v in vals)
    if typ == LONG:
        return len(vals), b"".join(struct.pack(e + "I", v) for v in vals)
    if typ == RATIONAL:
        return len(vals), b"".join(struct.pack(e + "II", *v) for v in vals)
    raise ValueError(typ)


def exif_tiff(ifd0=(), exif=(), gps=(), big_endian=False, loop=False):
    """A TIFF structure (Exif payload without the "Exif\\0\\0" prefix).
    Entries are (tag, type, value).  loop=True makes IFD0's next-IFD offset
    and the Exif IFD pointer point back at IFD0 (a hostile loop)."""
    e = ">" if big_endian else "<"

    def entries(ents, pointers=()):
        out = [(tag, typ) + _value(typ, val, e) for tag, typ, val in ents]
        out += [(tag, LONG, 1, ("ifd", k)) for tag, k in pointers]
        return sorted(out, key=lambda x: x[0])

    ifds, p0 = [None], []
    if exif or loop:
        p0.append((T_EXIF_IFD, 0 if loop else len(ifds)))
    if exif:
        ifds.append((entries(exif), None))
    if gps:
        p0.append((T_GPS_IFD, len(ifds)))
        ifds.append((entries(gps), None))
    ifds[0] = (entries(ifd0, p0), 0 if loop else None)
    return tiff_structure(big_endian, ifds)


def user_comment(text):
    return b"ASCII\0\0\0" + text.encode("ascii")


def xp_text(text):
    return list((text + "\0").encode("utf-16-le"))


CAMERA_IFD0 = [(T_MAKE, ASCII, "Canon"), (T_MODEL, ASCII, "Canon EOS 80D"),
               (T_DATETIME, ASCII, "2019:07:14 15:32:10"), (T_ORIENTATION, SHORT, 1),
               (T_SOFTWARE, ASCII, "Adobe Lightroom 9.2")]
CAMERA_EXIF = [(T_DATETIME_ORIGINAL, ASCII, "2019:07:14 15:32:10")]
CAMERA_GPS = [(0x0000, BYTE, [2, 3, 0, 0]), (0x0001, ASCII, "N"),
              (0x0002, RATIONAL, [(43, 1), (46, 1), (1234, 100)]),
              (0x0003, ASCII, "E"), (0x0004, RATIONAL, [(11, 1), (15, 1), (4321, 100)])]


# ---- carriers: put a text record into an image ---------------------------

JPEG_CARRIERS = ("com", "exif-usercomment", "exif-imagedescription", "exif-make",
                 "exif-model", "exif-software", "exif-xpcomment", "xmp-attr", "xmp-elem")
PNG_CARRIERS = ("png-text", "png-ztxt", "png-itxt", "png-itxt-z", "png-xmp", "png-exif")


def jpeg_with(data, carrier, text, fields=None):
    """data (JPEG bytes) with text in the given carrier.  For XMP carriers
    the record is fields (dict) as attributes/elements; text is ignored."""
    if carrier == "com":
        return jpeg_insert(data, com(text))
    if carrier.startswith("exif-"):
        tag = {"usercomment": None, "imagedescription": T_DESCRIPTION, "make": T_MAKE,
               "model": T_MODEL, "software": T_SOFTWARE, "xpcomment": T_XPCOMMENT}[carrier[5:]]
        if tag is None:
            t = exif_tiff(ifd0=[(T_MAKE, ASCII, "LPRcam")],
                          exif=[(T_USERCOMMENT, UNDEFINED, user_comment(text))])
        elif tag == T_XPCOMMENT:
            t = exif_tiff(ifd0=[(T_XPCOMMENT, BYTE, xp_text(text))])
        else:
            t = exif_tiff(ifd0=[(tag, ASCII, text)])
        return jpeg_insert(data, app1_exif(t), strip=(is_exif,))
    if carrier in ("xmp-attr", "xmp-elem"):
        pkt = xmp_packet(fields, as_elements=carrier == "xmp-elem")
        return jpeg_insert(data, app1_xmp(pkt), strip=(is_xmp,))
    raise ValueError(carrier)


def text_chunk(key, text):
    return png_chunk(b"tEXt", key.encode("latin-1") + b"\0" + text.encode("latin-1"))


def ztxt_chunk(key, text):
    return png_chunk(b"zTXt", key.encode("latin-1") + b"\0\0" + zlib.compress(text.encode("latin-1")))


def itxt_chunk(key, text, compressed=False, lang="en", tkey=""):
    raw = text.encode("utf-8") if isinstance(text, str) else text
    body = zlib.compress(raw) if compressed else raw
    return png_chunk(b"iTXt", key.encode("latin-1") + b"\0" + bytes([int(compressed), 0]) +
                     lang.encode() + b"\0" + tkey.encode("utf-8") + b"\0" + body)


def png_with(data, carrier, text, fields=None, after_idat=False):
    if carrier == "png-text":
        c = text_chunk("Comment", text)
    elif carrier == "png-ztxt":
        c = ztxt_chunk("Comment", text)
    elif carrier == "png-itxt":
        c = itxt_chunk("Description", text)
    elif carrier == "png-itxt-z":
        c = itxt_chunk("Description", text, compressed=True)
    elif carrier == "png-xmp":
        c = itxt_chunk("XML:com.adobe.xmp", xmp_packet(fields), lang="")
    elif carrier == "png-exif":
        c = png_chunk(b"eXIf", exif_tiff(ifd0=[(T_DESCRIPTION, ASCII, text)]))
    else:
        raise ValueError(carrier)
    return png_insert(data, c, after_idat=after_idat)


def to_png(jpeg_bytes):
    """A JPEG re-encoded as PNG (no metadata)."""
    b = io.BytesIO()
    Image.open(io.BytesIO(jpeg_bytes)).convert("RGB").save(b, "PNG", optimize=False)
    return b.getvalue()


def with_record(img, carrier, text, fields=None):
    """img (JPEG or PNG bytes) carrying text in carrier (see JPEG_CARRIERS,
    PNG_CARRIERS).  A JPEG asked for a PNG carrier is converted first."""
    if carrier in JPEG_CARRIERS:
        return jpeg_with(img, carrier, text, fields)
    if img[:2] == b"\xff\xd8":
        img = to_png(img)
    return png_with(img, carrier, text, fields)


def jp2_with_xml(jp2, xml):
    """Insert an "xml " box right after the jp2h header box."""
    for t, off, n in jp2_boxes(jp2):
        if t == b"jp2h":
            return jp2[:off + n] + jp2_box(b"xml ", xml) + jp2[off + n:]
    raise ValueError("no jp2h box")


def testdata_jp2():
    return (testdata() / "biometric" / "jp2" / "img.jp2").read_bytes()


# ---- biometric records ------------------------------------------------------

def iso19794_5_010(img, w=480, h=640, img_type=0, points=(), gender=2, eye=3,
                   hair=4, length=None):
    """ISO/IEC 19794-5:2005 record, one face.  length overrides the header's
    record length (hostile cases)."""
    facial_len = 20 + 8 * len(points) + 12 + len(img)
    facial = struct.pack(">IHBBB", facial_len, len(points), gender, eye, hair)
    facial += b"\x00\x00\x01" + struct.pack(">H", 1) + b"\0\0\0" + b"\0\0\0"
    pts = b"".join(struct.pack(">BBHHH", 1, c, x, y, 0) for c, x, y in points)
    info = struct.pack(">BBHHBBHH", 1, img_type, w, h, 1, 2, 0, 0)
    rec_len = 14 + facial_len
    head = b"FAC\x00010\x00" + struct.pack(">IH", rec_len if length is None else length, 1)
    return head + facial + pts + info + img


def iso19794_5_030(img, w=480, h=640, img_type=0, quality=((80, 0x0101, 1),)):
    """ISO/IEC 19794-5:2011 record, one representation."""
    q = b"".join(struct.pack(">BHH", *x) for x in quality)
    rep_len = 19 + len(q) + 17 + 11 + 4 + len(img)
    rep = struct.pack(">I", rep_len)
    rep += struct.pack(">HBBBBBH", 2024, 1, 15, 10, 30, 0, 0)      # capture date-time
    rep += struct.pack(">BHHB", 2, 0, 0, len(quality)) + q          # tech, vendor, type, quality
    rep += struct.pack(">HBBBB", 0, 1, 3, 4, 0) + b"\0\0\x01" + struct.pack(">H", 1) + b"\0" * 6
    rep += struct.pack(">BBHHBHBB", 1, img_type, w, h, 0, 0, 0, 1)
    rep += struct.pack(">I", len(img)) + img
    assert len(rep) == rep_len
    return b"FAC\x00030\x00" + struct.pack(">IHBH", 17 + rep_len, 1, 0, 0) + rep


def tagged_record(rtype, fields, len_override=None):
    """A tagged ANSI/NIST record: fields is [(field number, bytes)] without
    field 001; LEN (counted from the first tag digit to the FS) is computed."""
    assert fields, "a tagged record has fields after LEN"
    body = GS.join(f"{rtype}.{num:03d}:".encode() + v for num, v in fields)
    return tagged(f"{rtype}.001:".encode(), body, len_override)


def an2_transaction(img, w=480, h=640, cga=b"JPEGB", type10_len=None, date=b"20240101"):
    """Type-1 + Type-10 transaction as in formats.md §4.4."""
    t1 = tagged_record(1, [(2, b"0400"), (3, b"1" + US + b"1" + RS + b"10" + US + b"01"),
                           (4, b"CAR"), (5, date), (7, b"DAI000000"), (8, b"ORI000000"),
                           (9, b"TCN0001"), (11, b"00.00"), (12, b"00.00")])
    t10 = tagged_record(10, [(2, b"01"), (3, b"FACE"), (4, b"AGENCY01"), (5, date),
                             (6, str(w).encode()), (7, str(h).encode()), (8, b"0"),
                             (9, b"1"), (10, b"1"), (11, cga), (12, b"YCC"), (20, b"F"),
                             (999, img)], len_override=type10_len)
    return t1 + t10


def embed(record, offset=1001, tail=4096, seed=7):
    """record at byte offset inside random bytes."""
    rnd = random.Random(seed)
    return rnd.randbytes(offset) + record + rnd.randbytes(tail)


def db_dump(record, seed=11):
    """A fake SQL dump with the record as a raw blob; returns (bytes, offset)."""
    rnd = random.Random(seed)
    head = b"-- PostgreSQL database dump\n-- Dumped by pg_dump version 12.4\n\n"
    head += b"COPY public.crossings (id, port, ts, doc, photo) FROM stdin;\n"
    rows = b""
    for i in range(20):
        rows += (f"{1000 + i}\t2304\t2019-05-31 12:{i:02d}:00\t"
                 f"{rnd.randrange(10**8):08d}\t\\\\x".encode() + rnd.randbytes(40).hex().encode() + b"\n")
    pre = head + rows + b"1020\t2304\t2019-05-31 12:21:00\tX12345678\t"
    if len(pre) % 2 == 0:
        pre += b" "                       # keep the record at an odd offset
    return pre + record + b"\n\\.\n", len(pre)


# ---- hostile files ----------------------------------------------------------

def jpeg_truncated_com(text=LPR_TEXT):
    """JPEG cut short: the entropy data ends early and the COM segment that
    follows declares more bytes than the file has (record text inside)."""
    j = jpeg(160, 120, seed=3)
    sos = [s for s in jpeg_segments(j) if s[1] == 0xDA][0]
    cut = sos[0] + sos[2] + (len(j) - sos[0] - sos[2]) // 2
    rec = text.encode()
    return j[:cut] + b"\xff\xfe" + struct.pack(">H", len(rec) + 2 + 500) + rec


def jpeg_exif_loop(with_record=False):
    ifd0 = [(T_MAKE, ASCII, "LoopCam")]
    if with_record:
        ifd0.append((T_DESCRIPTION, ASCII, LPR_TEXT))
    return jpeg_insert(jpeg(160, 120, seed=4), app1_exif(exif_tiff(ifd0=ifd0, loop=True)))


def png_bad_length():
    """A PNG whose second chunk declares 0xFFFFFFFF data bytes."""
    p = png(64, 48, seed=5)
    ihdr_end = 8 + 12 + 13
    bad = struct.pack(">I", 0xFFFFFFFF) + b"tEXt" + b"Comment\0" + LPR_TEXT.encode()
    return p[:ihdr_end] + bad


def iso_bad_length():
    return iso19794_5_010(jpeg(480, 640, seed=6), length=0xFFFFFFFF)


def an2_len_past_end():
    return an2_transaction(jpeg(480, 640, seed=7), type10_len=999999)


# ---- archives -----------------------------------------------------------------

FIXED_MTIME = (2019, 5, 31, 12, 13, 14)


def make_zip(members, path=None):
    """members: [(name, bytes)].  Returns bytes (and writes path if given)."""
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name, FIXED_MTIME), data, zipfile.ZIP_DEFLATED)
    if path:
        Path(path).write_bytes(b.getvalue())
    return b.getvalue()


def make_tar(members, mode="w:gz", path=None):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode=mode) as t:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime, ti.mode = len(data), 1559304794, 0o644
            t.addfile(ti, io.BytesIO(data))
    if path:
        Path(path).write_bytes(b.getvalue())
    return b.getvalue()


def make_gz(name, data, path=None):
    b = io.BytesIO()
    with gzip.GzipFile(filename=name, mode="wb", fileobj=b, mtime=1559304794) as g:
        g.write(data)
    if path:
        Path(path).write_bytes(b.getvalue())
    return b.getvalue()


def have_7z():
    return shutil.which("7z") is not None


def make_7z(members, path):
    """Needs the 7z command; members written to a temp dir first."""
    import tempfile
    path = Path(path).resolve()
    with tempfile.TemporaryDirectory() as d:
        for name, data in members:
            p = Path(d, name)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        subprocess.run(["7z", "a", "-bd", "-y", str(path)] + [n for n, _ in members],
                       cwd=d, check=True, stdout=subprocess.DEVNULL)
    return path.read_bytes()


# Traditional PKWARE ("ZipCrypto") encryption, for when zip(1) is missing.
def _crc_table():
    t = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        t.append(c)
    return t


_CRC = _crc_table()


def _zipcrypto(data, password, check_byte, seed=3):
    k = [0x12345678, 0x23456789, 0x34567890]

    def update(c):
        k[0] = (k[0] >> 8) ^ _CRC[(k[0] ^ c) & 0xFF]
        k[1] = ((k[1] + (k[0] & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        k[2] = (k[2] >> 8) ^ _CRC[(k[2] ^ (k[1] >> 24)) & 0xFF]

    for c in password:
        update(c)
    out = bytearray()
    header = random.Random(seed).randbytes(11) + bytes([check_byte])
    for c in header + data:
        t = (k[2] | 2) & 0xFFFF
        out.append(c ^ (((t * (t ^ 1)) >> 8) & 0xFF))
        update(c)
    return bytes(out)


def make_encrypted_zip(members, path, password=b"secret"):
    """An encrypted zip: with `zip -P` when available, else ZipCrypto here."""
    path = Path(path).resolve()
    if shutil.which("zip"):
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            for name, data in members:
                p = Path(d, name)
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(data)
            if path.exists():
                path.unlink()
            subprocess.run(["zip", "-q", "-X", "-P", password.decode(), str(path)] +
                           [n for n, _ in members], cwd=d, check=True)
        return path.read_bytes()
    out, central = b"", b""
    for name, data in members:
        crc = zlib.crc32(data)
        comp = zlib.compressobj(9, zlib.DEFLATED, -15)
        deflated = comp.compress(data) + comp.flush()
        enc = _zipcrypto(deflated, password, crc >> 24)
        nm = name.encode()
        dostime, dosdate = (12 << 11) | (13 << 5) | 7, ((2019 - 1980) << 9) | (5 << 5) | 31
        local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 1, 8, dostime, dosdate, crc,
                            len(enc), len(data), len(nm), 0) + nm
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 1, 8, dostime,
                               dosdate, crc, len(enc), len(data), len(nm), 0, 0, 0, 0,
                               0o644 << 16, len(out)) + nm
        out += local + enc
    out += central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members),
                                 len(central), len(out), 0)
    path.write_bytes(out)
    return out


# ---- the demo tree ---------------------------------------------------------------

def write(path, data, mtime=None):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def sample_tree(root):
    """A small contractor host: what `make demo` scans."""
    root = Path(root)
    if root.exists():
        shutil.rmtree(root)
    plates = ["7ABC123", "8XYZ456", "5KLM789", "6PQR012"]
    lane = [(f"lane07/LPR_2304_07_20190531T1213{10 + i}_{p}.jpg",
             jpeg_with(jpeg(640, 480, seed=20 + i), "com", lpr_text(p)))
            for i, p in enumerate(plates)]
    make_zip(lane, write(root / "exports" / "lpr_2019-05.zip", b""))
    write(root / "exports" / "README.txt",
          b"Monthly LPR export for the analytics contract. Delete after 30 days.\n")
    face = iso19794_5_010(jpeg(480, 640, seed=30))
    dump, _ = db_dump(face)
    write(root / "var" / "backups" / "crossings-2019-05-31.sql", dump)
    write(root / "var" / "spool" / "nist" / "T0001.an2", an2_transaction(jpeg(480, 640, seed=31)))
    for i in range(3):
        t = exif_tiff(ifd0=CAMERA_IFD0, exif=CAMERA_EXIF, gps=CAMERA_GPS)
        write(root / "home" / "alice" / "Pictures" / "holiday" / f"IMG_{2041 + i}.jpg",
              jpeg_insert(jpeg(800, 600, seed=40 + i), app1_exif(t)))
    write(root / "home" / "alice" / "Pictures" / "my_plate_photo.jpg", jpeg(640, 480, seed=45))
    write(root / "home" / "alice" / "Desktop" / "screenshot.png",
          png_insert(png(1366, 768, seed=46), text_chunk("Software", "gnome-screenshot")))
    write(root / "home" / "alice" / "secure" / "notes.txt", b"nothing to see\n")
    make_encrypted_zip([("lane07/LPR_2304_07_20190531T121400_9DEF345.jpg",
                         jpeg_with(jpeg(640, 480, seed=47), "com", lpr_text("9DEF345")))],
                       root / "home" / "alice" / "secure" / "old_exports.zip")
    log = "".join(f"2019-05-31T12:{m:02d}:00Z lprd[311]: read LPR;PORT=2304;LANE=07;PLATE={p}\n"
                  for m, p in enumerate(plates))
    write(root / "var" / "log" / "lpr" / "gateway.log", log.encode())
    write(root / "srv" / "app" / "crops" / "crop_0001.jpg", jpeg(400, 100, seed=48))
    return root


def bench_images(root, count):
    """count generated images for the benchmark: camera photos with EXIF
    and GPS, screenshots, plate crops, and one in ten carrying an LPR or
    traveler record in a rotating carrier; plus a few biometric records."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    carriers = ["com", "exif-usercomment", "exif-imagedescription", "xmp-attr",
                "png-text", "png-ztxt", "png-itxt"]
    camera = exif_tiff(ifd0=CAMERA_IFD0, exif=CAMERA_EXIF, gps=CAMERA_GPS)
    for i in range(count):
        kind = i % 10
        if kind == 0:
            c = carriers[(i // 10) % len(carriers)]
            data = with_record(jpeg(640, 480, seed=i), c, lpr_text(f"{i % 10000:04d}ABC"),
                               fields={"PLATE": "7ABC123", "PORT": "2304"})
            name = f"lpr_{i:05d}.{'png' if c.startswith('png') else 'jpg'}"
        elif kind == 1:
            data, name = jpeg(400, 100, seed=i), f"crop_{i:05d}.jpg"
        elif kind in (2, 3):
            data, name = png(1024, 640, seed=i), f"screen_{i:05d}.png"
        elif kind == 4 and i % 100 == 4:
            data, name = iso19794_5_010(jpeg(480, 640, seed=i)), f"face_{i:05d}.bin"
        else:
            data = jpeg_insert(jpeg(1024, 768, seed=i), app1_exif(camera))
            name = f"IMG_{i:05d}.jpg"
        write(root / f"d{i // 500:02d}" / name, data)
    return root


def main(argv):
    if len(argv) == 5 and argv[1] == "--bench-images" and argv[3] == "--count":
        bench_images(argv[2], int(argv[4]))
        return 0
    if len(argv) == 3 and argv[1] == "--sample-tree":
        root = sample_tree(argv[2])
        n = sum(1 for p in root.rglob("*") if p.is_file())
        print(f"sample tree: {n} files under {root}")
        return 0
    print(f"usage: {argv[0]} --sample-tree DIR | --bench-images DIR --count N",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
