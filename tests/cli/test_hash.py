"""A finding's sha256 is bounded (issue 7, section 2): no further than the
size the file had when it was opened and limits.hash_max (CBP_HASH_MAX),
checked against the cancel flag; a hash over fewer bytes than the object
holds says so ("sha256_partial", "sha256_bytes"), a whole one does not.
Timeouts here only stop a hang; nothing asserts on time."""

import hashlib
import os
import threading

import pytest

from cbptest import fixtures as F
from conftest import LPR, scan, sha256

CBP_HASH_MAX = 1 << 30          # include/cbp_limits.h
MIB = 1 << 20


def sha256_of_prefix(head, total):
    """sha256 of head followed by zeros up to total bytes (a sparse file)."""
    h = hashlib.sha256(head[:total])
    zeros = bytes(MIB)
    left = total - min(len(head), total)
    while left > 0:
        n = min(left, MIB)
        h.update(zeros[:n])
        left -= n
    return h.hexdigest()


def lpr_finding(res, path, member=()):
    (f,) = [f for f in res.at(path, member) if f["rule"] == LPR[0]]
    return f


def config(tmp_path, text):
    p = tmp_path / "cbpscan.yaml"
    p.write_text(text)
    return p


def test_whole_file_has_no_partial_fields(tmp_path, lpr_jpeg):
    p = tmp_path / "lane07.jpg"
    p.write_bytes(lpr_jpeg)
    res = scan(p)
    f = lpr_finding(res, p)
    assert f["sha256"] == sha256(lpr_jpeg), res
    assert "sha256_partial" not in f and "sha256_bytes" not in f, f


@pytest.mark.slow
def test_sparse_100g_file_is_hashed_to_the_cap(tmp_path, lpr_jpeg):
    """100 GB that start with a plate picture: hashed to CBP_HASH_MAX only
    (minutes before, for every such finding), and marked partial."""
    p = tmp_path / "huge.jpg"
    p.write_bytes(lpr_jpeg)
    os.truncate(p, 100 << 30)
    res = scan(p, timeout=600)
    f = lpr_finding(res, p)
    assert (f["size"], f["sha256_partial"], f["sha256_bytes"]) == \
        (100 << 30, True, CBP_HASH_MAX), f
    # Which bytes a capped hash covers is checked, cheaper, with a 1M cap below.


def test_hash_max_from_the_config(tmp_path, lpr_jpeg):
    """limits.hash_max sets the cap; below it a file is hashed whole."""
    big = tmp_path / "t" / "big.jpg"
    small = tmp_path / "t" / "small.jpg"
    big.parent.mkdir()
    big.write_bytes(lpr_jpeg)
    os.truncate(big, 8 * MIB)
    small.write_bytes(lpr_jpeg)
    cfg = config(tmp_path, "limits:\n  hash_max: 1M\n")
    res = scan(big.parent, args=["--config", cfg])
    f = lpr_finding(res, big)
    assert (f["sha256_partial"], f["sha256_bytes"]) == (True, MIB), f
    assert f["sha256"] == sha256_of_prefix(lpr_jpeg, MIB)
    g = lpr_finding(res, small)
    assert g["sha256"] == sha256(lpr_jpeg) and "sha256_partial" not in g, g


def test_growing_file_is_hashed_as_opened(tmp_path, lpr_jpeg):
    """A file that keeps growing (truncate +8M in a loop, faster than any
    read) while it is scanned: the scan ends, and the hash is of the size
    seen at open, whole, with no cap involved (hash_max 16T).  Before, the
    hash read until EOF and never got there."""
    p = tmp_path / "growing.jpg"
    p.write_bytes(lpr_jpeg)
    stop = threading.Event()

    def grow():
        while not stop.is_set():
            os.truncate(p, os.stat(p).st_size + 8 * MIB)
            stop.wait(0.001)

    cfg = config(tmp_path, "limits:\n  hash_max: 16T\n  carve_max: 0\n")
    t = threading.Thread(target=grow, daemon=True)
    t.start()
    try:
        res = scan(p, args=["--config", cfg], timeout=300)
    finally:
        stop.set()
        t.join()
    f = lpr_finding(res, p)
    assert "sha256_partial" not in f, f
    assert len(lpr_jpeg) < f["size"] < os.stat(p).st_size, f
    assert f["sha256"] == sha256_of_prefix(lpr_jpeg, f["size"])


def test_member_cut_at_member_max_is_partial(tmp_path, lpr_jpeg):
    """A tar member larger than member_max is held (and hashed) only that
    far: its finding says the hash is partial, with the bytes held, and its
    size is the member's own."""
    data = lpr_jpeg + bytes(1 * MIB)
    tar = tmp_path / "x.tar"
    F.make_tar([("lane07/0001.jpg", data)], mode="w", path=tar)
    cfg = config(tmp_path, "limits:\n  member_max: 256K\n")
    res = scan(tar, args=["--config", cfg])
    f = lpr_finding(res, tar, ["lane07/0001.jpg"])
    assert (f["size"], f["sha256_partial"], f["sha256_bytes"]) == \
        (len(data), True, 256 * 1024), f
    assert f["sha256"] == sha256(data[:256 * 1024])


def test_sigterm_stops_the_hash(tmp_path, lpr_jpeg):
    """SIGTERM while a finding's file is being hashed (100 GB, no cap):
    the hash stops at the next chunk, the finding is written with the bytes
    hashed so far marked partial, and the run ends incomplete (exit 2).
    Before, the whole file was read first."""
    import json
    import signal
    import subprocess
    import time
    from conftest import CBPSCAN, state_dir

    p = tmp_path / "huge.jpg"
    p.write_bytes(lpr_jpeg)
    os.truncate(p, 100 << 30)
    cfg = config(tmp_path, "limits:\n  hash_max: 16T\n  carve_max: 0\n")
    proc = subprocess.Popen([CBPSCAN, "scan", "--state", state_dir(), "--format", "jsonl", "--config", cfg, p],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.0)            # well into the hash (no assert depends on it)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    recs = [json.loads(x) for x in out.splitlines()]
    (f,) = [r for r in recs if r["type"] == "finding" and r["rule"] == LPR[0]]
    assert f["sha256_partial"] is True and 0 <= f["sha256_bytes"] < f["size"], f
    assert f["sha256"] == sha256_of_prefix(lpr_jpeg, f["sha256_bytes"])
    assert proc.returncode == 2 and recs[-1]["complete"] is False, (proc.returncode, recs[-1], err)
