"""Hostile inputs: the scan finishes, the exit status follows the findings,
and each file yields exactly the expected findings and unscannable records."""

import struct
import zlib

import pytest

from cbptest import fixtures as F
from conftest import AN2, ISO, LPR, scan


def jpeg_bad_segment_length():
    j = F.jpeg(160, 120, seed=80)
    return j[:2] + b"\xff\xfe\x00\x01" + F.LPR_TEXT.encode() + j[2:]


def png_ztxt_bomb():
    """zTXt that inflates to 64 MiB (the record sits past the inflate cap)."""
    z = zlib.compressobj(9)
    body = z.compress(b"\0" * (64 << 20)) + z.compress(F.LPR_TEXT.encode()) + z.flush()
    return F.png_insert(F.png(64, 48, seed=81), F.png_chunk(b"zTXt", b"Comment\0\0" + body))


def iso_many_faces():
    """Header says 65535 faces; the record holds one."""
    r = bytearray(F.iso19794_5_010(F.jpeg(480, 640, seed=82)))
    r[12:14] = struct.pack(">H", 65535)
    return bytes(r)


def an2_cnt_lies():
    """Type-1 1.003 announces 999 records; one Type-10 follows."""
    t = F.an2_transaction(F.jpeg(480, 640, seed=83))
    return t.replace(b"1.003:1\x1f1\x1e", b"1.003:1\x1f999\x1e", 1)


# name -> (bytes, findings {(rule, category, severity)}, unscannable reasons)
HOSTILE = {
    "truncated-com.jpg": (F.jpeg_truncated_com(), set(), ["corrupt"]),
    "exif-ifd-loop.jpg": (F.jpeg_exif_loop(False), set(), ["corrupt"]),
    "exif-ifd-loop-record.jpg": (F.jpeg_exif_loop(True), {LPR}, ["corrupt"]),
    "png-length-ffffffff.png": (F.png_bad_length(), set(), ["corrupt"]),
    # A record whose declared length runs past the end of the file still
    # holds a complete face: reported (truncated records are records) and
    # flagged corrupt.
    "iso-length-ffffffff.bin": (F.iso_bad_length(), {ISO}, ["corrupt"]),
    "an2-len-past-end.an2": (F.an2_len_past_end(), {AN2}, ["corrupt"]),
    "jpeg-segment-length-1.jpg": (jpeg_bad_segment_length(), set(), ["corrupt"]),
    "png-ztxt-bomb.png": (png_ztxt_bomb(), set(), ["limit"]),
    "iso-65535-faces.bin": (iso_many_faces(), set(), ["corrupt"]),
    "an2-cnt-lies.an2": (an2_cnt_lies(), set(), ["corrupt"]),
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    for name, (data, *_r) in HOSTILE.items():
        (root / name).write_bytes(data)
    return root, scan(root, timeout=60)


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_in_tree(hostile, name):
    root, res = hostile
    _, findings, reasons = HOSTILE[name]
    assert res.rules(root / name) == findings
    assert [p["reason"] for p in res.under(root / name, "unscannable")] == reasons
    assert all(p["member"] == [] for p in res.under(root / name, "unscannable"))


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_alone_exit_status(hostile, name):
    root, _ = hostile
    _, findings, reasons = HOSTILE[name]
    res = scan(root / name, timeout=60)
    assert res.rc == (1 if any(s in ("medium", "high", "critical") for _, _, s in findings) else 0)
    assert (res.summary["findings"], res.summary["unscannable"]) == (len(findings), len(reasons))
    strict = scan(root / name, args=["--strict"], timeout=60)
    assert strict.rc == (1 if findings or reasons else 0)
