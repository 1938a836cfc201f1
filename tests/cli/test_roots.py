"""Roots (the PATHs on the command line): a root that cannot be scanned is
never silent (stderr, a record, exit 2, complete:false, the other roots
still scanned); a symlink root is followed; a FIFO, a character device,
/dev/stdin or "-" is read as one object, up to member_max; and the summary
counts what the walk did not scan."""

import os
import shutil
import socket
import stat
import subprocess
import tempfile
import json
import threading

import pytest

from conftest import CBPSCAN, LPR, run, scan, sha256, state_dir
from test_walk import as_nobody


def small_cap(tmp_path, size="64KiB"):
    conf = tmp_path / "small.conf"
    conf.write_text(f"limits:\n  member_max: {size}\n")
    return ["--config", str(conf)]


def failed_root(r, path, reason):
    """r failed on root path (reason) and said so; nothing else went wrong."""
    assert [(p["path"], p["reason"]) for p in r.problems] == [(str(path), reason)], r
    assert (r.rc, r.summary["exit"], r.summary["complete"]) == (2, 2, False), r
    assert f"{path}: not scanned" in r.err, r


# ---- roots that cannot be scanned -------------------------------------------------------

def test_missing_root_fails_the_run_but_not_the_other_roots(tree, lpr_jpeg, tmp_path):
    t = tree({"x.jpg": lpr_jpeg})
    missing = tmp_path / "no-such-dir"
    r = scan(missing, t, check=False)
    failed_root(r, missing, "io")
    assert "check that the path exists" in r.err, r
    assert [f["path"] for f in r.findings] == [str(t / "x.jpg")], r   # still scanned

    # A name from a glob may be a user's: escaped on stderr, as in text output.
    odd = tmp_path / "no\x1b[31mred"
    r = run(["scan", "--format", "jsonl", odd])
    assert r.rc == 2 and "no\\x1b[31mred: not scanned" in r.err and "\x1b" not in r.err, r

    # --quiet text prints no unscannable lines: stderr and the status say it.
    q = run(["scan", "--quiet", "--format", "text", missing, t])
    assert q.rc == 2, q
    assert f"{missing}: not scanned" in q.err and b"x.jpg" in q.out, q


def test_unreadable_root_dir_and_file(lpr_jpeg):
    """Run unprivileged: a mode-0000 directory or file named as a root."""
    prefix = as_nobody()
    base = tempfile.mkdtemp(prefix="cbp-root-")
    try:
        os.chmod(base, 0o755)
        for d in ("ok", "locked"):
            os.mkdir(os.path.join(base, d))
            with open(os.path.join(base, d, "in.jpg"), "wb") as fp:
                fp.write(lpr_jpeg)
            os.chmod(os.path.join(base, d, "in.jpg"), 0o644)
        with open(os.path.join(base, "secret.jpg"), "wb") as fp:
            fp.write(lpr_jpeg)
        os.chmod(os.path.join(base, "ok"), 0o755)
        os.chmod(os.path.join(base, "locked"), 0)
        os.chmod(os.path.join(base, "secret.jpg"), 0)
        ok, locked, secret = (os.path.join(base, n) for n in ("ok", "locked", "secret.jpg"))

        r = scan(locked, ok, prefix=prefix, check=False)
        failed_root(r, locked, "permission")
        assert "run cbpscan as a user allowed to read it" in r.err, r
        assert [f["path"] for f in r.findings] == [os.path.join(ok, "in.jpg")], r

        r = scan(secret, ok, prefix=prefix, check=False)
        failed_root(r, secret, "permission")
        assert len(r.findings) == 1, r
    finally:
        for dp, dn, fn in os.walk(base):
            for n in dn + fn:
                os.chmod(os.path.join(dp, n), stat.S_IRWXU, follow_symlinks=False)
        shutil.rmtree(base)


def test_socket_root_fails(tmp_path):
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(tmp_path / "sock"))
    try:
        r = scan(tmp_path / "sock", check=False)
    finally:
        s.close()
    failed_root(r, tmp_path / "sock", "io")


# ---- roots that are followed or read as streams ------------------------------------------

def test_symlink_root_to_file_is_followed(tmp_path, lpr_jpeg):
    (tmp_path / "x.jpg").write_bytes(lpr_jpeg)
    os.symlink("x.jpg", tmp_path / "l.jpg")
    r = scan(tmp_path / "l.jpg")
    (f,) = r.findings
    assert (f["path"], f["rule"], f["sha256"]) == (str(tmp_path / "l.jpg"), LPR[0],
                                                  sha256(lpr_jpeg)), r
    assert r.rc == 1 and r.summary["files"] == 1 and r.summary["complete"], r


def test_named_fifo_is_read_as_one_object(tmp_path, lpr_jpeg):
    """A writer holds the FIFO first (O_RDWR never blocks), then writes more
    than a pipe holds, so the scan must be reading before the writer can
    finish and close: no race, no hang."""
    fifo = tmp_path / "feed.jpg"
    os.mkfifo(fifo)
    data = lpr_jpeg + b"\0" * (512 * 1024)
    wfd = os.open(fifo, os.O_RDWR)
    p = subprocess.Popen([str(CBPSCAN), "scan", "--state", state_dir(), "--format", "jsonl", str(fifo)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def feed():
        try:
            os.write(wfd, data)
        finally:
            os.close(wfd)
    th = threading.Thread(target=feed, daemon=True)
    th.start()
    try:
        out, err = p.communicate(timeout=60)
    finally:
        # A scanner that never read the FIFO leaves the writer blocked:
        # drain it so the test ends either way.
        rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        while th.is_alive():
            try:
                os.read(rfd, 1 << 16)
            except BlockingIOError:
                th.join(timeout=0.05)
        os.close(rfd)
    recs = [json.loads(x) for x in out.decode().splitlines()]
    finds = [x for x in recs if x["type"] == "finding"]
    assert [(f["path"], f["rule"], f["sha256"], f["size"]) for f in finds] == [
        (str(fifo), LPR[0], sha256(data), len(data))], (recs, err)
    assert recs[-1]["files"] == 1 and recs[-1]["bytes"] == len(data), recs
    assert p.returncode == 1, (recs, err)


def test_stdin_dash_and_dev_stdin(lpr_jpeg):
    for name in ("-", "/dev/stdin"):
        p = subprocess.run([str(CBPSCAN), "scan", "--state", state_dir(), "--format", "jsonl", name],
                           input=lpr_jpeg, capture_output=True, timeout=60)
        recs = [json.loads(x) for x in p.stdout.decode().splitlines()]
        finds = [x for x in recs if x["type"] == "finding"]
        assert [(f["path"], f["member"], f["rule"], f["sha256"]) for f in finds] == [
            (name, [], LPR[0], sha256(lpr_jpeg))], (name, recs, p.stderr)
        assert p.returncode == 1 and recs[-1]["complete"], (name, recs)


def test_character_devices(tmp_path):
    r = scan("/dev/null")
    assert (r.rc, r.records[:-1], r.summary["files"], r.summary["bytes"]) == (0, [], 1, 0), r
    # An endless device: scanned as far as member_max, and said.
    r = scan("/dev/zero", args=small_cap(tmp_path), check=False, timeout=60)
    assert [(p["path"], p["reason"]) for p in r.problems] == [("/dev/zero", "limit")], r
    assert "member_max" in r.problems[0]["detail"], r
    assert (r.rc, r.summary["bytes"], r.summary["complete"]) == (0, 64 * 1024, True), r


def test_stream_longer_than_the_cap_is_scanned_that_far(tmp_path, lpr_jpeg):
    data = lpr_jpeg + b"\0" * (256 * 1024)
    p = subprocess.run([str(CBPSCAN), "scan", "--state", state_dir(), "--format", "jsonl", *small_cap(tmp_path), "-"],
                       input=data, capture_output=True, timeout=60)
    recs = [json.loads(x) for x in p.stdout.decode().splitlines()]
    assert [(x["path"], x["rule"]) for x in recs if x["type"] == "finding"] == [
        ("-", LPR[0])], recs
    assert [(x["path"], x["reason"]) for x in recs if x["type"] == "unscannable"] == [
        ("-", "limit")], recs
    assert recs[-1]["bytes"] == 64 * 1024 and p.returncode == 1, recs


# ---- what the walk did not scan is counted -------------------------------------------------

def test_skipped_counters(tree, tmp_path, lpr_jpeg):
    t = tree({"x.jpg": lpr_jpeg, "d/y.tmp": b"tmp", "cache/z.jpg": lpr_jpeg})
    os.symlink("x.jpg", t / "l.jpg")
    os.symlink("/etc", t / "d/etc")
    os.mkfifo(t / "d/fifo")
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(t / "sock"))
    device = 0
    if os.geteuid() == 0:
        try:
            os.mknod(t / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
            device = 1
        except OSError:
            pass
    try:
        r = scan(t, args=["--exclude", "*.tmp", "--exclude", "cache"])
    finally:
        s.close()
    assert [f["path"] for f in r.findings] == [str(t / "x.jpg")], r
    assert r.summary["skipped"] == {"symlink": 2, "fifo": 1, "socket": 1, "device": device,
                                    "excluded": 2, "other_fs": 0, "vanished": 0}, r


def test_other_filesystem_counted_with_x(tree, lpr_jpeg):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    t = tree({"x.jpg": lpr_jpeg, "mnt/.keep": b""})
    if subprocess.run(["mount", "-t", "tmpfs", "cbptest", str(t / "mnt")],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        (t / "mnt/y.jpg").write_bytes(lpr_jpeg)
        r = scan(t, args=["-x"])
        assert [f["path"] for f in r.findings] == [str(t / "x.jpg")], r
        assert r.summary["skipped"]["other_fs"] == 1, r
        r = scan(t)
        assert len(r.findings) == 2 and r.summary["skipped"]["other_fs"] == 0, r
    finally:
        subprocess.run(["umount", str(t / "mnt")], check=False)


def test_atime_kept_on_both_open_routes(tree, lpr_jpeg):
    """Files are read with O_NOATIME whether opened directly (a directory
    only root can change) or through O_PATH and /proc (one others can
    write).  relatime would update an atime older than a day."""
    if os.geteuid() != 0:
        pytest.skip("O_NOATIME on others' files needs root (CAP_FOWNER)")
    t = tree({"own/x.jpg": lpr_jpeg, "shared/y.jpg": lpr_jpeg + b"\0y"})
    os.chmod(t / "own", 0o755)
    os.chmod(t / "shared", 0o1777)
    old = 1_000_000_000
    for f in ("own/x.jpg", "shared/y.jpg"):
        os.utime(t / f, (old, os.stat(t / f).st_mtime))
    r = scan(t)
    assert len(r.findings) == 2, r
    for f in ("own/x.jpg", "shared/y.jpg"):
        assert os.stat(t / f).st_atime == old, f


def test_symlink_to_device_root_only_from_a_safe_directory(tmp_path):
    """`cbpscan scan /tmp/*` must not let a user's planted symlink make root
    open a device: a symlink to a device or FIFO named as a root is followed
    only in a directory nobody but root (or the scanning user) can write."""
    hostile, own = tmp_path / "hostile", tmp_path / "own"
    hostile.mkdir()
    own.mkdir()
    os.chmod(hostile, 0o1777)
    os.chmod(own, 0o755)
    for d in (hostile, own):
        os.symlink("/dev/zero", d / "z.jpg")
    r = scan(hostile / "z.jpg", args=small_cap(tmp_path), check=False)
    failed_root(r, hostile / "z.jpg", "permission")
    assert "not followed" in r.problems[0]["detail"], r
    r = scan(own / "z.jpg", args=small_cap(tmp_path), check=False)
    assert [(p["path"], p["reason"]) for p in r.problems] == [(str(own / "z.jpg"), "limit")], r
    assert (r.rc, r.summary["bytes"]) == (0, 64 * 1024), r


def test_sigterm_stops_a_fifo_that_never_writes(tmp_path):
    """A named FIFO whose writer holds it open and never writes: the scan
    waits for it, but SIGTERM ends the run (exit 2, complete:false)."""
    import signal
    import time
    fifo = tmp_path / "slow"
    os.mkfifo(fifo)
    wfd = os.open(fifo, os.O_RDWR)          # a writer that never writes
    try:
        p = subprocess.Popen([str(CBPSCAN), "scan", "--state", state_dir(), "--format", "jsonl", str(fifo)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(0.5)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
    finally:
        os.close(wfd)
    recs = [json.loads(x) for x in out.decode().splitlines()]
    assert p.returncode == 2 and recs[-1]["complete"] is False, (recs, err)
