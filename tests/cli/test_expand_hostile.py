"""Archives crafted the way a hostile user of a scanned host would (issue 7,
section 2): libarchive's warnings are records, an archive cut short says
what it did not read, member names do not depend on the caller's locale,
sparse members come out whole, records about one archive are capped, and
compression nested past the layer limit is a limit.  Every archive is built
here, byte by byte where the Python modules would refuse to write it."""

import gzip
import io
import os
import re
import struct
import subprocess
import tarfile
import zlib
from pathlib import Path

import pytest

from cbptest import fixtures as F
from conftest import LPR, REPO, scan, sha256

LPR_JPG = F.jpeg_with(F.jpeg(320, 240, seed=70), "com", F.LPR_TEXT)
PLAIN = F.jpeg(320, 240, seed=71)
LIMITS_H = (REPO / "include" / "cbp_limits.h").read_text()
PROBLEM_CAP = int(re.search(r"^#define CBP_ARCHIVE_PROBLEMS (\d+)", LIMITS_H, re.M).group(1))
REST = "rest of the archive"


# ---- builders ---------------------------------------------------------------

def raw_zip(entries):
    """A zip written field by field (APPNOTE 4.3.7, 4.3.12, 4.3.16), so that
    a header can lie: each entry is a dict with name and data, and optional
    method (0 stored, 8 deflated), crc, usize (declared uncompressed size),
    csize, flags (1: encrypted).  Local header and central directory say
    the same."""
    out, cd, off = [], [], 0
    for e in entries:
        name = e["name"].encode() if isinstance(e["name"], str) else e["name"]
        data, method = e["data"], e.get("method", 0)
        if method == 8:
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            body = c.compress(data) + c.flush()
        else:
            body = data
        crc = e.get("crc", zlib.crc32(data))
        usize, csize = e.get("usize", len(data)), e.get("csize", len(body))
        flags = e.get("flags", 0) | (0x800 if any(b > 0x7F for b in name) else 0)  # UTF-8 names
        local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, method, 0, 0x4EBF,
                            crc, csize, usize, len(name), 0) + name + body
        cd.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, flags, method, 0,
                              0x4EBF, crc, csize, usize, len(name), 0, 0, 0, 0, 0, off) + name)
        out.append(local)
        off += len(local)
    cd = b"".join(cd)
    return b"".join(out) + cd + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries),
                                            len(entries), len(cd), off, 0)


def crc16(data, crc=0):
    """CRC-16/ARC, LHA's header and data checksum."""
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def lha_level2(members):
    """An LHA archive of level-2 headers, method -lh0- (stored), as
    libarchive's lha reader parses them: 24 fixed bytes, then extended
    headers (size, type, data) ending in a zero size, the header CRC in
    extended header 0x00.  members: [([(type, bytes)], data)]."""
    out = b""
    for exts, data in members:
        ext = struct.pack("<HBHB", 6, 0x00, 0, 0)         # header CRC, filled below
        ext += b"".join(struct.pack("<HB", len(d) + 3, t) + d for t, d in exts)
        ext += b"\x00\x00"
        hdr = struct.pack("<H5sIIIBBHB", 24 + len(ext), b"-lh0-", len(data), len(data),
                          1559304794, 0x20, 2, crc16(data), ord("U")) + ext
        hdr = hdr[:27] + struct.pack("<H", crc16(hdr)) + hdr[29:]
        out += hdr + data
    return out + b"\x00"


def lha_cp932(name, data):
    """A member whose name is Shift-JIS, with the code page (0x46) saying so."""
    return [(0x46, struct.pack("<I", 932)), (0x01, name.encode("cp932"))], data


def lha_utf16(name, data):
    """A member whose name is in the UTF-16 file name header (0x44)."""
    return [(0x44, name.encode("utf-16-le"))], data


def tar_bytes(members, fmt=tarfile.PAX_FORMAT):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=fmt) as t:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime, ti.mode = len(data), 1559304794, 0o644
            t.addfile(ti, io.BytesIO(data))
    return b.getvalue()


def problems_of(res, path):
    return [(tuple(p["member"]), p["reason"], p["detail"]) for p in res.under(path, "unscannable")]


# ---- libarchive warnings ------------------------------------------------------

def test_zip_bad_crc_is_a_corrupt_member_still_scanned(tmp_path):
    """A member whose CRC does not match (stored or deflated) is reported
    corrupt, by name, and its bytes are still scanned: the CRC is the
    only thing wrong with them."""
    z = tmp_path / "crc.zip"
    z.write_bytes(raw_zip([dict(name="lane07/stored.jpg", data=LPR_JPG, crc=1),
                           dict(name="lane07/deflated.jpg", data=LPR_JPG, crc=2, method=8),
                           dict(name="lane07/good.jpg", data=LPR_JPG, method=8)]))
    res = scan(tmp_path)
    probs = problems_of(res, z)
    assert sorted((m, r) for m, r, _ in probs) == [
        (("lane07/deflated.jpg",), "corrupt"), (("lane07/stored.jpg",), "corrupt")], res
    assert all("CRC" in d for _, _, d in probs), probs
    for m in ("lane07/stored.jpg", "lane07/deflated.jpg", "lane07/good.jpg"):
        assert res.rules(z, [m]) == {LPR}, (m, res)
        (f,) = res.at(z, [m])
        assert (f["size"], f["sha256"]) == (len(LPR_JPG), sha256(LPR_JPG)), f


@pytest.mark.parametrize("method", [0, 8], ids=["stored", "deflated"])
def test_zip_member_longer_than_declared(tmp_path, method):
    """A member whose header declares 10 bytes but holds the whole JPEG
    (libarchive's size_exceeds_declared case): the real bytes are scanned,
    as bsdtar extracts them, and the member is reported corrupt.  Stored,
    the member used to come out as 0 bytes with no record."""
    z = tmp_path / "liar.zip"
    z.write_bytes(raw_zip([dict(name="first.jpg", data=LPR_JPG, usize=10, method=method),
                           dict(name="second.jpg", data=PLAIN, method=method)]))
    res = scan(tmp_path)
    assert [(m, r) for m, r, _ in problems_of(res, z)] == [(("first.jpg",), "corrupt")], res
    assert "wrong size" in problems_of(res, z)[0][2], res
    assert "\n" not in problems_of(res, z)[0][2]
    (f,) = res.at(z, ["first.jpg"])
    assert (f["rule"], f["size"], f["sha256"]) == (LPR[0], len(LPR_JPG), sha256(LPR_JPG)), f
    assert res.summary["members"] == 2


# ---- the rest of an archive after a fatal error ------------------------------

def test_truncated_member_data_names_member_and_the_rest(tmp_path):
    """A tar cut inside its second member: the first is scanned, the
    second's readable start too, and one record names the second member and
    says the rest of the archive was not read."""
    t = tar_bytes([("lane07/0001.jpg", LPR_JPG), ("lane07/0002.jpg", LPR_JPG),
                   ("lane07/0003.jpg", LPR_JPG)])
    cut = 512 + 11 * 512 + 512 + 3000          # header 1, data 1 (5310 -> 11 blocks), header 2, 3000 bytes
    assert len(LPR_JPG) <= 11 * 512
    p = tmp_path / "cut.tar"
    p.write_bytes(t[:cut])
    res = scan(tmp_path)
    assert res.rules(p, ["lane07/0001.jpg"]) == {LPR}, res
    ((m, reason, detail),) = problems_of(res, p)
    assert (m, reason) == (("lane07/0002.jpg",), "corrupt"), res
    assert REST in detail and "not read" in detail, detail


def test_cut_tar_gz_names_member_and_the_rest(tmp_path):
    """A tar.gz cut short: the gzip damage is reported once, on the member
    it cut, saying the rest of the archive was not read; that member's
    readable start is scanned, and is not also called "larger than" a
    limit (it is not)."""
    face = F.iso19794_5_010(F.jpeg(480, 640, seed=72))
    t = F.make_tar([("lane07/0001.jpg", LPR_JPG), ("faces/face.bin", face),
                    ("lane07/0003.jpg", LPR_JPG)], "w:gz")
    p = tmp_path / "cut.tar.gz"
    p.write_bytes(t[:len(t) * 2 // 3])
    res = scan(tmp_path)
    assert res.rules(p, ["lane07/0001.jpg"]) == {LPR}, res
    top = [(m, r, d) for m, r, d in problems_of(res, p) if len(m) == 1]
    assert [(m, r) for m, r, _ in top] == [(("faces/face.bin",), "corrupt")], res
    assert REST in top[0][2] and "gzip" in top[0][2], top
    assert not [d for _, _, d in problems_of(res, p) if "larger than" in d], res


def test_broken_header_after_members_names_last_member(tmp_path):
    """An LHA archive whose third header is damaged: the two members before
    it are scanned, and the record says after which member the rest was not
    read."""
    good = lha_level2([lha_utf16("a.jpg", LPR_JPG), lha_utf16("b.jpg", PLAIN)])[:-1]
    bad = bytearray(lha_level2([lha_utf16("c.jpg", LPR_JPG)]))
    bad[30] ^= 0xFF                             # inside the extended headers: header CRC fails
    p = tmp_path / "broken.lzh"
    p.write_bytes(good + bytes(bad))
    res = scan(tmp_path)
    assert res.rules(p, ["a.jpg"]) == {LPR}, res
    ((m, reason, detail),) = problems_of(res, p)
    assert (m, reason) == ((), "corrupt"), res
    assert 'after member "b.jpg"' in detail and REST in detail, detail


# ---- locale --------------------------------------------------------------------

ENVS = {"unset": {"LANG": "", "LC_ALL": ""}, "C": {"LC_ALL": "C"},
        "utf8": {"LC_ALL": "C.UTF-8"}, "latin1": {"LC_ALL": "en_US.ISO-8859-1", "LANG": "C"}}


def env_with(extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LC_") and k != "LANG"}
    env.update(extra)
    return env


def test_member_names_do_not_depend_on_the_callers_locale(tmp_path):
    """UTF-8 member names (zip with the UTF-8 flag, pax tar) and LHA names in
    CP932 and UTF-16 come out intact whatever LANG and LC_ALL say -- cron
    runs with them unset.  They used to come out as "?", and the LHA
    archive was called corrupt with none of its members scanned."""
    names = {
        "utf8.zip": ["Straße/車線07.jpg", "ÜÖ/plain.jpg"],
        "pax.tar": ["Straße/車線07.jpg", "ÜÖ/plain.jpg"],
        "names.lzh": ["漢字/車線07.jpg", "テスト/ÜÖ.jpg"],
    }
    (tmp_path / "utf8.zip").write_bytes(raw_zip([dict(name=n, data=LPR_JPG) for n in names["utf8.zip"]]))
    (tmp_path / "pax.tar").write_bytes(tar_bytes([(n, LPR_JPG) for n in names["pax.tar"]]))
    (tmp_path / "names.lzh").write_bytes(lha_level2([lha_cp932(names["names.lzh"][0], LPR_JPG),
                                                     lha_utf16(names["names.lzh"][1], LPR_JPG)]))
    seen = {}
    for label, extra in ENVS.items():
        res = scan(tmp_path, env=env_with(extra))
        assert not res.problems, (label, res)
        seen[label] = sorted((Path(f["path"]).name, tuple(f["member"]), f["sha256"])
                             for f in res.findings)
    want = sorted((a, (n,), sha256(LPR_JPG)) for a, ns in names.items() for n in ns)
    assert seen["unset"] == want, seen["unset"]
    assert all(v == want for v in seen.values()), seen


# ---- sparse members ------------------------------------------------------------

@pytest.mark.parametrize("where", ["top", "nested"])
def test_sparse_member_comes_out_whole(tmp_path, where):
    """A GNU sparse tar member -- data, a hole, data, a trailing hole -- is
    delivered with its holes as zeros and its full length: size and sha256
    are those of the file that was archived.  Nested, the tar is read from
    memory, where the first block is taken without a copy and the hole
    after it makes it a copy."""
    src = tmp_path / "src"
    src.mkdir()
    body = LPR_JPG + bytes(300 * 1024) + b"tail data" + bytes(200 * 1024)
    with open(src / "lane.jpg", "wb") as fp:
        fp.write(LPR_JPG)
        fp.seek(len(LPR_JPG) + 300 * 1024)
        fp.write(b"tail data")
        fp.truncate(len(body))
    out = tmp_path / "scan"
    out.mkdir()
    subprocess.run(["tar", "-cSf", str(tmp_path / "sparse.tar"), "-C", str(src), "lane.jpg"],
                   check=True)
    sparse = (tmp_path / "sparse.tar").read_bytes()
    assert len(sparse) < len(body) // 2      # really sparse
    if where == "top":
        p, chain = out / "sparse.tar", ["lane.jpg"]
        p.write_bytes(sparse)
    else:
        p, chain = out / "backup.tar.gz", ["old/sparse.tar", "lane.jpg"]
        F.make_tar([("old/sparse.tar", sparse)], "w:gz", p)
    res = scan(out)
    (f,) = res.at(p, chain)
    assert (f["rule"], f["size"], f["sha256"]) == (LPR[0], len(body), sha256(body)), f
    assert not res.problems, res


def test_members_of_archives_in_memory(tmp_path):
    """Members of an archive that is itself a member (read from memory):
    stored ones are taken from that memory without a copy, compressed ones
    are copied; both come out byte for byte."""
    big = LPR_JPG + random_bytes(3 * 1024 * 1024 + 17)    # a JPEG with a long tail
    members = [("lane07/0001.jpg", LPR_JPG), ("big.bin", big), ("plain.jpg", PLAIN)]
    inner_tar = tar_bytes(members)
    inner_zip = raw_zip([dict(name=n, data=d, method=m) for (n, d), m in zip(members, (0, 8, 0))])
    F.make_tar([("x/inner.tar", inner_tar), ("x/inner.zip", inner_zip)], "w:gz", tmp_path / "b.tgz")
    (tmp_path / "z.zip").write_bytes(raw_zip([dict(name="inner.tar", data=inner_tar)]))
    res = scan(tmp_path)
    assert not res.problems, res
    for p, chain in ((tmp_path / "b.tgz", ["x/inner.tar"]), (tmp_path / "b.tgz", ["x/inner.zip"]),
                     (tmp_path / "z.zip", ["inner.tar"])):
        for name, data in (("lane07/0001.jpg", LPR_JPG), ("big.bin", big)):
            (f,) = res.at(p, chain + [name])
            assert (f["size"], f["sha256"]) == (len(data), sha256(data)), f
    assert res.summary["members"] == 2 + 3 + 3 + 1 + 3


def random_bytes(n, seed=5):
    import random
    return random.Random(seed).randbytes(n)


# ---- records per archive --------------------------------------------------------

MANY = {
    # What a hostile archive repeats: libarchive's warnings, members it
    # cannot decrypt, members that are damaged images (the scan's records).
    "bad-crc": lambda i: dict(name=f"m{i:05}.txt", data=b"x%d\n" % i, crc=0),
    "encrypted": lambda i: dict(name=f"m{i:05}.jpg", data=b"\0" * 12 + LPR_JPG, flags=1),
    "corrupt-image": lambda i: dict(name=f"m{i:05}.png", data=BAD_PNG),
}
BAD_PNG = F.png_bad_length()


@pytest.mark.parametrize("kind", list(MANY))
def test_problem_records_per_archive_are_capped(tmp_path, kind):
    """A zip of 3 x CBP_ARCHIVE_PROBLEMS members that each give a record:
    CBP_ARCHIVE_PROBLEMS records, then one saying how many more there were
    (one 103-byte RAR5 used to give 100,001 records)."""
    n = PROBLEM_CAP * 3
    z = tmp_path / "many.zip"
    z.write_bytes(raw_zip([MANY[kind](i) for i in range(n)]))
    res = scan(tmp_path)
    probs = problems_of(res, z)
    assert len(probs) == PROBLEM_CAP + 1, (len(probs), probs[:2])
    assert all(len(m) == 1 for m, _, _ in probs[:-1]), probs[:3]
    m, r, d = probs[-1]
    assert (m, r) == ((), "limit"), probs[-1]
    assert d.startswith(f"{n - PROBLEM_CAP} more unscannable records"), d
    assert str(PROBLEM_CAP) in d, d
    assert res.summary["unscannable"] == PROBLEM_CAP + 1
    if kind != "encrypted":                     # those are not scanned members
        assert res.summary["members"] == n


def test_problem_cap_is_shared_by_nested_archives(tmp_path):
    """The cap counts every level of one top-level archive: two zips of
    0.6 x CBP_ARCHIVE_PROBLEMS encrypted members inside a tar.gz make one
    list of CBP_ARCHIVE_PROBLEMS records plus one count record, about the
    tar.gz; another archive beside it starts its own count."""
    per = PROBLEM_CAP * 6 // 10
    inner = raw_zip([MANY["encrypted"](i) for i in range(per)])
    F.make_tar([("a.zip", inner), ("b.zip", inner)], "w:gz", tmp_path / "outer.tar.gz")
    (tmp_path / "small.zip").write_bytes(raw_zip([MANY["encrypted"](0)]))
    res = scan(tmp_path)
    probs = problems_of(res, tmp_path / "outer.tar.gz")
    assert len(probs) == PROBLEM_CAP + 1, len(probs)
    assert probs[-1][:2] == ((), "limit"), probs[-1]
    assert probs[-1][2].startswith(f"{2 * per - PROBLEM_CAP} more"), probs[-1]
    assert [(m, r) for m, r, _ in problems_of(res, tmp_path / "small.zip")] == [(("m00000.jpg",), "encrypted")]


# ---- nested compression ------------------------------------------------------------

def test_compression_nested_past_the_layer_limit_is_a_limit(tmp_path):
    """100 gzip layers: libarchive stacks at most 25 filters.  That is a
    limit the scan hit (reason limit, naming the layer limit), not damage."""
    data = LPR_JPG
    for _ in range(100):
        data = gzip.compress(data, mtime=0)
    (tmp_path / "deep.jpg.gz").write_bytes(data)
    res = scan(tmp_path)
    ((m, reason, detail),) = problems_of(res, tmp_path / "deep.jpg.gz")
    assert (m, reason) == ((), "limit"), res
    assert "layer" in detail and re.search(r"\b2[56]\b", detail), detail


def tar_header_size(tar, at, size):
    """Rewrite the size field of the ustar header at offset `at`, checksum too."""
    h = bytearray(tar[at:at + 512])
    h[124:136] = b"%011o\0" % size
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return tar[:at] + bytes(h) + tar[at + 512:]


def test_size_of_entries_not_scanned_is_not_a_limit(tmp_path):
    """A directory or hard-link entry whose header declares a size with no
    data after it (old tars do; libarchive's compat tests have them) is not
    a member to scan: the size libarchive reports at its end is no "member
    larger than" limit, and no hole to fill."""
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        d = tarfile.TarInfo("lane07")
        d.type, d.mode = tarfile.DIRTYPE, 0o755
        tf.addfile(d)
        f = tarfile.TarInfo("lane07/0001.jpg")
        f.size, f.mode = len(LPR_JPG), 0o644
        tf.addfile(f, io.BytesIO(LPR_JPG))
    p = tmp_path / "old.tar"
    p.write_bytes(tar_header_size(b.getvalue(), 0, 300 * 1024 * 1024))
    res = scan(tmp_path)
    assert not res.problems, res
    assert res.rules(p, ["lane07/0001.jpg"]) == {LPR}, res
