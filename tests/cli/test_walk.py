"""Walker safety: special files, symlinks, very long paths, hostile names,
unreadable files."""

import os
import subprocess
import re
import shutil
import socket
import stat
import tempfile

import pytest

from conftest import LPR, fsbytes, run, scan, sha256


def test_fifo_and_socket_do_not_hang(tree, lpr_jpeg):
    """Below a root, special files are never opened, only counted; a FIFO
    named as a root with no writer reads as empty (never blocks), a socket
    named as a root cannot be read: a record, exit 2."""
    t = tree({"a/x.jpg": lpr_jpeg})
    os.mkfifo(t / "a/fifo.jpg")
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(t / "a/sock.jpg"))
    try:
        r = scan(t, timeout=60)
        r2 = scan(t / "a/fifo.jpg", t / "a/sock.jpg", timeout=60, check=False)
    finally:
        s.close()
    assert [(f["path"], f["rule"]) for f in r.findings] == [(str(t / "a/x.jpg"), LPR[0])], r
    assert not r.problems and r.summary["files"] == 1, r
    assert (r.summary["skipped"]["fifo"], r.summary["skipped"]["socket"]) == (1, 1), r
    assert [(p["path"], p["reason"]) for p in r2.problems] == [(str(t / "a/sock.jpg"), "io")], r2
    assert (r2.rc, r2.summary["files"], r2.summary["complete"]) == (2, 1, False), r2
    assert str(t / "a/sock.jpg") in r2.err and "socket" in r2.err, r2


def test_symlinks_not_followed(tmp_path, lpr_jpeg):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(lpr_jpeg)
    t = tmp_path / "t"
    (t / "d").mkdir(parents=True)
    (t / "d/in.jpg").write_bytes(lpr_jpeg)
    os.symlink("..", t / "d/loop")                           # directory loop
    os.symlink(t / "d", t / "d/self")
    os.symlink(outside / "secret.jpg", t / "d/link.jpg")     # file outside the tree
    os.symlink(outside, t / "d/outdir")                      # directory outside the tree
    os.symlink("missing", t / "d/dangling.jpg")
    r = scan(t, timeout=60)
    assert [f["path"] for f in r.findings] == [str(t / "d/in.jpg")], r
    assert not r.problems and r.summary["files"] == 1, r


def test_symlink_root_is_followed(tmp_path, lpr_jpeg):
    (tmp_path / "real").mkdir()
    (tmp_path / "real/x.jpg").write_bytes(lpr_jpeg)
    os.symlink(tmp_path / "real", tmp_path / "link")
    r = scan(tmp_path / "link")
    assert [f["path"] for f in r.findings] == [str(tmp_path / "link/x.jpg")], r


def test_path_longer_than_path_max(tmp_path, lpr_jpeg):
    """A fixture at the bottom of a > 4096-byte path is found and reported
    with its whole path."""
    name = "d" * 200
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        for _ in range(25):
            os.mkdir(name, dir_fd=fd)
            nfd = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        w = os.open("deep.jpg", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(w, lpr_jpeg)
        os.close(w)
    finally:
        os.close(fd)
    want = os.path.join(str(tmp_path), *[name] * 25, "deep.jpg")
    assert len(want.encode()) > 4096
    r = scan(tmp_path, timeout=60)
    (f,) = r.findings
    assert (f["path"], f["rule"], f["sha256"]) == (want, LPR[0], sha256(lpr_jpeg)), r
    assert not r.problems


def test_very_deep_tree(tmp_path, lpr_jpeg):
    """5000 nested directories: no fd exhaustion, no stack overflow."""
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        for _ in range(5000):
            os.mkdir("a", dir_fd=fd)
            nfd = os.open("a", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        w = os.open("x.jpg", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(w, lpr_jpeg)
        os.close(w)
    finally:
        os.close(fd)
    try:
        r = scan(tmp_path, timeout=60)
        (f,) = r.findings
        assert f["path"] == str(tmp_path) + "/a" * 5000 + "/x.jpg" and not r.problems, r
    finally:
        # pytest's own clean-up recurses once per level and would overflow.
        subprocess.run(["rm", "-rf", str(tmp_path / "a")], check=False)


NAMES = [b"new\nline.jpg", b"bad\xffname.jpg", b"tab\tesc\x1b[31m.jpg", "caf\u00e9 \u2603.jpg".encode()]


def test_hostile_names_round_trip(tmp_path, lpr_jpeg):
    root = fsbytes(tmp_path)
    for n in NAMES:
        with open(os.path.join(root, n), "wb") as fp:
            fp.write(lpr_jpeg)
    r = scan(tmp_path)
    got = sorted(f["path"].encode("utf-8", "surrogateescape") for f in r.findings)
    assert got == sorted(os.path.join(root, n) for n in NAMES), r
    # The JSON text itself is valid UTF-8 with escapes, no raw control bytes.
    assert not re.search(rb"[\x00-\x1f\x7f]", r.out.replace(b"\n", b"")), r.out
    assert b"\\udcff" in r.out

    text = run(["scan", "--format", "text", tmp_path])
    assert text.rc == 1
    for shown in (b"new\\x0aline.jpg", b"bad\\xffname.jpg", b"tab\\x09esc\\x1b[31m.jpg",
                  "caf\u00e9 \u2603.jpg".encode()):
        assert shown in text.out, text.out
    assert not re.search(rb"[\x00-\x09\x0b-\x1f\x7f]", text.out), text.out
    assert len([x for x in text.out.splitlines() if x.startswith(b"high")]) == len(NAMES)


SETPRIV = shutil.which("setpriv")


def as_nobody():
    if os.geteuid() != 0:
        return ()
    if not SETPRIV:
        pytest.skip("setpriv (util-linux) missing: cannot drop root")
    return (SETPRIV, "--reuid=65534", "--regid=65534", "--clear-groups")


def test_unreadable_file_and_dir(lpr_jpeg):
    """Run unprivileged: a mode-0000 file and directory are reported as
    unscannable 'permission'; everything else is still scanned."""
    prefix = as_nobody()
    base = tempfile.mkdtemp(prefix="cbp-perm-")
    try:
        os.chmod(base, 0o755)
        t = os.path.join(base, "t")
        os.makedirs(os.path.join(t, "locked"))
        for rel in ("ok.jpg", "secret.jpg", "locked/inner.jpg"):
            with open(os.path.join(t, rel), "wb") as fp:
                fp.write(lpr_jpeg)
            os.chmod(os.path.join(t, rel), 0o644)
        os.chmod(t, 0o755)
        os.chmod(os.path.join(t, "secret.jpg"), 0)
        os.chmod(os.path.join(t, "locked"), 0)
        r = scan(t, prefix=prefix)
        assert [f["path"] for f in r.findings] == [os.path.join(t, "ok.jpg")], r
        assert sorted((p["path"], p["member"], p["reason"]) for p in r.problems) == [
            (os.path.join(t, "locked"), [], "permission"),
            (os.path.join(t, "secret.jpg"), [], "permission")], r
        assert r.summary["files"] == 2 and r.rc == 1
        strict = scan(t, args=["--strict"], prefix=prefix)
        assert (strict.summary["violations"], strict.summary["unscannable"]) == (1, 2)
    finally:
        for dp, dn, fn in os.walk(base):
            for n in dn + fn:
                os.chmod(os.path.join(dp, n), stat.S_IRWXU, follow_symlinks=False)
        shutil.rmtree(base)


def test_file_shorter_than_its_size():
    """A file that yields fewer bytes than fstat said (what a file shrinking
    between stat and read looks like): sysfs attributes claim 4096 bytes and
    hold a few.  Named as a root (pseudo filesystems are not walked)."""
    p = "/sys/devices/system/cpu/online"
    if not os.path.exists(p) or os.stat(p).st_size <= len(open(p, "rb").read()):
        pytest.skip(f"{p}: no file whose size exceeds its content")
    r = scan(p)
    assert [(x["path"], x["member"], x["reason"]) for x in r.problems] == [(p, [], "io")], r
    assert not r.findings and r.summary["files"] == 1
