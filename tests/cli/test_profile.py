"""The reference profile (docs/cbp-profile.md): every carrier of a plate
record, every traveler variant, every must-NOT decoy, and the exact
(rule, category, severity) each yields.  One fixture per file; the whole
corpus is scanned once and each case checks its own file."""

import os
import shutil

import pytest

from cbptest import fixtures as F
from conftest import (AN2, AN2_EMBEDDED, CAPTURE, CROP, ISO, ISO_EMBEDDED, LPR, LPR_NAME, LPR_NAME_CROP,
                      TESTDATA, masked, missing, scan, sha256)

LPR_NAME_FILE = "LPR_2304_07_20190531T121314_5XYZ999.jpg"


def td(*rel):
    """Bytes of a test data file, or None (case skipped) when missing."""
    p = TESTDATA.joinpath(*rel)
    return p.read_bytes() if p.exists() else None


def jp2_xml(fields):
    d = td("biometric", "jp2", "img.jp2")
    return d and F.jp2_with_xml(d, F.xmp_packet(fields))


def img_for(carrier):
    return F.jpeg(320, 240, seed=2) if carrier in F.JPEG_CARRIERS else F.png(320, 240, seed=2)


def face_jpeg(seed=30, comment=None):
    j = F.jpeg(480, 640, seed=seed)
    return F.jpeg_insert(j, F.com(comment)) if comment else j


FACE_T3 = face_jpeg(31, F.TRAVELER_TEXT)          # a face picture with a capture record
FACE_LPR = face_jpeg(32, F.LPR_TEXT)
DUMP_T3, DUMP_T3_AT = F.db_dump(F.iso19794_5_010(FACE_T3))

# (relative path, builder, expected): expected is a set of (rule, category,
# severity) for the file itself, or {member chain: set} when children of the
# file (pictures inside records) have findings too.  Nothing else may be found.
CASES = [
    # P1: a plate read in every text-metadata carrier.
    *[(f"plate/{c}.{'png' if c.startswith('png-') else 'jpg'}",
       (lambda c=c: F.with_record(img_for(c), c, F.LPR_TEXT, F.LPR_FIELDS)), {LPR})
      for c in F.JPEG_CARRIERS + F.PNG_CARRIERS],
    ("plate/png-text-after-idat.png",
     lambda: F.png_with(F.png(), "png-text", F.LPR_TEXT, after_idat=True), {LPR}),
    ("plate/exif-big-endian.jpg",
     lambda: F.jpeg_insert(F.jpeg(), F.app1_exif(F.exif_tiff(
         ifd0=[(F.T_DESCRIPTION, F.ASCII, F.LPR_TEXT)], big_endian=True))), {LPR}),
    ("plate/tiff-description.tif", lambda: F.tiff(description=F.LPR_TEXT), {LPR}),
    ("plate/jp2-xml.jp2", lambda: jp2_xml(F.LPR_FIELDS), {LPR}),
    ("plate/keys-lowercase-pipes.jpg",
     lambda: F.jpeg_with(F.jpeg(), "com", "plate_number=AB-1234|cam=3|conf=88"), {LPR}),
    ("plate/keys-newlines.png",
     lambda: F.png_with(F.png(), "png-text", "LICENSE_PLATE=KA01AB1234\nREGION=KA\n"), {LPR}),
    ("plate/keys-commas-spaces.jpg",
     lambda: F.jpeg_with(F.jpeg(), "com", "PLATE_READ=XYZ987, CONFIDENCE=88 CAMERA=4"), {LPR}),
    ("plate/keys-reordered.jpg",
     lambda: F.jpeg_with(F.jpeg(), "exif-imagedescription", "ts=20190531T121314Z plate=ABC123"), {LPR}),
    # Near misses of P1: nothing at all.
    ("near/plate-no-context.jpg", lambda: F.jpeg_with(F.jpeg(), "com", "PLATE=7ABC123"), set()),
    ("near/context-no-plate.jpg", lambda: F.jpeg_with(F.jpeg(), "com", "LPR;PORT=2304;LANE=07;CONF=93"), set()),
    ("near/plate-too-long.jpg", lambda: F.jpeg_with(F.jpeg(), "com", "PLATE=ABCDEFGHIJK;PORT=2304"), set()),
    ("near/plate-too-short.jpg", lambda: F.jpeg_with(F.jpeg(), "com", "PLATE=7;PORT=2304"), set()),
    ("near/plate-bad-chars.jpg", lambda: F.jpeg_with(F.jpeg(), "com", "PLATE=7AB$%23;PORT=2304"), set()),
    ("near/longer-key.jpg", lambda: F.jpeg_with(F.jpeg(), "com", "NUMBERPLATE=7ABC123;PORT=2304"), set()),
    ("near/xmp-prose.jpg", lambda: F.jpeg_insert(F.jpeg(), F.app1_xmp(
        F.xmp_packet({"description": "my car at port 2304, plate 7ABC123"}, prefix="dc",
                     ns="http://purl.org/dc/elements/1.1/"))), set()),
    ("near/traveler-no-context.jpg", lambda: F.jpeg_with(F.jpeg(), "com", "TRAVELER_ID=T987654321"), set()),
    # T1: ISO/IEC 19794-5, standalone and embedded.
    ("traveler/face-010.bin", lambda: F.iso19794_5_010(face_jpeg()), {ISO}),
    ("traveler/face-030.bin", lambda: F.iso19794_5_030(face_jpeg()), {ISO}),
    ("traveler/face-010-points.fac", lambda: F.iso19794_5_010(
        face_jpeg(), points=[(0x36, 95, 117), (0x35, 168, 109)]), {ISO}),
    ("traveler/face-010-jp2.bin", lambda: (lambda j: j and F.iso19794_5_010(
        j, 908, 1007, img_type=1))(td("biometric", "jp2", "img.jp2")), {ISO}),
    ("traveler/face01.iso2005", lambda: td("biometric", "iso19794-5", "face01.iso2005"), {ISO}),
    ("traveler/dump-010.bin", lambda: F.embed(F.iso19794_5_010(face_jpeg())), {ISO_EMBEDDED}),
    ("traveler/dump-030.bin", lambda: F.embed(F.iso19794_5_030(face_jpeg())), {ISO_EMBEDDED}),
    ("traveler/crossings.sql", lambda: F.db_dump(F.iso19794_5_010(face_jpeg()))[0], {ISO_EMBEDDED}),
    # Pictures inside records are scanned as children.
    ("traveler/face-010-t3.bin", lambda: F.iso19794_5_010(FACE_T3),
     {(): {ISO}, ("iso19794-5:image1.jpg",): {CAPTURE}}),
    ("traveler/face-030-lpr.bin", lambda: F.iso19794_5_030(FACE_LPR),
     {(): {ISO}, ("iso19794-5:image1.jpg",): {LPR}}),
    ("traveler/dump-t3.sql", lambda: DUMP_T3,
     {(): {ISO_EMBEDDED}, (f"@{DUMP_T3_AT}:iso19794-5:image1.jpg",): {CAPTURE}}),
    ("traveler/dump-t3-1001.bin", lambda: F.embed(F.iso19794_5_010(FACE_T3), offset=1001),
     {(): {ISO_EMBEDDED}, ("@1001:iso19794-5:image1.jpg",): {CAPTURE}}),
    # T2: ANSI/NIST-ITL Type-1 + Type-10.
    ("traveler/t0001.an2", lambda: F.an2_transaction(face_jpeg()), {AN2}),
    ("traveler/t0002.eft", lambda: F.an2_transaction(FACE_LPR),
     {(): {AN2}, ("ansi-nist:image1.jpg",): {LPR}}),
    ("traveler/an2-in-dump.bin", lambda: F.embed(F.an2_transaction(face_jpeg()), offset=777),
     {AN2_EMBEDDED}),
    ("traveler/face_jpb_DOM_GMT_DCS.an2", lambda: td("biometric", "an2k", "face_jpb_DOM_GMT_DCS.an2"), {AN2}),
    ("traveler/valid1.9.an2", lambda: td("biometric", "an2k", "valid1.9.an2"), {AN2}),
    ("traveler/valid1.1.an2", lambda: td("biometric", "an2k", "valid1.1.an2"), set()),
    ("traveler/valid1.15.an2", lambda: td("biometric", "an2k", "valid1.15.an2"), set()),
    ("traveler/iris01.iso2011", lambda: td("biometric", "iso19794-6", "iris01.iso2011"), set()),
    ("traveler/TLVBIT.dat", lambda: td("biometric", "cbeff", "TLVBIT.dat"), set()),
    # T3: traveler capture records in image metadata.
    ("capture/com.jpg", lambda: F.jpeg_with(F.jpeg(), "com", F.TRAVELER_TEXT), {CAPTURE}),
    ("capture/usercomment.jpg",
     lambda: F.jpeg_with(F.jpeg(), "exif-usercomment", "DOC_NUM=X12345678 GATE=B12"), {CAPTURE}),
    ("capture/xmp-attr.jpg", lambda: F.jpeg_with(F.jpeg(), "xmp-attr", "", F.TRAVELER_FIELDS), {CAPTURE}),
    ("capture/xmp-elem.jpg", lambda: F.jpeg_with(F.jpeg(), "xmp-elem", "", F.TRAVELER_FIELDS), {CAPTURE}),
    ("capture/itxt.png", lambda: F.png_with(F.png(), "png-itxt", "UCI=1234-5678;LANE=3"), {CAPTURE}),
    ("capture/document-number.png",
     lambda: F.png_with(F.png(), "png-ztxt", "DOCUMENT_NUMBER=X12345678\nTIMESTAMP=20240101T101010Z"),
     {CAPTURE}),
    # Must NOT be reported (profile: what must not be reported).
    ("decoy/IMG_2041.jpg", lambda: F.jpeg_insert(F.jpeg(800, 600, seed=40), F.app1_exif(
        F.exif_tiff(ifd0=F.CAMERA_IFD0, exif=F.CAMERA_EXIF, gps=F.CAMERA_GPS))), set()),
    ("decoy/screenshot.png", lambda: F.png_insert(F.png(1366, 768, seed=46),
                                                  F.text_chunk("Software", "gnome-screenshot")), set()),
    ("decoy/icon.png", lambda: F.png(32, 32, seed=47, mode="RGBA"), set()),
    ("decoy/artwork.png", lambda: F.png(512, 512, seed=48, mode="P"), set()),
    ("decoy/gateway.log", lambda: b"2019-05-31T12:13:14Z lprd: LPR;PORT=2304;LANE=07;PLATE=7ABC123\n", set()),
    ("decoy/my_plate_photo.jpg", lambda: F.jpeg(640, 480, seed=49), set()),
    ("decoy/corrupt.jpg", lambda: F.jpeg(640, 480, seed=50)[:400], set()),
    ("decoy/fac.txt", lambda: b"grep for FAC\x00010\x00 in the dump, then FAC\x00030\x00 too\n", set()),
    ("decoy/fac-header-only.bin", lambda: b"FAC\x00010\x00" + bytes(64), set()),
    ("decoy/exif-rotn-1.jpg", lambda: td("pdq", "exif-rotn", "exif-rotn-1.jpg"), set()),
    ("decoy/hopper.jpg", lambda: td("faces", "hopper", "hopper.jpg"), set()),
    # P4 heuristics: low alone, medium together.
    (f"p4/{LPR_NAME_FILE}", lambda: F.jpeg(640, 480, seed=51), {LPR_NAME}),
    (f"p4-text/{LPR_NAME_FILE}", lambda: b"not a picture\n" * 10, set()),
    ("p4/LPR_23_7_2019_5XYZ999.jpg", lambda: F.jpeg(640, 480, seed=52), set()),
    ("p4/crop-400x100.jpg", lambda: F.jpeg(400, 100, seed=53), {CROP}),
    ("p4/crop-120x60.png", lambda: F.png(120, 60, seed=54), {CROP}),
    ("p4/crop-800x400.jpg", lambda: F.jpeg(800, 400, seed=55), {CROP}),
    ("p4/wide-801x200.jpg", lambda: F.jpeg(801, 200, seed=56), set()),
    ("p4/narrow-119x40.jpg", lambda: F.jpeg(119, 40, seed=57), set()),
    ("p4/thin-700x100.jpg", lambda: F.jpeg(700, 100, seed=58), set()),
    ("p4/portrait-100x400.jpg", lambda: F.jpeg(100, 400, seed=59), set()),
    (f"p4-both/{LPR_NAME_FILE}", lambda: F.jpeg(400, 100, seed=60), {LPR_NAME, CROP, LPR_NAME_CROP}),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("profile")
    built = {}
    for rel, build, _ in CASES:
        data = build()
        built[rel] = data
        if data is not None:
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
    return root, built, scan(root)


def findings_by_member(res, path):
    got = {}
    for f in res.under(path):
        got.setdefault(tuple(f["member"]), set()).add((f["rule"], f["category"], f["severity"]))
    return got


@pytest.mark.parametrize("rel,build,expected", CASES, ids=[c[0] for c in CASES])
def test_case(corpus, rel, build, expected):
    root, built, res = corpus
    if built[rel] is None:
        missing(rel)
    want = expected if isinstance(expected, dict) else {(): expected}
    assert findings_by_member(res, root / rel) == {m: s for m, s in want.items() if s}


def test_corpus_summary(corpus):
    root, built, res = corpus
    files = [d for d in built.values() if d is not None]
    s = res.summary
    assert (s["files"], s["bytes"], s["archives"], s["members"]) == \
        (len(files), sum(map(len, files)), 0, 0)
    assert res.rc == 1


def test_corpus_unscannable(corpus):
    """Only the corrupt decoys are unscannable (corrupt images and a FAC
    header without a record are reported, not silently skipped)."""
    root, built, res = corpus
    assert sorted((os.path.relpath(p["path"], root), p["member"], p["reason"]) for p in res.problems) == [
        ("decoy/corrupt.jpg", [], "corrupt"), ("decoy/fac-header-only.bin", [], "corrupt")]


@pytest.mark.parametrize("rel", [c[0] for c in CASES if c[2] and not isinstance(c[2], dict)])
def test_finding_identity(corpus, rel):
    """size, sha256, mime of a plain file's findings are those of the file."""
    root, built, res = corpus
    if built[rel] is None:
        missing(rel)
    found = res.at(root / rel)
    assert found, rel                     # the case expects findings: none is a failure
    for f in found:
        assert (f["size"], f["sha256"]) == (len(built[rel]), sha256(built[rel]))
        # A low heuristic (P4) is "review", never a violation.
        assert f["disposition"] == ("review" if f["severity"] == "low" else "violation"), f


def test_child_identity(corpus):
    """A picture inside a record: its own size and sha256, the parent's path."""
    root, built, res = corpus
    (f,) = res.at(root / "traveler/face-010-t3.bin", ["iso19794-5:image1.jpg"])
    assert (f["size"], f["sha256"], f["mime"]) == (len(FACE_T3), sha256(FACE_T3), "image/jpeg")
    (f,) = res.at(root / "traveler/dump-t3-1001.bin", ["@1001:iso19794-5:image1.jpg"])
    assert (f["size"], f["sha256"]) == (len(FACE_T3), sha256(FACE_T3))


def test_record_children_are_not_archive_members(tmp_path):
    """Pictures inside records are scanned, but are not counted as archive
    members (summary members/archives stay 0)."""
    p = tmp_path / "face.bin"
    p.write_bytes(F.iso19794_5_010(FACE_T3))
    res = scan(p)
    assert res.rules(p, ["iso19794-5:image1.jpg"]) == {CAPTURE}
    s = res.summary
    assert (s["files"], s["archives"], s["members"], s["findings"]) == (1, 0, 0, 2)


def test_evidence_masks_values(corpus):
    """Plate and document numbers appear only masked, anywhere in the output."""
    root, built, res = corpus
    for raw in (F.PLATE, F.DOC, "KA01AB1234", "AB-1234", "XYZ987"):
        assert raw.encode() not in res.out, raw
    for rel in ("plate/com.jpg", "plate/exif-usercomment.jpg", "plate/png-ztxt.png"):
        (f,) = res.at(root / rel)
        assert f"PLATE={masked(F.PLATE)}" in f["evidence"], f
    (f,) = res.at(root / "plate/xmp-attr.jpg")
    assert masked(F.PLATE) in f["evidence"], f
    (f,) = res.at(root / "capture/com.jpg")
    assert f"DOC_NUM={masked(F.DOC)}" in f["evidence"], f


def test_threads_same_findings(corpus):
    root, built, res = corpus
    key = lambda r: sorted((f["path"], tuple(f["member"]), f["rule"], f["severity"])  # noqa: E731
                           for f in r.findings)
    one, four = scan(root, args=["--threads", "1"]), scan(root, args=["--threads", "4"])
    assert key(one) == key(four) == key(res)
    assert one.summary["files"] == four.summary["files"] == res.summary["files"]


# ---- real plate photos (testdata/plates, AGPL: read in place, copies in tmp) ----

def crop_shaped(w, h):
    return 120 <= w <= 800 and 2 <= w / h <= 6


def plate_labels():
    p = TESTDATA / "plates" / "labels.tsv"
    if not p.exists():
        return []
    rows = [line.split("\t") for line in p.read_text().splitlines()[1:] if line]
    return [(f, plate) for f, plate, _region in rows]


PHOTOS = ["us/1e241dc8-8f18-4955-8988-03a0ab49f813.jpg", "us/car12.jpg", "us/us1.jpg",
          "us/wts-lg-000013.jpg", "us/car1.jpg", "eu/eu6.jpg", "eu/eu10.jpg", "eu/eu2.jpg",
          "eu/test_042.jpg", "eu/test_001.jpg"]
PHOTO_CARRIERS = ("com", "exif-usercomment", "exif-imagedescription", "xmp-attr", "xmp-elem",
                  "png-text", "png-ztxt", "png-itxt", "png-itxt-z", "png-xmp")


def photo_expectations(root):
    """{file: findings} for a tree of ordinary pictures: nothing, except
    the plate-crop heuristic (low) where the shape says so."""
    from PIL import Image
    want = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            try:
                w, h = Image.open(p).size
            except Exception:
                w = h = 1
            want[p] = {(): {CROP}} if crop_shaped(w, h) else {}
    return want


@pytest.mark.parametrize("sub", ["plates", "pdq", "faces"])
def test_real_photos_without_record(sub):
    """Real photos as they are (the 200 plate photos, the PDQ vectors with
    camera EXIF and GPS, the face portraits): nothing at medium or above."""
    root = TESTDATA / sub
    if not root.is_dir():
        missing(f"testdata/{sub}")
    res = scan(root)
    want = photo_expectations(root)
    got = {p: findings_by_member(res, p) for p in want}
    assert {str(p): g for p, g in got.items() if g != want[p]} == {}
    assert res.summary["files"] == len(want)
    assert res.rc == 0 and not res.violations() and not res.problems


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    from PIL import Image
    import io
    labels = dict(plate_labels())
    if not labels:
        missing("testdata/plates")
    root = tmp_path_factory.mktemp("plates")
    built = {}
    for ph in PHOTOS:
        data = (TESTDATA / "plates" / ph).read_bytes()
        plate = labels[ph]
        small = io.BytesIO()
        im = Image.open(io.BytesIO(data)).convert("RGB")
        im.thumbnail((480, 480))
        im.save(small, "PNG", compress_level=1)
        for c in PHOTO_CARRIERS:
            base = data if c in F.JPEG_CARRIERS else small.getvalue()
            out = F.with_record(base, c, F.lpr_text(plate), {**F.LPR_FIELDS, "PLATE": plate})
            rel = f"{c}/{ph.replace('/', '_')}" + (".png" if c.startswith("png") else "")
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(out)
            w, h = Image.open(io.BytesIO(out)).size
            built[(ph, c)] = (root / rel, plate, {LPR, CROP} if crop_shaped(w, h) else {LPR})
    return built, scan(root)


@pytest.mark.parametrize("carrier", PHOTO_CARRIERS)
@pytest.mark.parametrize("photo", PHOTOS)
def test_plate_photo_with_record(photos, photo, carrier):
    built, res = photos
    assert not res.problems
    path, plate, want = built[(photo, carrier)]
    assert findings_by_member(res, path) == {(): want}
    (f,) = [f for f in res.at(path) if f["rule"] == LPR[0]]
    assert masked(plate) in f["evidence"], f
    assert plate.encode() not in res.out


def test_sample_tree(tmp_path):
    """The demo tree (cbptest.fixtures --sample-tree) yields what the demo promises."""
    root = F.sample_tree(tmp_path / "demo-tree")
    res = scan(root)
    got = {(os.path.relpath(f["path"], root), tuple(f["member"]), f["rule"]) for f in res.findings
           if f["severity"] in ("medium", "high", "critical")}
    lane = [m for (p, m, r) in got if p == "exports/lpr_2019-05.zip" and r == LPR[0]]
    assert len(lane) == 4
    assert ("var/backups/crossings-2019-05-31.sql", (), ISO_EMBEDDED[0]) in got
    assert ("var/spool/nist/T0001.an2", (), AN2[0]) in got
    assert not [g for g in got if g[0].startswith(("home/alice/Pictures", "var/log"))]
    assert [p for p in res.problems if p["reason"] == "encrypted"
            and p["path"].endswith("home/alice/secure/old_exports.zip")]
    shutil.rmtree(root)


# ---- base64-encoded face records (XML CBEFF, docs/formats.md 5) -------------

def _b64(data, wrap=0):
    import base64
    s = base64.b64encode(data).decode()
    return "\n".join(s[i:i + wrap] for i in range(0, len(s), wrap)) if wrap else s


FACE_2005 = F.iso19794_5_010(F.jpeg(480, 640, seed=91))
FACE_2011 = F.iso19794_5_030(F.jpeg(480, 640, seed=92))


def _cbeff_xml(bdbs):
    birs = "".join(f"<BIR><BDBInfo><Format><Organization>257</Organization><Type>8</Type>"
                   f"</Format></BDBInfo><BDB>{b}</BDB></BIR>\n" for b in bdbs)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<BIR xmlns="http://standards.iso.org/iso-iec/19785/-3/ed-2/">\n' + birs + "</BIR>\n")


@pytest.mark.parametrize("kind", ["2005", "2011", "wrapped", "json", "bom"])
def test_base64_face_record_in_xml_or_json(tmp_path, kind):
    """A face record carried base64-encoded (an XML CBEFF <BDB>, a JSON
    value) is decoded and reported as the record it is, on a child named
    "@OFFSET:base64"; its sha256 is the record's own."""
    rec = FACE_2011 if kind == "2011" else FACE_2005
    if kind == "json":
        text = '{"subject": "x", "face": "' + _b64(rec) + '"}\n'
    else:
        text = _cbeff_xml([_b64(rec, 76 if kind == "wrapped" else 0)])
        if kind == "bom":
            text = "\ufeff" + text
    p = tmp_path / ("bio.json" if kind == "json" else "cbeff.xml")
    p.write_text(text, encoding="utf-8")
    res = scan(tmp_path)
    (f,) = res.findings
    assert (f["rule"], f["category"], f["severity"]) == ISO, res
    off = text.encode("utf-8").index(b"RkFDADA")
    assert f["member"] == [f"@{off}:base64"]
    assert f["sha256"] == sha256(rec) and f["size"] == len(rec)
    assert res.problems == [], res


def test_base64_decoys_are_silent(tmp_path):
    """'FAC' in base64 followed by anything else is a FAC string in text:
    no finding, no unscannable record; and plain text (not markup or
    JSON) is not searched for base64 at all."""
    junk = _b64(b"FAC\x00010\x00" + bytes(range(200)))
    (tmp_path / "decoy.xml").write_text(_cbeff_xml([junk, "RkFDADAxMA=="]))
    (tmp_path / "notes.txt").write_text("face: " + _b64(FACE_2005) + "\n")
    res = scan(tmp_path)
    assert res.findings == [] and res.problems == [], res


def test_base64_record_inside_archive(tmp_path):
    """The same inside an archive member: chain member, then the child."""
    F.make_zip([("export/cbeff.xml", _cbeff_xml([_b64(FACE_2005)]).encode())],
               tmp_path / "x.zip")
    res = scan(tmp_path)
    (f,) = res.findings
    assert f["rule"] == ISO[0] and f["member"][0] == "export/cbeff.xml", res
    assert f["member"][1].endswith(":base64")


DECOY_LONG = _b64(b"FAC\x00010\x00" + bytes(range(200)))   # the prefix, then garbage
DECOY_SHORT = "RkFDADAxMA=="                                 # the prefix alone
B64_MAX_RUNS = 4096                                          # CBP_B64_MAX_RUNS
B64_MAX_RECORDS = 64                                         # CBP_CARVE_MAX_RECORDS


def test_base64_decoys_do_not_hide_a_record(tmp_path):
    """64 and more <BDB> decoys before a real record: decoys do not spend
    the record budget, so the record is still found (before, the 64 runs
    were used up and the record silently never looked at)."""
    decoys = [DECOY_LONG, DECOY_SHORT] * 50
    text = _cbeff_xml(decoys + [_b64(FACE_2005)])
    p = tmp_path / "cbeff.xml"
    p.write_text(text)
    res = scan(p)
    (f,) = res.findings
    assert (f["rule"], f["category"], f["severity"]) == ISO, res
    off = text.encode().rindex(b"RkFDADA")
    assert f["member"] == [f"@{off}:base64"] and f["sha256"] == sha256(FACE_2005)
    assert res.problems == [], res


def test_base64_run_budget_is_a_limit_record(tmp_path):
    """More runs than CBP_B64_MAX_RUNS: the search stops there and one
    'limit' record says from where, instead of reading on without bound
    or staying silent."""
    text = _cbeff_xml([DECOY_SHORT] * (B64_MAX_RUNS + 10) + [_b64(FACE_2005)])
    p = tmp_path / "cbeff.xml"
    p.write_text(text)
    res = scan(p)
    assert res.findings == [], res
    (pr,) = res.problems
    assert pr["reason"] == "limit" and pr["member"] == [], pr
    assert f"{B64_MAX_RUNS} base64 runs" in pr["detail"], pr


def test_base64_record_budget_is_a_limit_record(tmp_path):
    """More valid records than the record budget: the first 64 are scanned,
    the rest is said ('limit'), never silently dropped."""
    text = _cbeff_xml([_b64(FACE_2011)] * (B64_MAX_RECORDS + 2))
    p = tmp_path / "cbeff.xml"
    p.write_text(text)
    res = scan(p)
    assert len({tuple(f["member"]) for f in res.findings if f["rule"] == ISO[0]}) == B64_MAX_RECORDS
    (pr,) = res.problems
    assert pr["reason"] == "limit" and f"{B64_MAX_RECORDS} base64-encoded records" in pr["detail"], pr


def test_base64_search_beyond_load_max_is_said(tmp_path):
    """Markup larger than load_max is searched for base64 records only that
    far, and one 'limit' record says so (nothing skipped silently)."""
    (tmp_path / "big.xml").write_text("<doc>" + "x" * (3 << 20) + "</doc>\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("limits:\n  load_max: 1M\n")
    res = scan(tmp_path / "big.xml", args=["--config", cfg])
    assert [(p["reason"], "base64" in p["detail"]) for p in res.problems] == [("limit", True)], res
