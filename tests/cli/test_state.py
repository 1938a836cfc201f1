"""The state directory and the host id (--state; man cbpscan(1), FILES).

No test here uses /var/lib/cbpscan: every run names a directory of its
own, or (the fallback test) runs as nobody, who cannot create it."""

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from cbptest import fixtures as F
from conftest import UUID, run, scan
from test_walk import as_nobody

NOBODY = 65534
LPR_JPG = F.jpeg_with(F.jpeg(320, 240, seed=80), "com", F.LPR_TEXT)


def root_only():
    if os.geteuid() != 0:
        pytest.skip("needs root (ownership checks)")


@pytest.fixture
def target(tmp_path):
    t = tmp_path / "t"
    t.mkdir()
    (t / "lpr.jpg").write_bytes(LPR_JPG)
    return t


def host_ids(r):
    return {x["host_id"] for x in r.records}


def test_created_once_and_kept(target, tmp_path):
    """First run: the directory (and missing parents) made 0700, host-id
    0600 holding one UUID; every record carries it; later runs read the
    same file and leave it as it is."""
    d = tmp_path / "a" / "b" / "state"
    r = scan(target, args=["--state", d])
    assert r.rc == 1, r
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700
    f = d / "host-id"
    assert stat.S_IMODE(f.stat().st_mode) == 0o600 and f.stat().st_uid == os.geteuid()
    text = f.read_text()
    assert text.endswith("\n") and UUID.match(text.strip()), text
    assert host_ids(r) == {text.strip()}
    assert sorted(os.listdir(d)) == ["host-id"]          # no temporary file left
    before = f.stat()
    r2 = scan(target, args=["--state", d])
    assert host_ids(r2) == {text.strip()} and r2.summary["scan_id"] != r.summary["scan_id"]
    after = f.stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def test_modes_whatever_the_umask(target, tmp_path):
    """0700 and 0600 exactly, even under a umask that would take the
    owner's write bit away."""
    d = tmp_path / "state"
    r = scan(target, args=["--state", d], prefix=("sh", "-c", 'umask 0277; exec "$0" "$@"'))
    assert len(host_ids(r)) == 1, r
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert stat.S_IMODE((d / "host-id").stat().st_mode) == 0o600


def test_renamed_host_stays_one_host(target, tmp_path):
    """Another host name (a UTS namespace), the same state: the same host_id."""
    root_only()
    if not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) missing")
    d = tmp_path / "state"
    a = scan(target, args=["--state", d])
    b = scan(target, args=["--state", d], check=False,
             prefix=("unshare", "--uts", "sh", "-c", 'hostname cbp-renamed && exec "$0" "$@"'))
    if b.rc not in (0, 1):
        pytest.skip(f"cannot rename the host here: {b.err}")
    assert b.summary["host"] == "cbp-renamed" != a.summary["host"], b
    assert host_ids(a) == host_ids(b) and len(host_ids(b)) == 1
    assert [x["object_id"] for x in a.findings] == [x["object_id"] for x in b.findings]


@pytest.mark.parametrize("mode,why", [(0o777, "writable by others"), (0o770, "writable by its group"),
                                      (0o720, "writable by its group")])
def test_refused_when_others_can_write(target, tmp_path, mode, why):
    d = tmp_path / "state"
    d.mkdir()
    os.chmod(d, mode)
    r = run(["scan", "--format", "jsonl", "--state", d, target])
    assert (r.rc, r.out) == (2, b"") and str(d) in r.err and why in r.err and "chmod go-w" in r.err, r
    assert not (d / "host-id").exists()


def test_existing_0755_directory_accepted(target, tmp_path):
    d = tmp_path / "state"
    d.mkdir()
    os.chmod(d, 0o755)
    r = scan(target, args=["--state", d])
    assert len(host_ids(r)) == 1 and stat.S_IMODE(d.stat().st_mode) == 0o755, r


def test_refused_when_owned_by_another_user(target, tmp_path):
    root_only()
    d = tmp_path / "state"
    d.mkdir(mode=0o700)
    os.chown(d, NOBODY, -1)
    r = run(["scan", "--format", "jsonl", "--state", d, target])
    assert r.rc == 2 and "owned by uid 65534" in r.err and str(d) in r.err, r


def test_root_refuses_a_directory_others_can_swap(target):
    """As root the directories above the state directory are checked too
    (cbp_trust): below a world-writable, non-sticky directory anyone could
    replace it."""
    root_only()
    base = Path(tempfile.mkdtemp(prefix="cbp-state-open-"))
    try:
        os.chmod(base, 0o777)
        d = base / "state"
        d.mkdir(mode=0o700)
        r = run(["scan", "--format", "jsonl", "--state", d, target])
        assert r.rc == 2 and str(base) in r.err and "world-writable" in r.err, r
    finally:
        shutil.rmtree(base)


def test_host_id_not_a_uuid_is_not_replaced(target, tmp_path):
    d = tmp_path / "state"
    d.mkdir(mode=0o700)
    (d / "host-id").write_text("not-a-uuid\n")
    os.chmod(d / "host-id", 0o600)
    r = run(["scan", "--format", "jsonl", "--state", d, target])
    assert r.rc == 2 and "not a host id" in r.err and str(d / "host-id") in r.err, r
    assert (d / "host-id").read_text() == "not-a-uuid\n"


def test_host_id_written_by_hand_is_used(target, tmp_path):
    """An id restored from a backup (or set by configuration management):
    upper case or without the newline, it is read as the same UUID."""
    d = tmp_path / "state"
    d.mkdir(mode=0o700)
    (d / "host-id").write_text("0A1B2C3D-4E5F-4A6B-8C7D-8E9F0A1B2C3D")
    os.chmod(d / "host-id", 0o600)
    r = scan(target, args=["--state", d])
    assert host_ids(r) == {"0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"}, r


def test_host_id_symlink_refused(target, tmp_path):
    d = tmp_path / "state"
    d.mkdir(mode=0o700)
    other = tmp_path / "elsewhere"
    other.write_text("0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d\n")
    os.symlink(other, d / "host-id")
    r = run(["scan", "--format", "jsonl", "--state", d, target])
    assert r.rc == 2 and "cannot open the host id" in r.err, r


def test_host_id_owned_by_another_user_refused(target, tmp_path):
    root_only()
    d = tmp_path / "state"
    d.mkdir(mode=0o700)
    (d / "host-id").write_text("0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d\n")
    os.chmod(d / "host-id", 0o600)
    os.chown(d / "host-id", NOBODY, -1)
    r = run(["scan", "--format", "jsonl", "--state", d, target])
    assert r.rc == 2 and "owned by uid 65534" in r.err, r


def test_state_path_is_a_file(target, tmp_path):
    f = tmp_path / "state"
    f.write_text("x")
    r = run(["scan", "--format", "jsonl", "--state", f, target])
    assert r.rc == 2 and str(f) in r.err and "state directory" in r.err, r


def test_first_runs_at_once_agree(target, tmp_path):
    """Several first runs started together: one id wins, all use it."""
    from conftest import CBPSCAN
    d = tmp_path / "state"
    procs = [subprocess.Popen([str(CBPSCAN), "scan", "--format", "jsonl", "--state", str(d),
                               str(target)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(6)]
    ids = set()
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 1, err
        ids |= {line.split(b'"host_id":"')[1][:36] for line in out.splitlines()}
    assert ids == {(d / "host-id").read_text().strip().encode()}, ids
    assert sorted(os.listdir(d)) == ["host-id"]


# ---- a user other than root, without --state -----------------------------

@pytest.fixture
def nobody_home():
    """A home and an XDG state home that nobody owns, reachable by nobody."""
    prefix = as_nobody()
    if not prefix:
        pytest.skip("needs root to run as nobody")
    base = Path(tempfile.mkdtemp(prefix="cbp-home-"))
    os.chmod(base, 0o755)
    for sub in ("home", "xdg"):
        (base / sub).mkdir(mode=0o700)
        os.chown(base / sub, NOBODY, NOBODY)
    t = base / "t"
    t.mkdir()
    (t / "lpr.jpg").write_bytes(LPR_JPG)
    os.chmod(t / "lpr.jpg", 0o644)
    try:
        yield prefix, base, t
    finally:
        shutil.rmtree(base)


def nobody_env(base, xdg=None):
    env = {k: v for k, v in os.environ.items() if k != "XDG_STATE_HOME"}
    env["HOME"] = str(base / "home")
    if xdg is not None:
        env["XDG_STATE_HOME"] = xdg
    return env


def test_user_falls_back_to_own_state(nobody_home):
    """/var/lib is root's: a user's run keeps its host id in
    ~/.local/state/cbpscan and says so; $XDG_STATE_HOME when it is absolute;
    --quiet keeps the notice off standard error."""
    prefix, base, t = nobody_home
    r = scan(t, prefix=prefix, state=False, env=nobody_env(base))
    want = base / "home/.local/state/cbpscan"
    assert r.rc == 1 and f"notice: keeping the host id in {want}" in r.err, r
    assert "/var/lib/cbpscan" in r.err, r
    assert (want / "host-id").stat().st_uid == NOBODY
    assert host_ids(r) == {(want / "host-id").read_text().strip()}
    assert stat.S_IMODE(want.stat().st_mode) == 0o700

    r = scan(t, prefix=prefix, state=False, env=nobody_env(base, str(base / "xdg")))
    assert (base / "xdg/cbpscan/host-id").is_file() and str(base / "xdg/cbpscan") in r.err, r
    # A relative XDG_STATE_HOME is ignored (XDG base directory spec).
    r = scan(t, prefix=prefix, state=False, env=nobody_env(base, "relative/dir"))
    assert f"keeping the host id in {want}" in r.err and host_ids(r) == {
        (want / "host-id").read_text().strip()}, r
    q = run(["scan", "--quiet", "--format", "jsonl", t], prefix=prefix, state=False,
            env=nobody_env(base))
    assert q.rc == 1 and "notice" not in q.err, q


def test_user_named_state_does_not_fall_back(nobody_home, tmp_path):
    """A directory named with --state is used or the run fails."""
    prefix, base, t = nobody_home
    d = base / "roots-state"
    d.mkdir(mode=0o700)
    r = run(["scan", "--format", "jsonl", "--state", d, t], prefix=prefix, env=nobody_env(base))
    assert (r.rc, r.out) == (2, b"") and str(d) in r.err and "notice" not in r.err, r
    assert not (base / "home/.local").exists()
