"""Output that fails, fails cleanly (issue 7, section 4).

A reader that goes away (`cbpscan scan / | head -1`): the scan stops
quietly with exit status 2.  A full disk or a file size limit: every line
written is a whole record, the scan stops, stderr says how many records
were not written, exit status 2.
"""

import json
import os
import re
import resource
import signal
import subprocess

import pytest

from conftest import CBPSCAN, TIMEOUT, run, state_dir, write_tree
from cbptest import fixtures as F

MANY = 600      # findings: ~250 KB of JSON Lines, well past a pipe's 64 KiB


@pytest.fixture(scope="module")
def many_findings(tmp_path_factory):
    """A tree of MANY small JPEGs, each with an LPR record (one finding each)."""
    img = F.jpeg_with(F.jpeg(16, 16, seed=5), "com", F.LPR_TEXT)
    root = tmp_path_factory.mktemp("many")
    return write_tree(root / "t", {f"d{i % 10}/lpr_{i:04d}.jpg": img for i in range(MANY)})


def whole_records(data):
    """Every line of data is a whole JSON record; returns them."""
    assert data == b"" or data.endswith(b"\n"), data[-200:]
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


def lost_count(err):
    """N from "... N records (the summary included) were not written"."""
    m = re.search(r"(\d+) records? \(the summary included\) (?:was|were) not written", err)
    assert m, err
    return int(m.group(1))


def test_reader_gone_stops_quietly(many_findings):
    """`cbpscan scan T | head -1`: read one line, close the pipe.  The scan
    stops with status 2 and nothing on stderr."""
    p = subprocess.Popen([str(CBPSCAN), "scan", "--state", state_dir(), "--format", "jsonl", "--threads", "2",
                          str(many_findings)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.readline()
    assert json.loads(first)["type"] == "finding"
    p.stdout.close()
    try:
        err = p.stderr.read()
        rc = p.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        raise
    assert rc == 2, (rc, err)
    assert err == b"", err


def test_reader_gone_text(many_findings):
    """The same with text records."""
    p = subprocess.Popen([str(CBPSCAN), "scan", "--state", state_dir(), "--format", "text", "--threads", "1",
                          str(many_findings)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read()
    assert p.wait(timeout=TIMEOUT) == 2 and err == b"", err


def test_dev_full(many_findings, tmp_path):
    """Every write fails with ENOSPC: status 2, one message with the count of
    records lost (all findings and the summary)."""
    r = run(["scan", "--format", "jsonl", "--threads", "1", "--output", "/dev/full",
             many_findings])
    assert r.rc == 2, r
    assert "/dev/full: cannot write records: No space left on device" in r.err, r
    assert 1 <= lost_count(r.err) <= MANY + 1, r
    assert len(r.err.splitlines()) == 1, r
    # Standard output on /dev/full, too.
    with open("/dev/full", "wb") as full:
        p = subprocess.run([str(CBPSCAN), "scan", "--state", state_dir(), "--format", "jsonl", str(many_findings)],
                           stdout=full, stderr=subprocess.PIPE, timeout=TIMEOUT)
    err = p.stderr.decode()
    assert p.returncode == 2 and "standard output: cannot write records" in err, err


def _limit_fsize(n):
    def pre():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (n, resource.RLIM_INFINITY))
    return pre


@pytest.mark.parametrize("append", [False, True], ids=["new", "append"])
def test_file_size_limit_whole_records(many_findings, tmp_path, append):
    """A regular file that cannot grow past 100,001 bytes (the kernel writes
    up to the limit, then EFBIG, as a full disk gives a short write then
    ENOSPC): the file holds only whole records, the scan stops, stderr
    gives the count not written, status 2."""
    out = tmp_path / "o.jsonl"
    before = b""
    if append:
        before = b'{"type":"summary","earlier":true}\n'
        out.write_bytes(before)
    args = [str(CBPSCAN), "scan", "--state", state_dir(), "--format", "jsonl", "--threads", "2", "--output", str(out),
            *(["--append"] if append else []), str(many_findings)]
    p = subprocess.run(args, capture_output=True, timeout=TIMEOUT,
                       preexec_fn=_limit_fsize(100001))
    err = p.stderr.decode()
    assert p.returncode == 2, err
    assert "File too large" in err, err
    data = out.read_bytes()
    assert data.startswith(before) and len(data) <= 100001
    recs = whole_records(data)
    written = len(recs) - (1 if append else 0)
    assert written >= 1 and all(r["type"] == "finding" for r in recs[int(append):])
    # The scan stopped: what was written plus what was lost is at most all.
    assert written + lost_count(err) <= MANY + 1, err


def test_full_tmpfs_whole_records(many_findings, tmp_path):
    """A real full disk: a 64 KiB tmpfs (root, and mounting allowed)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                       capture_output=True)
    if m.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {m.stderr.decode().strip()}")
    try:
        out = mnt / "o.jsonl"
        r = run(["scan", "--format", "jsonl", "--threads", "2", "--output", out,
                 many_findings])
        assert r.rc == 2, r
        assert "No space left on device" in r.err and lost_count(r.err) >= 1, r
        recs = whole_records(out.read_bytes())
        assert recs and all(x["type"] == "finding" for x in recs)
        # Space comes back: a later run appends after the last whole record.
        fill = out.read_bytes()
        os.truncate(out, 0)
        out.write_bytes(fill[:len(fill) // 2].rsplit(b"\n", 1)[0] + b"\n")
        r = run(["scan", "--format", "jsonl", "--threads", "1", "--append", "--output",
                 out, many_findings / "d0" / "lpr_0000.jpg"])
        assert r.rc == 1, r
        recs = whole_records(out.read_bytes())
        assert recs[-1]["type"] == "summary"
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)
