"""Known-image lists end to end (issue 10): `cbpscan hash` turns real
photos into list lines, and `cbpscan scan --known` finds every copy of
them — exact (critical), re-encoded, resized, converted, rotated,
mirrored, brightened, pasted into a PDF (as a JPEG, and as FlateDecode
RGB and grey pixels), nested in archives, carved from a blob (high) — while the photos of every other subject in the same folders
match nothing at medium or above.

The photos are read from ../shared/testdata (plates: AGPL, never copied
into the project; the copies made here live in pytest's tmp_path only).
"""

import gzip
import hashlib
import io
import json
import os
import tarfile
import time
import zipfile
import zlib
from pathlib import Path

import pytest

from conftest import TESTDATA, need_testdata, run, scan

PIL = pytest.importorskip("PIL")
from PIL import Image, ImageEnhance  # noqa: E402

HEX64 = set("0123456789abcdef")
MIN_QUALITY = 50        # CBP_KNOWN_PDQ_MIN_QUALITY


def plates():
    d = need_testdata("plates")
    return sorted(p for sub in ("us", "eu") for p in (d / sub).glob("*.jpg"))


def hash_lines(*paths, args=("--category", "plate")):
    r = run(["hash", *args, *paths])
    assert r.rc == 0, r
    lines = [l.split("\t") for l in r.out.decode().splitlines()]
    for l in lines:
        assert len(l) == 4, l
    return lines


def write_list(path, lines):
    path.write_text("".join("\t".join(l) + "\n" for l in lines))
    return path


def dist(a, b):
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def known_findings(res):
    return [f for f in res.findings if f["rule"].startswith("cbp.known.")]


def save(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def variants(src):
    """The copies the issue names, as {name: bytes}; `exact` is the file."""
    data = src.read_bytes()
    im = Image.open(io.BytesIO(data))
    im.load()
    im = im.convert("RGB")
    w, h = im.size
    return {
        "exact.jpg": data,
        "resize50.jpg": save(im.resize((w // 2, h // 2)), "JPEG"),
        "resize75.jpg": save(im.resize((w * 3 // 4, h * 3 // 4)), "JPEG"),
        "quality50.jpg": save(im, "JPEG", quality=50),
        "converted.png": save(im, "PNG"),
        "converted.gif": save(im, "GIF"),
        "converted.webp": save(im, "WEBP"),
        "brighter.jpg": save(ImageEnhance.Brightness(im).enhance(1.3), "JPEG"),
        "rot90.jpg": save(im.transpose(Image.Transpose.ROTATE_90), "JPEG"),
        "rot180.jpg": save(im.transpose(Image.Transpose.ROTATE_180), "JPEG"),
        "mirror.jpg": save(im.transpose(Image.Transpose.FLIP_LEFT_RIGHT), "JPEG"),
        # Pillow stores a JPEG in a PDF as a DCTDecode stream.
        "pasted.pdf": save(im, "PDF"),
        # Raw pixels, FlateDecode, as PDF writers store a PNG.
        "flate-rgb.pdf": flate_pdf(im, "RGB")[0],
        "flate-grey.pdf": flate_pdf(im, "L", predictor=12)[0],
    }


def flate_pdf(im, mode="RGB", predictor=None):
    """A one-page PDF written by hand holding im's pixels as a FlateDecode
    image XObject (DeviceRGB or DeviceGray, 8 bits), as PDF writers store a
    PNG; optionally PNG-predicted (every row "Up").  Returns (bytes, the
    offset of the stream data)."""
    im = im.convert(mode)
    w, h = im.size
    raw = im.tobytes()
    parms = b""
    if predictor:
        rb = w * len(mode)
        rows = [raw[y * rb:(y + 1) * rb] for y in range(h)]
        out = bytearray()
        prev = bytes(rb)
        for r in rows:
            out.append(2)
            out.extend((a - b) & 0xff for a, b in zip(r, prev))
            prev = r
        raw = bytes(out)
        parms = b"/DecodeParms << /Predictor %d /Colors %d /Columns %d >> " % (
            predictor, len(mode), w)
    data = zlib.compress(raw)
    cs = b"/DeviceRGB" if mode == "RGB" else b"/DeviceGray"
    content = b"q %d 0 0 %d 0 0 cm /Im0 Do Q" % (w, h)
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources "
        b"<< /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>" % (w, h),
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace %s "
        b"/BitsPerComponent 8 /Filter /FlateDecode %s/Length %d >>\nstream\n"
        % (w, h, cs, parms, len(data)) + data + b"\nendstream",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    offs = []
    for i, o in enumerate(objs, 1):
        offs.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offs)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objs) + 1, xref)
    return out, out.index(data)


def nested_archive(name, data):
    """zip holding a tar.gz holding the picture."""
    t = io.BytesIO()
    with tarfile.open(fileobj=t, mode="w:gz") as tf:
        ti = tarfile.TarInfo("deep/" + name)
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("inner.tar.gz", t.getvalue())
    return z.getvalue()


def blob_with(data):
    """A binary blob (not any known format) with the picture inside."""
    noise = hashlib.sha256(b"noise").digest() * 64
    return b"\x00\x01\x02BLOB" + noise + data + noise


@pytest.fixture(scope="module")
def listed(tmp_path_factory):
    """Two plate photos and one traveler photo hashed into two lists."""
    d = tmp_path_factory.mktemp("lists")
    ps = plates()
    plate_srcs = [ps[3], ps[-7]]           # one US, one EU photo
    face = need_testdata("faces", "nasa", "astronaut.png")
    plate_lines = hash_lines(*plate_srcs, args=("--category", "plate", "--id-from", "seq"))
    face_lines = hash_lines(face, args=("--category", "traveler"))
    assert len(plate_lines) == 2 and len(face_lines) == 1
    lists = d / "lists"
    lists.mkdir()
    write_list(lists / "plates.tsv", plate_lines)
    write_list(lists / "travelers.tsv", face_lines)
    return {"dir": lists, "srcs": plate_srcs + [face],
            "lines": plate_lines + face_lines}


@pytest.fixture(scope="module")
def copies(listed, tmp_path_factory):
    """A tree of every variant of every listed photo, and one scan of it."""
    t = tmp_path_factory.mktemp("copies")
    want = {}
    for i, src in enumerate(listed["srcs"]):
        for name, data in variants(src).items():
            p = t / f"{i}-{name}"
            p.write_bytes(data)
            # The picture in a PDF is a member: carved:jpeg@OFFSET.
            want[(str(p), None if name.endswith(".pdf") else ())] = (i, name)
        jpg = variants(src)["quality50.jpg"]
        p = t / f"{i}-nested.zip"
        p.write_bytes(nested_archive(f"{i}.jpg", jpg))
        want[(str(p), ("inner.tar.gz", f"deep/{i}.jpg"))] = (i, "nested")
        p = t / f"{i}-blob.bin"
        p.write_bytes(blob_with(jpg))
        want[(str(p), None)] = (i, "blob")
    res = scan(t, args=("--known", listed["dir"]))
    return t, want, res


@pytest.mark.slow
def test_every_copy_found(listed, copies):
    t, want, res = copies
    found = known_findings(res)
    ids = [l[3] for l in listed["lines"]]
    cats = ["plate", "plate", "traveler"]
    for (path, member), (i, name) in want.items():
        fs = [f for f in found if f["path"] == path and
              (member is None or tuple(f["member"]) == member)]
        assert fs, f"{name} of listed photo {i} not found: {res!r}"
        f = fs[0]
        assert f["known"]["id"] == ids[i] and f["known"]["category"] == cats[i], f
        assert f["category"] == "known"
        if name == "exact.jpg":
            assert (f["rule"], f["severity"], f["known"]["distance"]) == \
                ("cbp.known.exact", "critical", 0), f
        else:
            assert f["rule"] == "cbp.known.near" and f["severity"] == "high", f
            assert 0 <= f["known"]["distance"] <= 31, f
            assert set(f["pdq"]) <= HEX64 and len(f["pdq"]) == 64
            assert f["pdq_quality"] >= MIN_QUALITY
        assert f["known"]["list"] == ("travelers" if i == 2 else "plates")
        assert f["disposition"] == "violation"
    # Where they were found inside other files.
    blob = [f for f in found if f["path"].endswith("0-blob.bin")]
    assert blob and blob[0]["member"][0].startswith("carved:jpeg@"), blob
    pdf = [f for f in found if f["path"].endswith("0-pasted.pdf")]
    assert pdf and pdf[0]["member"][0].startswith("carved:jpeg@"), pdf
    # FlateDecode pixels: the member names the stream data's offset.
    for name, mode, mime in (("flate-rgb.pdf", "RGB", "image/x-portable-pixmap"),
                             ("flate-grey.pdf", "L", "image/x-portable-greymap")):
        p = t / f"0-{name}"
        off = flate_pdf(Image.open(listed["srcs"][0]).convert("RGB"), mode,
                        predictor=12 if mode == "L" else None)[1]
        fs = [f for f in found if f["path"] == str(p)]
        assert [f["member"] for f in fs] == [[f"pdf-image@{off}"]], fs
        assert fs[0]["mime"] == mime and fs[0]["known"]["distance"] <= 8, fs
    s = res.summary
    assert s["lists"] and set(s["lists"]) <= HEX64 and len(s["lists"]) == 64
    assert s["known_entries"] == 3
    assert res.rc == 1


@pytest.mark.slow
def test_other_subjects_match_nothing(listed):
    """Every other photo in the same folders: no finding at medium or above
    from the lists (the listed originals themselves, and their Exif
    thumbnails, are the only matches)."""
    srcs = {str(p) for p in listed["srcs"]}
    res = scan(TESTDATA / "plates", TESTDATA / "faces", args=("--known", listed["dir"]))
    hits = [f for f in known_findings(res) if f["path"] not in srcs]
    assert hits == [], hits
    exact = {f["path"] for f in known_findings(res) if f["rule"] == "cbp.known.exact"}
    assert exact == srcs


def test_flate_pdf_of_unlisted_photo_matches_nothing(listed, tmp_path):
    """A FlateDecode PDF of a photo that is not listed: decoded and hashed
    (`hash` prints its line), compared, and no match; the listed photo's
    PDF beside it matches."""
    ps = plates()
    other = ps[10]
    assert str(other) not in {str(p) for p in listed["srcs"]}
    data, off = flate_pdf(Image.open(other).convert("RGB"))
    (tmp_path / "other.pdf").write_bytes(data)
    res = scan(tmp_path / "other.pdf", args=("--known", listed["dir"]))
    assert known_findings(res) == [] and res.problems == [], res
    assert res.rc == 0, res
    lines = hash_lines(tmp_path / "other.pdf",
                       args=("--category", "plate", "--id-from", "name"))
    assert [l[3] for l in lines] == [f"pdf-image@{off}"], lines
    # Its PDQ is the photo's own (the same pixels, decoded at full scale).
    (orig,) = hash_lines(other)
    assert dist(lines[0][1], orig[1]) <= 8, (lines, orig)
    # The PNM's SHA-256 is what a PPM copy of those pixels has.
    assert lines[0][0] == hashlib.sha256(
        save(Image.open(other).convert("RGB"), "PPM")).hexdigest()


def test_flate_pdf_bomb_and_damage(tmp_path):
    """A FlateDecode image declaring 60000 x 60000, and one whose data is
    broken: each an `unscannable` record naming the image, the scan goes on
    and the good image in the same PDF is still found."""
    lst, src = one_listed(tmp_path)
    good, _ = flate_pdf(Image.open(src).convert("RGB"))
    z = zlib.compress(bytes(4096))
    bomb = (b"7 0 obj\n<< /Subtype /Image /Width 60000 /Height 60000 /ColorSpace "
            b"/DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\n"
            b"stream\n" % len(z) + z + b"\nendstream\nendobj\n")
    broken = (b"8 0 obj\n<< /Subtype /Image /Width 64 /Height 64 /ColorSpace "
              b"/DeviceGray /BitsPerComponent 8 /Filter /FlateDecode /Length 9 >>\n"
              b"stream\nnot zlib!\nendstream\nendobj\n")
    i = good.index(b"xref")
    pdf = good[:i] + bomb + broken + good[i:]
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "mixed.pdf").write_bytes(pdf)
    res = scan(tmp_path / "t", args=("--known", lst))
    by = {tuple(p["member"]): p for p in res.problems}
    b_off = pdf.index(z)
    k_off = pdf.index(b"not zlib!")
    assert by[(f"pdf-image@{b_off}",)]["reason"] == "limit", res
    assert "60000 x 60000" in by[(f"pdf-image@{b_off}",)]["detail"]
    assert by[(f"pdf-image@{k_off}",)]["reason"] == "corrupt", res
    assert len(res.problems) == 2, res
    (f,) = known_findings(res)
    assert f["member"][0].startswith("pdf-image@") and f["rule"] == "cbp.known.near"


def test_ppm_file_is_an_image(tmp_path):
    """A copy converted to PPM (or PGM) is still a copy."""
    lst, src = one_listed(tmp_path)
    im = Image.open(src).convert("RGB")
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "copy.ppm").write_bytes(save(im, "PPM"))
    (tmp_path / "t" / "copy.pgm").write_bytes(save(im.convert("L"), "PPM"))
    res = scan(tmp_path / "t", args=("--known", lst))
    found = sorted(os.path.basename(f["path"]) for f in known_findings(res))
    assert found == ["copy.pgm", "copy.ppm"], res


def test_hash_equals_reference_pdq():
    """`cbpscan hash` decodes at full scale: its PDQ is the published one
    (expected.tsv), and a hash below the quality threshold is "-"."""
    d = need_testdata("pdq")
    rows = [l.split("\t") for l in (d / "expected.tsv").read_text().splitlines()[1:]]
    by_dir = {}
    for f, pdq, q in rows:
        sub, name = f.split("/", 1)
        by_dir.setdefault(sub, {})[name] = (pdq, int(q))
    checked = 0
    for sub, want in by_dir.items():
        got = {l[3]: l for l in hash_lines(d / sub, args=("--category", "plate", "--id-from", "name"))}
        for name, (pdq, q) in want.items():
            line = got[name.replace(" ", "_").split("/")[-1]]
            assert line[0] == hashlib.sha256((d / sub / name).read_bytes()).hexdigest()
            assert line[1] == (pdq if q >= MIN_QUALITY else "-"), (sub, name, line)
            checked += 1
    assert checked == len(rows) == 28


def test_hash_ids_and_archives(tmp_path):
    src = plates()[0]
    (tmp_path / "LPR_2304_07_20190531T121314_7ABC123.jpg").write_bytes(src.read_bytes())
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as z:
        z.writestr("in/zip.png", save(Image.open(src).convert("RGB"), "PNG"))
    # A flat picture: PDQ quality 0, listed by SHA-256 only.
    (tmp_path / "flat.png").write_bytes(save(Image.new("RGB", (64, 64), (9, 9, 9)), "PNG"))
    (tmp_path / "notes.txt").write_text("PLATE=7ABC123 is not an image\n")
    default = hash_lines(tmp_path)
    assert len(default) == 3, default
    for sha, pdq, cat, ident in default:
        assert cat == "plate" and ident == sha[:16]
        assert "7ABC123" not in ident
    flat = hashlib.sha256((tmp_path / "flat.png").read_bytes()).hexdigest()
    assert [l[1] for l in default if l[0] == flat] == ["-"]
    # Sorted by location (bytes): the LPR file, a.zip's member, flat.png.
    seq = hash_lines(tmp_path, args=("--category", "traveler", "--id-from", "seq"))
    assert [l[3] for l in seq] == ["1", "2", "3"]
    assert [l[:2] for l in seq] == [l[:2] for l in default]
    names = hash_lines(tmp_path, args=("--category", "plate", "--id-from", "name"))
    assert [l[3] for l in names] == ["LPR_2304_07_20190531T121314_7ABC123.jpg", "zip.png",
                                     "flat.png"]
    # The member's PDQ is the original's (PNG is lossless).
    assert names[0][1] == names[1][1]


def test_hash_usage(tmp_path):
    r = run(["hash", tmp_path])
    assert r.rc == 2 and "--category plate|traveler is required" in r.err, r
    r = run(["hash", "--category", "car", tmp_path])
    assert r.rc == 2 and "not plate or traveler" in r.err, r
    r = run(["hash", "--category", "plate", "--id-from", "path", tmp_path])
    assert r.rc == 2, r
    r = run(["hash", "--category", "plate", tmp_path / "missing"])
    assert r.rc == 2 and r.out == b"", r
    r = run(["hash", "--help"])
    assert r.rc == 0 and b"--id-from" in r.out


def one_listed(tmp_path, threshold=None, name=None):
    """A list of one plate photo; returns (list path, photo)."""
    src = plates()[5]
    lst = write_list(tmp_path / "one.tsv", hash_lines(src))
    return lst, src


def test_malformed_lines_warn_or_fail_strict(tmp_path):
    lst, src = one_listed(tmp_path)
    text = lst.read_text()
    lst.write_text("# comment\n" + text + "zz\t-\tplate\tX\n" + "a\tb\n")
    t = tmp_path / "t"
    t.mkdir()
    (t / "copy.jpg").write_bytes(src.read_bytes())
    res = scan(t, args=("--known", lst))
    assert res.rc == 1, res
    assert f"{lst}:3:1:" in res.err and f"{lst}:4:" in res.err, res.err
    assert "(line skipped)" in res.err
    assert [f["rule"] for f in known_findings(res)] == ["cbp.known.exact"]
    res = run(["scan", "--format", "jsonl", "--strict", "--known", lst, t])
    assert res.rc == 2 and res.out == b"", res
    assert f"{lst}:3:1:" in res.err and "fatal" in res.err


def test_known_dir_and_digest(tmp_path):
    lst, src = one_listed(tmp_path)
    d = tmp_path / "dir"
    d.mkdir()
    (d / "a.tsv").write_text(lst.read_text())
    (d / "b.tsv").write_text(lst.read_text())
    t = tmp_path / "t"
    t.mkdir()
    (t / "copy.jpg").write_bytes(src.read_bytes())
    res = scan(t, args=("--known", d))
    lists = sorted(f["known"]["list"] for f in known_findings(res))
    assert lists == ["a", "b"], res          # one finding per listed entry
    digest = res.summary["lists"]
    assert res.summary["known_entries"] == 2
    # The same lists give the same digest; one changed byte another.
    assert scan(t, args=("--known", d)).summary["lists"] == digest
    (d / "b.tsv").write_text(lst.read_text().replace("\tplate\t", "\ttraveler\t"))
    assert scan(t, args=("--known", d)).summary["lists"] != digest


def test_config_known_with_threshold(tmp_path):
    """A per-list threshold from the config: a 5% crop (of the area) is
    beyond PDQ's default 31 bits on most photos but within 48; with
    threshold 0 only exact copies and identical hashes match."""
    lst, src = one_listed(tmp_path)
    im = Image.open(src).convert("RGB")
    w, h = im.size
    dx, dy = round(w * 0.0127), round(h * 0.0127)
    t = tmp_path / "t"
    t.mkdir()
    (t / "crop.png").write_bytes(save(im.crop((dx, dy, w - dx, h - dy)), "PNG"))
    (t / "exact.jpg").write_bytes(src.read_bytes())
    crop_pdq = hash_lines(t / "crop.png")[0][1]
    d = dist(crop_pdq, lst.read_text().split("\t")[1])
    assert 0 < d <= 48, d
    for threshold, crop_found in ((48, True), (0, False)):
        cfg = tmp_path / f"c{threshold}.yaml"
        cfg.write_text(f"known:\n  - {{path: {lst}, name: agency-2019, threshold: {threshold}}}\n")
        res = scan(t, args=("--config", cfg))
        got = {Path(f["path"]).name: f for f in known_findings(res) if not f["member"]}
        assert got["exact.jpg"]["severity"] == "critical"
        assert got["exact.jpg"]["known"]["list"] == "agency-2019"
        assert ("crop.png" in got) == crop_found, res
        if crop_found:
            assert got["crop.png"]["known"]["distance"] == d


def test_authorized_location(tmp_path):
    lst, src = one_listed(tmp_path)
    t = tmp_path / "t"
    (t / "ok").mkdir(parents=True)
    (t / "ok" / "copy.jpg").write_bytes(src.read_bytes())
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"known: {lst}\nauthorized:\n  - path: '{t}/ok/*'\n")
    res = scan(t, args=("--config", cfg))
    (f,) = known_findings(res)
    assert (f["severity"], f["disposition"]) == ("info", "authorized"), f
    assert res.rc == 0


def test_no_decoding_without_lists(tmp_path):
    """A PNG whose pixel data is broken: with lists it is `unscannable`
    `corrupt` (it could not be compared); without lists nothing decodes
    it, so nothing is said."""
    good = save(Image.new("RGB", (64, 64), (200, 10, 10)), "PNG")
    i = good.index(b"IDAT") + 4
    bad = good[:i] + b"\x00" * 8 + good[i + 8:]
    t = tmp_path / "t"
    t.mkdir()
    (t / "broken.png").write_bytes(bad)
    res = scan(t)
    assert res.problems == [], res
    lst, _ = one_listed(tmp_path)
    res = scan(t, args=("--known", lst))
    (p,) = res.problems
    assert p["reason"] == "corrupt" and "known-image lists" in p["detail"], p


def test_undecoded_photo_formats_are_said(tmp_path):
    """HEIC, AVIF, JPEG XL and Photoshop (no decoder here): with lists each is
    `unscannable` `limit` (a near copy in them cannot be seen), and an
    exact copy is still found by SHA-256; an SVG drawing is no photograph
    and says nothing; without lists nothing is said at all."""
    junk = bytes(range(256)) * 12
    t = tmp_path / "t"
    t.mkdir()
    (t / "a.heic").write_bytes(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + junk)
    (t / "b.avif").write_bytes(b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf" + junk)
    (t / "c.jxl").write_bytes(b"\0\0\0\x0cJXL \r\n\x87\n" + junk)
    (t / "e.psd").write_bytes(b"8BPS\0\x01" + bytes(6) + b"\0\x03" + junk)
    (t / "d.svg").write_text('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
                             'width="10" height="10"><rect width="10" height="10"/></svg>\n')
    res = scan(t)
    assert res.problems == [], res
    lst, _ = one_listed(tmp_path)
    res = scan(t, args=("--known", lst))
    got = sorted((Path(p["path"]).name, p["reason"]) for p in res.problems)
    assert got == [("a.heic", "limit"), ("b.avif", "limit"), ("c.jxl", "limit"),
                   ("e.psd", "limit")], res
    for p in res.problems:
        assert "not decoded here" in p["detail"], p
    assert known_findings(res) == [], res
    # Listed by SHA-256 (the hash line has no PDQ): the exact copy is found.
    heic = hash_lines(t / "a.heic")
    assert heic[0][1] == "-", heic
    res = scan(t, args=("--known", write_list(tmp_path / "heic.tsv", heic)))
    (f,) = known_findings(res)
    assert f["severity"] == "critical" and f["path"].endswith("a.heic"), f


def test_untrusted_list_refused_as_root(tmp_path):
    """As root a list others can write is refused, as rules are: it decides
    what is reported."""
    if os.geteuid() != 0:
        pytest.skip("the trust check applies to root")
    lst, src = one_listed(tmp_path)
    t = tmp_path / "t"
    t.mkdir()
    (t / "copy.jpg").write_bytes(src.read_bytes())
    os.chmod(lst, 0o666)
    r = run(["scan", "--format", "jsonl", "--known", lst, t])
    assert r.rc == 2 and r.out == b"" and "world-writable" in r.err, r
    os.chmod(lst, 0o644)
    r = run(["scan", "--format", "jsonl", "--known", lst, t])
    assert r.rc == 1, r


def test_text_output_names_the_entry(tmp_path):
    lst, src = one_listed(tmp_path)
    t = tmp_path / "t"
    t.mkdir()
    (t / "copy.jpg").write_bytes(src.read_bytes())
    r = run(["scan", "--format", "text", "--no-color", "--known", lst, t])
    assert r.rc == 1, r
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    line = [l for l in r.out.decode().splitlines() if "cbp.known.exact" in l]
    assert len(line) == 1 and line[0].startswith("critical"), r
    assert f"known plate {sha[:16]} in one, distance 0" in line[0], line
    assert "lists sha256 " in r.out.decode()


def test_copies_of_one_image_all_found_alike(tmp_path):
    """A near copy met three times (two folders and a zip), in one worker
    (--threads 1, so the second and third reuse the first's PDQ by SHA-256):
    three findings, each with the same hash, quality and distance as the
    first; an unlisted photo next to them still matches nothing."""
    lst, src = one_listed(tmp_path)
    im = Image.open(src).convert("RGB")
    png = save(im, "PNG")
    t = tmp_path / "t"
    for d in ("a", "b"):
        (t / d).mkdir(parents=True)
        (t / d / "copy.png").write_bytes(png)
    with zipfile.ZipFile(t / "c.zip", "w") as z:
        z.writestr("inner/copy.png", png)
    (t / "other.png").write_bytes(save(Image.open(plates()[6]).convert("RGB"), "PNG"))
    res = scan(t, args=("--known", lst, "--threads", "1"))
    found = known_findings(res)
    assert len(found) == 3, found
    assert {f["path"].split("/")[-1] for f in found} == {"copy.png", "c.zip"}
    keys = {(f["pdq"], f["pdq_quality"], f["known"]["distance"], f["rule"])
            for f in found}
    assert len(keys) == 1, found
    assert not [f for f in found if f["path"].endswith("other.png")]

# ---- the index cached in the state directory (issue 10 §4) ----------------

CLOCK_REALTIME_COARSE = 5   # <time.h>; Python's time module does not name it


def wait_past_stamps(path):
    """Wait until the clock file stamps come from has passed path's ctime:
    an index is cached only when every list is older than the run (a
    change within one clock tick would keep the stamps; cbp_known_cache.h).
    A condition, not a delay: typically one clock tick."""
    ctime = os.stat(path).st_ctime_ns
    while time.clock_gettime_ns(CLOCK_REALTIME_COARSE) <= ctime:
        time.sleep(0.001)


def cache_files(state):
    return sorted(state.glob("known-*.cache"))


def known_view(res):
    """What a scan reported from the lists, for comparing runs."""
    return sorted((f["path"], f["rule"], f["known"]["list"], f["known"]["id"],
                   f["known"]["distance"]) for f in known_findings(res))


def cached_setup(tmp_path):
    """A list of one photo with one malformed line, a tree with a copy of
    the photo, and a private state directory."""
    lst, src = one_listed(tmp_path)
    lst.write_text(lst.read_text() + "a\tb\n")
    t = tmp_path / "t"
    t.mkdir()
    (t / "copy.jpg").write_bytes(src.read_bytes())
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    wait_past_stamps(lst)
    return lst, t, state


def cscan(state, lst, t, *extra):
    return scan(t, args=("--state", state, "--known", lst, *extra))


def test_known_cache_built_then_hit(tmp_path):
    lst, t, state = cached_setup(tmp_path)
    first = cscan(state, lst, t)
    assert first.summary["lists_cache"] == "built", first.summary
    assert [f["rule"] for f in known_findings(first)] == ["cbp.known.exact"]
    (cache,) = cache_files(state)
    assert cache.stat().st_mode & 0o777 == 0o600
    second = cscan(state, lst, t)
    assert second.summary["lists_cache"] == "hit", second.summary
    assert known_view(second) == known_view(first)
    for k in ("lists", "known_entries"):
        assert second.summary[k] == first.summary[k]
    # The malformed line is reported from the cache as from the text.
    assert f"{lst}:2:" in first.err and "(line skipped)" in first.err, first.err
    assert second.err == first.err
    assert cache_files(state) == [cache]
    # --strict fails as before, from the cache, before any record.
    r = run(["scan", "--state", state, "--format", "jsonl", "--strict", "--known", lst, t])
    assert r.rc == 2 and r.out == b"", r
    assert f"{lst}:2:" in r.err and "fatal" in r.err, r.err
    # Text output says where the index came from.
    r = run(["scan", "--state", state, "--format", "text", "--no-color", "--known", lst, t])
    assert r.rc == 1 and "(index from cache)" in r.out.decode(), r


def test_known_cache_rebuilt_when_list_changes(tmp_path):
    lst, t, state = cached_setup(tmp_path)
    first = cscan(state, lst, t)
    assert first.summary["lists_cache"] == "built"
    (cache,) = cache_files(state)
    # Same bytes, new times: rebuilt, and the old cache replaced.
    os.utime(lst, (1_000_000, 1_000_000))
    wait_past_stamps(lst)
    res = cscan(state, lst, t)
    assert res.summary["lists_cache"] == "built", res.summary
    assert known_view(res) == known_view(first)
    assert cache_files(state) == [cache]
    assert cscan(state, lst, t).summary["lists_cache"] == "hit"
    # Another entry: rebuilt with it (a changed digest and count).
    lst.write_text(lst.read_text() + "-\t" + "ab" * 32 + "\tplate\tother\n")
    wait_past_stamps(lst)
    res = cscan(state, lst, t)
    assert res.summary["lists_cache"] == "built", res.summary
    assert res.summary["known_entries"] == 2
    assert res.summary["lists"] != first.summary["lists"]
    again = cscan(state, lst, t)
    assert again.summary["lists_cache"] == "hit"
    assert again.summary["known_entries"] == 2


def test_known_cache_off(tmp_path):
    lst, t, state = cached_setup(tmp_path)
    res = cscan(state, lst, t, "--no-known-cache")
    assert res.summary["lists_cache"] == "off", res.summary
    assert cache_files(state) == []
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"known: {lst}\nknown_cache: false\n")
    res2 = scan(t, args=("--state", state, "--config", cfg))
    assert res2.summary["lists_cache"] == "off"
    assert known_view(res2) == known_view(res)
    assert cache_files(state) == []
    # No lists: no lists_cache either.
    assert "lists_cache" not in scan(t, args=("--state", state)).summary


def test_known_cache_damaged_or_untrusted_is_rebuilt(tmp_path):
    lst, t, state = cached_setup(tmp_path)
    first = cscan(state, lst, t)
    (cache,) = cache_files(state)
    # Truncated: refused with a notice, rebuilt, rewritten.
    data = cache.read_bytes()
    cache.write_bytes(data[: len(data) // 2])
    res = cscan(state, lst, t)
    assert res.summary["lists_cache"] == "built", res.summary
    assert "known-image cache" in res.err and "not used" in res.err, res.err
    assert known_view(res) == known_view(first)
    assert cache.read_bytes() == data
    # A flipped byte in the header's counts: refused.
    bad = bytearray(data)
    bad[64] ^= 0x10                 # the entry count (known_cache.c)
    cache.write_bytes(bytes(bad))
    os.chmod(cache, 0o600)
    res = cscan(state, lst, t)
    assert res.summary["lists_cache"] == "built" and "not used" in res.err, res
    assert cscan(state, lst, t).summary["lists_cache"] == "hit"
    # Writable by others: refused whoever we are; as root this is the
    # trust rule every file that steers a verdict follows.
    os.chmod(cache, 0o622)
    res = cscan(state, lst, t)
    assert res.summary["lists_cache"] == "built" and "refused" in res.err, res
    assert known_view(res) == known_view(first)
    assert cache.stat().st_mode & 0o777 == 0o600       # replaced
    assert cscan(state, lst, t).summary["lists_cache"] == "hit"
