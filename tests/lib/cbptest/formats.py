"""Byte-level builders for the formats cbpscan parses.

Each builder writes what the format's specification says and nothing
more; hostile variants are made by the caller from these pieces.
"""
import struct
import zlib

# ---- JPEG ------------------------------------------------------------------

XMP_ID = b"http://ns.adobe.com/xap/1.0/\0"
XMP_EXT_ID = b"http://ns.adobe.com/xmp/extension/\0"


def segment(marker, payload):
    """One JPEG marker segment: FF marker, length (counting itself), payload."""
    assert len(payload) <= 65533, "segment payload too long"
    return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload


# ---- PNG -------------------------------------------------------------------

PNG_SIG = b"\x89PNG\r\n\x1a\n"


def png_chunk(ctype, data):
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def png_chunks(data):
    """[(type, raw chunk bytes)] of a PNG."""
    assert data[:8] == PNG_SIG, "not a PNG"
    out, i = [], 8
    while i + 8 <= len(data):
        n = struct.unpack(">I", data[i:i + 4])[0]
        out.append((data[i + 4:i + 8], data[i:i + 12 + n]))
        i += 12 + n
    return out


def png_insert(data, *chunks, after_idat=False):
    """Insert chunks after IHDR (or just before IEND)."""
    out = [data[:8]]
    for ctype, raw in png_chunks(data):
        if ctype == b"IEND" and after_idat:
            out.extend(chunks)
        out.append(raw)
        if ctype == b"IHDR" and not after_idat:
            out.extend(chunks)
    return b"".join(out)


# ---- JPEG 2000 -------------------------------------------------------------

def jp2_box(btype, data):
    return struct.pack(">I", len(data) + 8) + btype + data


def jp2_boxes(data):
    """[(type, offset, length)] of the top-level boxes."""
    out, i = [], 0
    while i + 8 <= len(data):
        n, t = struct.unpack(">I4s", data[i:i + 8])
        if n == 0:
            n = len(data) - i
        elif n == 1:
            n = struct.unpack(">Q", data[i + 8:i + 16])[0]
        out.append((t, i, n))
        i += n
    return out


# ---- TIFF / Exif -----------------------------------------------------------

def tiff(be, ifds, big=False):
    """A TIFF structure (classic, or BigTIFF when big).  ifds: list of
    (entries, next_index or None); entries: (tag, type, count, value bytes)
    -- a pointer entry's value ("ifd", k) becomes IFD k's offset.  Values
    longer than the entry's slot go after their IFD, padded to even."""
    o = ">" if be else "<"
    esz, hsz, osz = (20, 8, 8) if big else (12, 2, 4)
    head = 16 if big else 8
    # Sizes first, so offsets are known before writing.
    sizes = []
    for entries, _ in ifds:
        s = hsz + esz * len(entries) + osz
        for e in entries:
            v = e[3]
            if not isinstance(v, tuple) and len(v) > (8 if big else 4):
                s += len(v) + (len(v) & 1)
        sizes.append(s)
    offs = []
    at = head
    for s in sizes:
        offs.append(at)
        at += s
    out = bytearray(b"MM" if be else b"II")
    if big:
        out += struct.pack(o + "HHHQ", 43, 8, 0, offs[0])
    else:
        out += struct.pack(o + "HI", 42, offs[0])
    for k, (entries, nxt) in enumerate(ifds):
        data_at = offs[k] + hsz + esz * len(entries) + osz
        body = bytearray()
        ent = bytearray(struct.pack(o + ("Q" if big else "H"), len(entries)))
        for tag, typ, count, v in entries:
            if isinstance(v, tuple):
                v = struct.pack(o + ("Q" if big else "I"), offs[v[1]])
            ent += struct.pack(o + "HH" + ("Q" if big else "I"), tag, typ, count)
            inl = 8 if big else 4
            if len(v) <= inl:
                ent += v + b"\0" * (inl - len(v))
            else:
                ent += struct.pack(o + ("Q" if big else "I"), data_at + len(body))
                body += v + b"\0" * (len(v) & 1)
        ent += struct.pack(o + ("Q" if big else "I"), offs[nxt] if nxt is not None else 0)
        out += ent + body
    return bytes(out)


# ---- ICAO DG2 / BER-TLV ----------------------------------------------------

def ber_len(n):
    if n < 0x80:
        return bytes([n])
    if n < 0x100:
        return b"\x81" + bytes([n])
    return b"\x82" + struct.pack(">H", n)


def tlv(tag, value):
    return tag + ber_len(len(value)) + value


# ---- ANSI/NIST-ITL ---------------------------------------------------------

GS, FS, RS, US = b"\x1d", b"\x1c", b"\x1e", b"\x1f"


def tagged(tag, body, length=None):
    """<tag><LEN> GS body FS, LEN counting from the first tag digit to the
    FS inclusive (the shortest LEN that counts itself), or length as given
    (hostile cases)."""
    if length is not None:
        return tag + str(length).encode() + GS + body + FS
    for digits in range(1, 12):
        n = len(tag) + digits + 1 + len(body) + 1
        if len(str(n)) == digits:
            return tag + str(n).encode() + GS + body + FS
    raise ValueError("record too long")


# ---- ISO/IEC 19794-5 face records ------------------------------------------

def iso2005_face(img, w, h, img_type=0, points=(), gender=2, eye=3, hair=4,
                 pose=b"\0\0\0", pose_unc=b"\0\0\0", device=0):
    """One 2005 ("010") facial record data block; points: (code, x, y)."""
    fdl = 20 + 8 * len(points) + 12 + len(img)
    out = struct.pack(">IHBBB3sH3s3s", fdl, len(points), gender, eye, hair,
                      b"\x00\x00\x01", 1, pose, pose_unc)
    out += b"".join(struct.pack(">BBHHH", 1, c, x, y, 0) for c, x, y in points)
    out += struct.pack(">BBHHBBHH", 1, img_type, w, h, 1, 2, device, 0)
    return out + img


def iso2005(faces, length=None):
    """A 2005 record of the given data blocks; length overrides the
    header's record length (hostile cases)."""
    body = b"".join(faces)
    return b"FAC\x00010\x00" + struct.pack(
        ">IH", 14 + len(body) if length is None else length, len(faces)) + body


def iso2011_rep(img, w, h, img_type=0, quality=((80, 0x0101, 1),), landmarks=(),
                when=(2024, 1, 15, 10, 30, 0, 0), subject=(1, 3, 4, 0)):
    """One 2011 ("030") representation; quality: (score, vendor, algorithm);
    landmarks: (code, x, y); subject: gender, eye, hair, height bytes."""
    rep = struct.pack(">HBBBBBH", *when)
    rep += struct.pack(">BHHB", 2, 0, 0, len(quality))
    rep += b"".join(struct.pack(">BHH", *q) for q in quality)
    rep += struct.pack(">HBBBB3sH3s3s", len(landmarks), *subject,
                       b"\x00\x00\x01", 1, b"\x00" * 3, b"\x00" * 3)
    rep += b"".join(struct.pack(">BBHHH", 1, c, x, y, 0) for c, x, y in landmarks)
    rep += struct.pack(">BBHHBHBB", 1, img_type, w, h, 0, 0, 0, 1)
    rep += struct.pack(">I", len(img)) + img
    return struct.pack(">I", 4 + len(rep)) + rep


def iso2011(reps):
    body = b"".join(reps)
    return b"FAC\x00030\x00" + struct.pack(">IHBH", 17 + len(body), len(reps), 0, 0) + body
