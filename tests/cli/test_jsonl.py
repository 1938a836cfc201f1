"""The JSON Lines contract, field by field, on one small mixed tree."""

import datetime
import os
import socket
import time

import pytest

from cbptest import fixtures as F
from conftest import CAPTURE, ISO, LPR, REPO, cbpscan_version, scan, sha256

MTIME = 1559304794                      # 2019-05-31T12:13:14Z
LPR_JPG = F.jpeg_with(F.jpeg(320, 240, seed=90), "com", F.LPR_TEXT)
LPR_PNG = F.png_with(F.png(320, 240, seed=91), "png-itxt", F.LPR_TEXT)
FACE = F.jpeg_with(F.jpeg(480, 640, seed=92), "com", F.TRAVELER_TEXT)
RECORD = F.iso19794_5_010(FACE)
# What every record carries (docs/contract.md), and findings and
# unscannable records besides.
EVERY_KEYS = {"type", "time", "scan_id", "host", "host_id", "event_id"}
FINDING_KEYS = EVERY_KEYS | {"object_id", "rule", "category", "severity", "path", "member",
                             "size", "mtime", "sha256", "mime", "evidence", "disposition"}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    t = tmp_path_factory.mktemp("jsonl")
    (t / "lane").mkdir()
    (t / "lane/0001.jpg").write_bytes(LPR_JPG)
    (t / "lane/0002.png").write_bytes(LPR_PNG)
    (t / "face.bin").write_bytes(RECORD)
    (t / "notes.txt").write_bytes(b"nothing\n")
    F.make_zip([("in/0003.jpg", LPR_JPG), ("in/plain.jpg", F.jpeg())], t / "export.zip")
    F.make_encrypted_zip([("x.jpg", F.jpeg())], t / "locked.zip")
    for p in t.rglob("*"):
        os.utime(p, (MTIME, MTIME))
    before = time.time()
    res = scan(t)
    return t, res, before, time.time()


def test_every_record_has_a_type_and_summary_is_last(mixed):
    t, res, *_ = mixed
    lines = res.out.decode().split("\n")
    assert lines[-1] == "" and all(lines[:-1])                # one object per line, \n-terminated
    assert [r["type"] for r in res.records][-1] == "summary"
    assert {r["type"] for r in res.records} == {"finding", "unscannable", "summary"}


def test_findings(mixed):
    t, res, *_ = mixed
    want = {
        (str(t / "lane/0001.jpg"), ()): (LPR, LPR_JPG, "image/jpeg"),
        (str(t / "lane/0002.png"), ()): (LPR, LPR_PNG, "image/png"),
        (str(t / "face.bin"), ()): (ISO, RECORD, None),
        (str(t / "face.bin"), ("iso19794-5:image1.jpg",)): (CAPTURE, FACE, "image/jpeg"),
        (str(t / "export.zip"), ("in/0003.jpg",)): (LPR, LPR_JPG, "image/jpeg"),
    }
    got = {(f["path"], tuple(f["member"])): f for f in res.findings}
    assert set(got) == set(want)
    for key, (rule, data, mime) in want.items():
        f = got[key]
        assert set(f) - {"title"} == FINDING_KEYS, f
        assert (f["rule"], f["category"], f["severity"]) == rule
        assert (f["size"], f["sha256"]) == (len(data), sha256(data))
        assert f["disposition"] == "violation"
        if mime:
            assert f["mime"] == mime
        if not key[1]:
            assert f["mtime"] == "2019-05-31T12:13:14Z"
    assert got[(str(t / "lane/0001.jpg"), ())]["evidence"].startswith("COM: ")


def test_unscannable(mixed):
    t, res, *_ = mixed
    (p,) = res.problems
    assert set(p) == EVERY_KEYS | {"object_id", "path", "member", "reason", "detail"}
    assert (p["path"], p["member"], p["reason"]) == (str(t / "locked.zip"), ["x.jpg"], "encrypted")


def test_summary(mixed):
    t, res, before, after = mixed
    s = res.summary
    files = [p for p in t.rglob("*") if p.is_file()]
    assert set(s) == EVERY_KEYS | {"started", "finished", "files", "bytes", "archives",
                                   "members", "findings", "violations", "unscannable",
                                   "elapsed_s", "exit", "version", "rules", "lists", "roots",
                                   "complete", "severity", "skipped", "confinement"}
    assert s["complete"] is True
    assert s["lists"] is None       # no known-image lists loaded
    c = s["confinement"]
    assert set(c) >= {"workers", "seccomp", "landlock_abi", "no_new_privs", "replaced",
                      "objects_per_worker"}
    assert c["workers"] == len(c["objects_per_worker"]) and sum(c["objects_per_worker"]) > 0, c
    assert (c["seccomp"], c["no_new_privs"], c["replaced"]) == (True, True, 0), c
    assert s["version"] == cbpscan_version()
    # The default rules are the build tree's one rule file: its SHA-256.
    assert s["rules"] == sha256((REPO / "rules/cbp-profile.yaml").read_bytes())
    assert s["roots"] == [str(t)]
    assert s["severity"] == {"critical": 0, "high": 5, "medium": 0, "low": 0, "info": 0}
    assert set(s["skipped"]) == {"symlink", "fifo", "socket", "device", "excluded", "other_fs", "vanished"}
    assert s["host"] == socket.gethostname()
    assert (s["files"], s["bytes"]) == (len(files), sum(p.stat().st_size for p in files))
    assert (s["archives"], s["members"]) == (2, 2)          # the encrypted member is not read
    assert (s["findings"], s["violations"], s["unscannable"], s["exit"]) == (5, 5, 1, 1)
    ts = lambda x: datetime.datetime.strptime(x, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()  # noqa: E731
    assert before - 1 <= ts(s["started"]) <= ts(s["finished"]) <= after + 1
    assert 0 <= s["elapsed_s"] <= after - before + 0.01


def test_scan_ids_differ(tmp_path):
    (tmp_path / "x.txt").write_bytes(b"x")
    a, b = scan(tmp_path), scan(tmp_path)
    assert a.summary["scan_id"] != b.summary["scan_id"]
    assert a.records[:-1] == b.records[:-1] == []
    assert (a.rc, a.summary["files"], a.summary["bytes"]) == (0, 1, 1)


def test_record_time(mixed):
    """"time" is when each record was made: RFC 3339 UTC with milliseconds,
    within the run (records are stamped in the order they are written)."""
    t, res, *_ = mixed
    ts = lambda x: datetime.datetime.strptime(x, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()  # noqa: E731
    s = res.summary
    times = [ts(r["time"]) for r in res.records]
    assert all(r["time"].endswith("Z") and len(r["time"]) == 24 for r in res.records), res
    assert ts(s["started"]) <= times[0] and times == sorted(times), res
    assert ts(s["finished"]) <= times[-1], res
