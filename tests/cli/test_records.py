"""Records a SIEM can use as they are (docs/contract.md; man cbpscan(1),
RECORDS): every line stands alone, ids that follow one object across runs,
dispositions that agree with the summary, and the summary's fields.

Every scan here is checked by conftest.check_records, which recomputes
object_id and event_id of every record from the man page's definition."""

import hashlib
import os
import re
import time
from pathlib import Path

from cbptest import fixtures as F
from conftest import (CROP, LPR, LPR_NAME, LPR_NAME_CROP, REPO, UUID, check_records, run, scan,
                      sha256, state_dir)

DAY = 86400
LPR_JPG = F.jpeg_with(F.jpeg(320, 240, seed=70), "com", F.LPR_TEXT)
CROP_JPG = F.jpeg(400, 100, seed=71)                 # plate-crop shaped: low
NAMED = "LPR_2304_07_20190531T121314_7ABC123.jpg"     # with CROP_JPG: low, low, medium
ZZZ_RULE = b"""version: 1
rules:
  - id: test.never
    title: Never matches
    category: plate
    severity: low
    when:
      name: {regex: '^zzz-never-a-name$'}
"""


def by_disposition(r):
    out = {}
    for f in r.findings:
        out[f["disposition"]] = out.get(f["disposition"], 0) + 1
    return out


def mixed_tree(t):
    """Low, medium and high findings outside and inside an authorized
    location (young: within retention; old: past it), and one
    unscannable object."""
    files = {}
    for d in ("out", "authz/young", "authz/old"):
        files[f"{d}/lpr.jpg"] = LPR_JPG
        files[f"{d}/crop.jpg"] = CROP_JPG
        files[f"{d}/{NAMED}"] = CROP_JPG
    for rel, data in files.items():
        p = t / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    old = time.time() - 400 * DAY
    for p in (t / "authz/old").iterdir():
        os.utime(p, (old, old))
    F.make_encrypted_zip([("x.jpg", F.jpeg())], t / "secret.zip")
    return t


def test_dispositions_agree_with_the_summary(tmp_path):
    """Low heuristics are "review" wherever they are; violation and
    retention records are exactly the summary's violations, with and
    without --strict, which never adds unscannable objects to them.
    (Before: low findings said "violation" and were not counted, so the
    records and the summary disagreed, and --strict added the encrypted
    zip to "violations".)"""
    t = mixed_tree(tmp_path / "t")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f'authorized:\n  - path: "{t}/authz/*"\n    retention: 30d\n')
    want = {
        ("out/lpr.jpg", LPR[0]): ("high", "violation"),
        ("out/crop.jpg", CROP[0]): ("low", "review"),
        (f"out/{NAMED}", CROP[0]): ("low", "review"),
        (f"out/{NAMED}", LPR_NAME[0]): ("low", "review"),
        (f"out/{NAMED}", LPR_NAME_CROP[0]): ("medium", "violation"),
        ("authz/young/lpr.jpg", LPR[0]): ("info", "authorized"),
        ("authz/young/crop.jpg", CROP[0]): ("low", "review"),
        (f"authz/young/{NAMED}", CROP[0]): ("low", "review"),
        (f"authz/young/{NAMED}", LPR_NAME[0]): ("low", "review"),
        (f"authz/young/{NAMED}", LPR_NAME_CROP[0]): ("info", "authorized"),
        ("authz/old/lpr.jpg", LPR[0]): ("high", "retention"),
        ("authz/old/crop.jpg", CROP[0]): ("low", "review"),
        (f"authz/old/{NAMED}", CROP[0]): ("low", "review"),
        (f"authz/old/{NAMED}", LPR_NAME[0]): ("low", "review"),
        (f"authz/old/{NAMED}", LPR_NAME_CROP[0]): ("medium", "retention"),
    }
    for strict in ([], ["--strict"]):
        r = scan(t, args=["--config", cfg, *strict])
        got = {(os.path.relpath(f["path"], t), f["rule"]): (f["severity"], f["disposition"])
               for f in r.findings}
        assert got == want, r
        assert by_disposition(r) == {"violation": 2, "retention": 2, "review": 9,
                                     "authorized": 2}, r
        s = r.summary
        assert (s["findings"], s["violations"], s["unscannable"], s["exit"]) == (15, 4, 1, 1), r
        assert s["severity"] == {"critical": 0, "high": 2, "medium": 2, "low": 9, "info": 2}, r

    # Nothing but review, authorized and an unscannable object: no
    # violation; --strict makes the exit status 1 and still counts none.
    for strict, rc in (([], 0), (["--strict"], 1)):
        r = scan(t / "out/crop.jpg", t / "authz/young", t / "secret.zip",
                 args=["--config", cfg, *strict])
        s = r.summary
        assert (s["violations"], s["unscannable"], r.rc) == (0, 1, rc), r
        assert by_disposition(r) == {"review": 4, "authorized": 2}, r


def test_review_is_never_a_violation(tree):
    """A low heuristic alone: reported as review, exit 0."""
    t = tree({"crop.jpg": CROP_JPG, NAMED.replace(".jpg", ".png"): F.png(320, 240)})
    r = scan(t)
    assert sorted(f["rule"] for f in r.findings) == [CROP[0], LPR_NAME[0]], r
    assert {f["disposition"] for f in r.findings} == {"review"}, r
    assert (r.summary["violations"], r.rc) == (0, 0), r


def test_ids_follow_objects_across_runs(tree, tmp_path):
    """object_id: the same object and rule on the same host gives the same
    id night after night; event_id and scan_id are new every run; another
    host id (another state directory) gives other object ids."""
    t = tree({"lane/lpr.jpg": LPR_JPG, "crop.jpg": CROP_JPG})
    F.make_encrypted_zip([("x.jpg", F.jpeg())], t / "secret.zip")
    a, b = scan(t), scan(t)
    other = scan(t, args=["--state", tmp_path / "other-host"])

    def ids(r, k):
        return {(x["type"], x["path"], tuple(x["member"]), x.get("rule", x.get("reason"))): x[k]
                for x in r.records[:-1]}
    assert ids(a, "object_id") == ids(b, "object_id") and len(ids(a, "object_id")) == 3, (a, b)
    assert not set(ids(a, "event_id").values()) & set(ids(b, "event_id").values()), (a, b)
    assert a.summary["scan_id"] != b.summary["scan_id"]
    assert a.summary["host_id"] == b.summary["host_id"] != other.summary["host_id"]
    assert not set(ids(a, "object_id").values()) & set(ids(other, "object_id").values())
    # Every record of a run names the run and the host it came from.
    for r in (a, b):
        assert {x["scan_id"] for x in r.records} == {r.summary["scan_id"]}
        host_id = (Path(state_dir()) / "host-id").read_text()
        assert {x["host_id"] for x in r.records} == {host_id.strip()}


def test_repeated_record_gets_its_own_event_id(tmp_path):
    """Two members of one name in a tar: the same object_id, two event ids
    (seq 0 and 1 of the man page's definition; check_records recomputes
    them)."""
    p = tmp_path / "dup.tar"
    F.make_tar([("a/lpr.jpg", LPR_JPG), ("a/lpr.jpg", LPR_JPG)], mode="w", path=p)
    r = scan(p)
    fs = r.at(p, ["a/lpr.jpg"])
    assert len(fs) == 2, r
    assert fs[0]["object_id"] == fs[1]["object_id"] and fs[0]["event_id"] != fs[1]["event_id"]


def test_non_utf8_path_ids(tmp_path):
    """Ids hash the path's bytes, as the surrogateescape form gives them back."""
    d = tmp_path / "t"
    d.mkdir()
    name = os.path.join(os.fsencode(d), b"caf\xe9-lpr.jpg")
    with open(name, "wb") as fp:
        fp.write(LPR_JPG)
    r = scan(d)
    (f,) = r.findings
    assert os.fsencode(f["path"]) == name     # check_records recomputed its ids


def test_summary_rules_digest(tmp_path):
    """"rules": SHA-256 of the rule sources in load order: the files named,
    in the order named; a directory's files in name order."""
    profile = (REPO / "rules/cbp-profile.yaml").read_bytes()
    extra = tmp_path / "extra.yaml"
    extra.write_bytes(ZZZ_RULE)
    (tmp_path / "x.txt").write_bytes(b"x")
    r = scan(tmp_path / "x.txt", args=["--rules", REPO / "rules/cbp-profile.yaml", "--rules", extra])
    assert r.summary["rules"] == sha256(profile + ZZZ_RULE), r
    r = scan(tmp_path / "x.txt", args=["--rules", extra, "--rules", REPO / "rules/cbp-profile.yaml"])
    assert r.summary["rules"] == sha256(ZZZ_RULE + profile), r
    d = tmp_path / "rules.d"
    d.mkdir()
    (d / "b.yaml").write_bytes(profile)
    (d / "a.yml").write_bytes(ZZZ_RULE)
    (d / "notes.txt").write_bytes(b"not a rule file")
    r = scan(tmp_path / "x.txt", args=["--rules", d])
    assert r.summary["rules"] == sha256(ZZZ_RULE + profile), r


def test_summary_roots_as_given(tmp_path):
    """"roots": each PATH as given (relative stays relative; bytes that are
    not UTF-8 escaped like paths; "-" for standard input)."""
    (tmp_path / "rel").mkdir()
    odd = os.path.join(os.fsencode(tmp_path), b"r\xff")
    os.mkdir(odd)
    r = run(["scan", "--format", "jsonl", "rel", "./rel/", odd, "-"], parse=True, cwd=tmp_path)
    check_records(r)
    assert r.summary["roots"] == ["rel", "./rel/", os.fsdecode(odd), "-"], r
    assert os.fsencode(r.summary["roots"][2]) == odd


def test_text_shows_the_same_values(tree):
    """The text sink: review marked, the counts by severity and the run's
    ids, the same values a JSON record carries."""
    t = tree({"lpr.jpg": LPR_JPG, "crop.jpg": CROP_JPG})
    r = run(["scan", "--format", "text", t])
    assert r.rc == 1, r
    lines = r.out.decode().splitlines()
    (review,) = [x for x in lines if x.startswith("low ")]
    assert review.endswith("  [review]") and "crop.jpg" in review, lines
    (high,) = [x for x in lines if x.startswith("high ")]
    assert "[" not in high.split("  ")[-1], lines         # violation: no tag
    assert "By severity: 0 critical, 1 high, 0 medium, 1 low, 0 info." in lines, lines
    host_id = (Path(state_dir()) / "host-id").read_text().strip()
    (ident,) = [x for x in lines if x.startswith("Scan ")]
    m = re.match(r"^Scan (\S+) on (\S+) \(host id (\S+)\), cbpscan (\S+), rules sha256 ([0-9a-f]{64})\.$",
                 ident)
    assert m and UUID.match(m[1]) and m[3] == host_id, ident
    assert m[5] == hashlib.sha256((REPO / "rules/cbp-profile.yaml").read_bytes()).hexdigest()
    j = scan(t)
    assert (j.summary["host"], j.summary["version"]) == (m[2], m[4])


def test_text_strict_exit_line_says_why(tree, tmp_path):
    """--strict with only an unscannable object: exit 1, and the text says
    it is not a violation."""
    t = tree({})
    F.make_encrypted_zip([("x.jpg", F.jpeg())], t / "secret.zip")
    r = run(["scan", "--format", "text", "--strict", t])
    lines = r.out.decode().splitlines()
    assert r.rc == 1 and "0 violations, 1 unscannable." in lines[-5], lines
    assert lines[-2].startswith("Parsers ran in 2 worker processes (seccomp"), lines
    assert lines[-1] == "Exit status 1: unscannable objects (--strict), no violation.", lines
