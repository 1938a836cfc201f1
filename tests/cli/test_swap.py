"""The swap race: names exchanged (renameat2 RENAME_EXCHANGE) for a device,
a FIFO or a symlink between the walk's readdir and its open, in a loop
beside repeated scans.  Every run must either scan the file or say it
changed (an unscannable record with reason "changed"), and the device or
FIFO swapped in must never be opened (watched with inotify IN_OPEN, which
an O_PATH open does not raise)."""

import ctypes
import os
import subprocess
import sys

import pytest

from conftest import LPR, scan, sha256

RUNS = 30
FILLERS = 200
IN_OPEN = 0x20

# The swapper: its own process, so the test's GIL never slows it down.
SWAPPER = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
RENAME_EXCHANGE = 2
pairs = [(a.encode(), b.encode()) for a, b in zip(sys.argv[1::2], sys.argv[2::2])]
os.write(1, b"go\n")
while True:
    for a, b in pairs:
        libc.renameat2(-100, a, -100, b, RENAME_EXCHANGE)
"""


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    if not hasattr(libc, "renameat2") or not hasattr(libc, "inotify_init1"):
        pytest.skip("libc without renameat2 or inotify")
    return libc


def _special(path, fifo_only):
    """A character device (1:3, as /dev/null) when we may make one, else a FIFO."""
    if not fifo_only and os.geteuid() == 0:
        try:
            os.mknod(path, 0o666 | 0o020000, os.makedev(1, 3))
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)   # opening must work (nodev?)
            os.close(fd)
            return "device"
        except OSError:
            if os.path.lexists(path):
                os.unlink(path)
    os.mkfifo(path)
    return "fifo"


def _opens(fd):
    try:
        return len(os.read(fd, 65536))
    except BlockingIOError:
        return 0


@pytest.mark.slow
@pytest.mark.parametrize("mode", [0o1777, 0o755], ids=["hostile-dirs", "own-dirs"])
def test_swap_race_never_loses_a_file_nor_opens_a_device(tmp_path, lpr_jpeg, mode):
    """mode 1777: directories others can write (/tmp, an upload area): the
    swapped-in device and FIFO are never opened.  mode 755: directories only
    root can change, opened the cheaper direct way; the swapper is then root
    itself, so only the records are checked."""
    libc = _libc()
    t = tmp_path / "t"
    for d in ("a", "b", "c/sub"):
        (t / d).mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (t / "a/x.jpg").write_bytes(lpr_jpeg)
    (t / "b/y.jpg").write_bytes(lpr_jpeg + b"\0y")
    (t / "c/sub/z.jpg").write_bytes(lpr_jpeg + b"\0z")
    # Other files beside each pair widen the window between readdir and
    # the open of the pair, as on a real host; small and quick to scan.
    for d in ("a", "b", "c"):
        for n in range(FILLERS):
            (t / d / f"f{n:03d}.txt").write_bytes(b"filler %d\n" % n)
    kinds = [_special(str(t / "a/dev"), False), _special(str(t / "b/fifo"), True)]
    os.symlink(elsewhere, t / "c/lnk")
    for d in ("a", "b", "c"):
        os.chmod(t / d, mode)

    ino = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    assert ino >= 0
    for special in ("a/dev", "b/fifo"):
        assert libc.inotify_add_watch(ino, str(t / special).encode(), IN_OPEN) >= 0

    pairs = [t / "a/x.jpg", t / "a/dev", t / "b/y.jpg", t / "b/fifo",
             t / "c/sub", t / "c/lnk"]
    sw = subprocess.Popen([sys.executable, "-c", SWAPPER, *map(str, pairs)],
                          stdout=subprocess.PIPE)
    losses, changed, opened = [], 0, 0
    try:
        assert sw.stdout.readline() == b"go\n"
        for i in range(RUNS):
            r = scan(t, args=["--threads", "2"], check=False)
            assert r.rc in (0, 1) and r.summary["complete"], r
            got = {f["sha256"] for f in r.findings if f["rule"] == LPR[0]}
            ch = [p for p in r.problems if p["reason"] == "changed"]
            assert len(ch) == len(r.problems), r          # nothing but "changed"
            changed += len(ch)
            for name, data, where in (("x", lpr_jpeg, "a/"), ("y", lpr_jpeg + b"\0y", "b/"),
                                      ("z", lpr_jpeg + b"\0z", "c/")):
                if sha256(data) not in got and not any(
                        p["path"].startswith(str(t / where)) for p in ch):
                    losses.append((i, name, r))
            opened += _opens(ino)
    finally:
        sw.kill()
        sw.wait()
        os.close(ino)
    if mode == 0o755:
        opened = 0          # root's own swap in root's own directory
    assert (len(losses), opened // 16) == (0, 0), \
        f"{len(losses)} silent losses in {RUNS} runs ({changed} changed records); " \
        f"the swapped-in {kinds} opened {opened // 16} times; first loss: {losses[:1]}"



def test_bind_mounts_are_not_changes(tmp_path, lpr_jpeg):
    """A directory or file bind-mounted over a name on the same filesystem
    has another inode than readdir lists (the covered one): a mount, not a
    swap, so no 'changed' record."""
    if os.geteuid() != 0:
        pytest.skip("bind mounts need root")
    t = tmp_path / "t"
    (t / "a/sub").mkdir(parents=True)
    (t / "a/z.jpg").write_bytes(b"covered")
    src = tmp_path / "src"
    src.mkdir()
    (src / "y.jpg").write_bytes(lpr_jpeg)
    mounted = []
    try:
        for what, where in ((src, t / "a/sub"), (src / "y.jpg", t / "a/z.jpg")):
            if subprocess.run(["mount", "--bind", str(what), str(where)],
                              capture_output=True).returncode != 0:
                pytest.skip("cannot bind-mount here")
            mounted.append(where)
        for mode in (0o755, 0o1777):        # both open routes
            os.chmod(t / "a", mode)
            r = scan(t)
            assert sorted(f["path"] for f in r.findings) == [
                str(t / "a/sub/y.jpg"), str(t / "a/z.jpg")], r
            assert not r.problems, r
    finally:
        for where in reversed(mounted):
            subprocess.run(["umount", str(where)], check=False)
