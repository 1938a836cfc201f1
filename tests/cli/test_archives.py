"""Archives: members found with exact member chains (outermost first),
member identity (size, sha256), encrypted members, single-stream files."""

import io
import subprocess
import zipfile

import pytest

from cbptest import fixtures as F
from conftest import ISO, ISO_EMBEDDED, LPR, LPR_NAME, scan, sha256

LPR_JPG = F.jpeg_with(F.jpeg(320, 240, seed=70), "com", F.LPR_TEXT)
PLAIN = F.jpeg(320, 240, seed=71)
FACE = F.iso19794_5_010(F.jpeg(480, 640, seed=72))
MEMBERS = [("lane07/0001.jpg", LPR_JPG), ("lane07/0002.jpg", PLAIN), ("faces/face.bin", FACE)]
INNER_ZIP = F.make_zip(MEMBERS)

# archive name -> (builder(path), {member chain: (findings, bytes)}, archives, members)
FOUND = {("lane07/0001.jpg",): ({LPR}, LPR_JPG), ("faces/face.bin",): ({ISO}, FACE)}
NESTED = {("exports/2019.zip",) + m: v for m, v in FOUND.items()}
ARCHIVES = {
    "plates.zip": (lambda p: F.make_zip(MEMBERS, p), FOUND, 1, 3),
    "plates.tar.gz": (lambda p: F.make_tar(MEMBERS, "w:gz", p), FOUND, 1, 3),
    "plates.tar": (lambda p: F.make_tar(MEMBERS, "w", p), FOUND, 1, 3),
    "plates.tar.xz": (lambda p: F.make_tar(MEMBERS, "w:xz", p), FOUND, 1, 3),
    "plates.tar.bz2": (lambda p: F.make_tar(MEMBERS, "w:bz2", p), FOUND, 1, 3),
    "backup.tar.gz": (lambda p: F.make_tar([("exports/2019.zip", INNER_ZIP), ("notes.txt", b"hi\n")],
                                           "w:gz", p), NESTED, 2, 5),
    "zip-in-zip.zip": (lambda p: F.make_zip([("exports/2019.zip", INNER_ZIP)], p), NESTED, 2, 4),
    "0001.jpg.gz": (lambda p: F.make_gz("0001.jpg", LPR_JPG, p), {("0001.jpg",): ({LPR}, LPR_JPG)}, 1, 1),
    "no-extension": (lambda p: F.make_zip(MEMBERS, p), FOUND, 1, 3),
    "traversal.zip": (lambda p: F.make_zip([("../../etc/lane.jpg", LPR_JPG), ("/abs/x.jpg", LPR_JPG)], p),
                      {("../../etc/lane.jpg",): ({LPR}, LPR_JPG), ("/abs/x.jpg",): ({LPR}, LPR_JPG)}, 1, 2),
    "plates.7z": (lambda p: F.make_7z(MEMBERS, p) if F.have_7z() else None, FOUND, 1, 3),
}


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    root = tmp_path_factory.mktemp("archives")
    built = {name: b(root / name) for name, (b, *_rest) in ARCHIVES.items()}
    return root, built, scan(root)


@pytest.mark.parametrize("name", list(ARCHIVES))
def test_members_found(archives, name):
    root, built, res = archives
    if built[name] is None:
        pytest.skip("7z not installed")
    _, want, _, _ = ARCHIVES[name]
    got = {}
    for f in res.under(root / name):
        got.setdefault(tuple(f["member"]), set()).add((f["rule"], f["category"], f["severity"]))
    assert got == {m: rules for m, (rules, _) in want.items()}
    for f in res.under(root / name):
        data = want[tuple(f["member"])][1]
        assert (f["size"], f["sha256"]) == (len(data), sha256(data)), f
    assert not res.under(root / name, "unscannable")


def test_archive_counts(archives):
    root, built, res = archives
    made = [n for n in ARCHIVES if built[n] is not None]
    s = res.summary
    assert (s["files"], s["archives"], s["members"]) == (
        len(made), sum(ARCHIVES[n][2] for n in made), sum(ARCHIVES[n][3] for n in made))
    assert s["bytes"] == sum(len(built[n]) for n in made)


def test_encrypted_zip(tmp_path):
    F.make_encrypted_zip([("lane07/0001.jpg", LPR_JPG), ("lane07/0002.jpg", PLAIN)],
                         tmp_path / "secret.zip")
    res = scan(tmp_path)
    assert not res.findings, res
    assert sorted((p["path"], tuple(p["member"]), p["reason"]) for p in res.problems) == [
        (str(tmp_path / "secret.zip"), ("lane07/0001.jpg",), "encrypted"),
        (str(tmp_path / "secret.zip"), ("lane07/0002.jpg",), "encrypted")], res
    assert res.rc == 0


def test_encrypted_member_inside_tar(tmp_path):
    enc = F.make_encrypted_zip([("0001.jpg", LPR_JPG)], tmp_path / "x.zip")
    (tmp_path / "x.zip").unlink()
    F.make_tar([("old/secret.zip", enc), ("lane07/0001.jpg", LPR_JPG)], "w:gz",
               tmp_path / "backup.tgz")
    res = scan(tmp_path)
    assert [(f["member"], f["rule"]) for f in res.findings] == [(["lane07/0001.jpg"], LPR[0])], res
    assert [(p["member"], p["reason"]) for p in res.problems] == \
        [(["old/secret.zip", "0001.jpg"], "encrypted")], res


def test_corrupt_archive(tmp_path):
    """A zip cut short: the members before the cut are still scanned (the
    plate read in the first one is found) and the member the cut falls in
    is one corrupt record."""
    z = F.make_zip(MEMBERS)
    cut = len(z) // 2
    infos = zipfile.ZipFile(io.BytesIO(z)).infolist()
    broken = [i.filename for i in infos if i.header_offset < cut][-1]
    assert broken != "lane07/0001.jpg"          # the fixture's cut leaves the first whole
    (tmp_path / "cut.zip").write_bytes(z[:cut])
    res = scan(tmp_path)
    assert [(f["member"], f["rule"]) for f in res.findings] == [(["lane07/0001.jpg"], LPR[0])], res
    assert [(p["member"], p["reason"]) for p in res.problems] == [([broken], "corrupt")], res
    assert res.rc == 1


def test_gzip_of_zero_padded_data(tmp_path):
    """A single-stream .gz whose data starts with zero bytes (an empty tar
    to libarchive's format bidders) is still scanned as one member."""
    padded = bytes(1024) + FACE
    F.make_gz("pad.bin", padded, tmp_path / "pad.bin.gz")
    res = scan(tmp_path)
    assert res.rules(tmp_path / "pad.bin.gz", ["pad.bin"]) == {ISO_EMBEDDED}, res
    assert res.summary["members"] == 1


def gzip_with_all_header_fields(data):
    """One gzip member with FEXTRA, FNAME, FCOMMENT and FHCRC, which
    Python's gzip module never writes (RFC 1952 2.3)."""
    import struct
    import zlib
    hdr = b"\x1f\x8b\x08" + bytes([2 | 4 | 8 | 16]) + struct.pack("<I", 1559304794) + b"\x00\x03"
    hdr += struct.pack("<H", 6) + b"XY\x02\x00ab" + b"face.bin\x00" + b"lane 7 export\x00"
    hdr += struct.pack("<H", zlib.crc32(hdr) & 0xFFFF)
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return hdr + c.compress(data) + c.flush() + struct.pack("<II", zlib.crc32(data), len(data))


def _noise(n, x=12345):
    """Incompressible bytes, so damage near a stream's end falls in them."""
    out = bytearray()
    for _ in range(n):
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        out.append(x >> 24)
    return bytes(out)


NOISE = _noise(50000)


@pytest.mark.parametrize("kind", ["concatenated", "header-fields", "trailing-garbage", "zero-padded"])
def test_gzip_stream_variants(tmp_path, kind):
    """gzip as gzip -d reads it: concatenated members are one stream, every
    optional header field is skipped, bytes after the last member end it
    (and, unless zero padding, are scanned as a member of their own)."""
    if kind == "concatenated":
        blob = F.make_gz("x", NOISE) + F.make_gz("x", b"before " + FACE)
    elif kind == "header-fields":
        blob = gzip_with_all_header_fields(NOISE + FACE)
    elif kind == "trailing-garbage":
        blob = F.make_gz("x", NOISE + FACE) + b"not gzip at all " * 64
    else:
        blob = F.make_gz("x", NOISE + FACE) + bytes(4096)
    (tmp_path / "export.bin.gz").write_bytes(blob)
    res = scan(tmp_path)
    assert res.rules(tmp_path / "export.bin.gz", ["export.bin"]) == {ISO_EMBEDDED}, res
    assert res.problems == [], res
    assert res.summary["members"] == (2 if kind == "trailing-garbage" else 1)


def test_record_appended_after_gzip_stream(tmp_path):
    """gzip -d and libarchive stop at the end of the stream: a record
    appended after it is still found, as member "@OFFSET:after-gzip"."""
    gz = F.make_gz("x", NOISE)
    (tmp_path / "logs.gz").write_bytes(gz + FACE)
    res = scan(tmp_path)
    assert res.rules(tmp_path / "logs.gz", [f"@{len(gz)}:after-gzip"]) == {ISO}, res
    assert res.problems == [], res


@pytest.mark.parametrize("damage", ["crc", "truncated"])
def test_damaged_gzip_scans_what_it_can_and_says_so(tmp_path, damage):
    """A gzip whose CRC does not match, or that is cut short, is reported
    'corrupt' once, and what decoded before the damage is still scanned."""
    blob = bytearray(F.make_gz("x", FACE + NOISE))
    if damage == "crc":
        blob[-6] ^= 0x40
    else:
        del blob[len(blob) - 2000:]
    (tmp_path / "export.bin.gz").write_bytes(bytes(blob))
    res = scan(tmp_path)
    assert res.rules(tmp_path / "export.bin.gz", ["export.bin"]) == {ISO}, res
    assert [(p["member"], p["reason"]) for p in res.problems] == [(["export.bin"], "corrupt")], res
    assert ("CRC" if damage == "crc" else "truncated") in res.problems[0]["detail"]


def stored_or_deflated_zip(path, members):
    with zipfile.ZipFile(path, "w") as z:
        for name, data, method in members:
            zi = zipfile.ZipInfo(name, F.FIXED_MTIME)
            zi.compress_type = method
            z.writestr(zi, data)


@pytest.mark.parametrize("kind", ["ratio", "member-size"])
def test_expansion_limits_one_record_per_member(tmp_path, kind):
    """A budget hit on a member gives exactly one unscannable 'limit' record
    for that member; members before it are scanned."""
    if kind == "ratio":       # 20 MiB of zeros deflate to ~20 KiB: ratio far above 10
        big, method, detail = bytes(20 << 20), zipfile.ZIP_DEFLATED, "ratio"
    else:                     # a stored 2 MiB member, above member_max 1M
        big, method, detail = bytes(2 << 20), zipfile.ZIP_STORED, "member"
    stored_or_deflated_zip(tmp_path / "x.zip", [("lane/0001.jpg", LPR_JPG, method),
                                                ("big.bin", big, method)])
    cfg = tmp_path / "limits.yaml"
    cfg.write_text("limits:\n  archive_ratio: 10\n  member_max: 1M\n")
    res = scan(tmp_path / "x.zip", args=["--config", cfg])
    assert res.rules(tmp_path / "x.zip", ["lane/0001.jpg"]) == {LPR}
    assert [(p["member"], p["reason"]) for p in res.problems] == [(["big.bin"], "limit")], res
    assert detail in res.problems[0]["detail"]


def test_sparse_member_declaring_60_gb_is_one_limit_record(tmp_path):
    """A 10 KiB GNU sparse tar whose member claims 60 GB: expansion stops at
    the ratio budget with one record for that member (carving must not add a
    second one about the size the header declares)."""
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "sparse.bin", "wb") as fp:
        fp.seek(1 << 20)
        fp.write(b"data")          # a hole, then data: the reader expands the hole
        fp.truncate(60 * 10**9)
    tar = tmp_path / "sparse.tar"
    subprocess.run(["tar", "-cSf", str(tar), "-C", str(src), "sparse.bin"], check=True)
    (src / "sparse.bin").unlink()
    assert tar.stat().st_size < 64 * 1024
    res = scan(tar, timeout=120)
    assert [(p["member"], p["reason"]) for p in res.problems] == [(["sparse.bin"], "limit")], res
    assert "ratio" in res.problems[0]["detail"]


@pytest.mark.parametrize("member", ["LPR_2304_07_20190531T121314_5XYZ999.jpg",
                                    "lane07/LPR_2304_07_20190531T121314_5XYZ999.jpg",
                                    "exports/2019/lane07/LPR_2304_07_20190531T121314_5XYZ999.jpg"])
@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_member_file_name_rules(tmp_path, kind, member):
    """Name rules (P4) see a member's file name, wherever it sits in the archive."""
    p = tmp_path / f"export.{kind}"
    (F.make_zip if kind == "zip" else F.make_tar)([(member, PLAIN)], path=p)
    res = scan(p)
    assert res.rules(p, [member]) == {LPR_NAME}, res
    (f,) = res.findings
    assert "5XYZ999" not in f["evidence"] and "5X***99" in f["evidence"], f
