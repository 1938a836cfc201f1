"""Nothing an attacker on the host can steer (issue 7, section 3).

Where data files come from: the rules and the compiled magic database are
taken only from the build tree the binary sits in or from the install
prefix, never from the current directory.  An "installed" copy of the
binary is made in a temporary prefix, started in a directory holding a
hostile ./rules and build/cbpscan.mgc, and must not use them.

Root's trust in its inputs: as root, a configuration, rule or magic file
owned by another user or writable by group/others (or under a directory
that is) is refused with a message saying which, why and what to do.

--output: never follows a symbolic link, never blocks on a FIFO, creates
the file 0600 whatever the umask, --append appends.
"""

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import CBPSCAN, LPR, REPO, TIMEOUT, run, scan, state_dir

NOBODY = 65534
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="ownership checks apply to root only")

EVIL_RULES = (b"version: 1\nrules:\n  - id: evil.nothing\n    title: nothing\n"
              b"    category: plate\n    severity: low\n    when:\n"
              b"      mime: [application/x-nothing]\n")
EVIL_MAGIC = b"0\tstring\tNOTHINGATALL\tnothing\n!:mime\tapplication/x-nothing\n"


def compile_magic(src, dst):
    """file -C on src (a magic source), result moved to dst."""
    d = src.parent
    subprocess.run(["file", "-C", "-m", src.name], cwd=d, check=True, capture_output=True)
    os.replace(d / (src.name + ".mgc"), dst)


def hostile_cwd(base):
    """A directory an attacker controls: ./rules with a rule matching nothing
    and a magic source, and build/cbpscan.mgc that identifies nothing."""
    evil = base / "evil"
    (evil / "rules").mkdir(parents=True)
    (evil / "build").mkdir()
    (evil / "rules" / "evil.yaml").write_bytes(EVIL_RULES)
    (evil / "rules" / "cbpscan.magic").write_bytes(EVIL_MAGIC)
    compile_magic(evil / "rules" / "cbpscan.magic", evil / "build" / "cbpscan.mgc")
    return evil


def installed_copy(base, with_data=False):
    """The binary copied to base/inst/bin; with_data: the build-tree layout
    (bin/cbpscan.mgc beside it and ../rules)."""
    bindir = base / "inst" / "bin"
    bindir.mkdir(parents=True)
    exe = bindir / "cbpscan"
    shutil.copy2(CBPSCAN, exe)
    if with_data:
        shutil.copy2(CBPSCAN.parent / "cbpscan.mgc", bindir / "cbpscan.mgc")
        shutil.copytree(REPO / "rules", base / "inst" / "rules")
    return exe


def run_exe(exe, args, cwd):
    if args and args[0] == "scan":           # never the real /var/lib/cbpscan
        args = ["scan", "--state", state_dir(), *args[1:]]
    p = subprocess.run([str(exe), *map(str, args)], capture_output=True, cwd=cwd,
                       timeout=TIMEOUT)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def installed_has_data():
    return os.path.exists("/usr/local/share/cbpscan/cbpscan.mgc")


# ---- where data files come from ------------------------------------------------


def test_data_never_from_cwd(tmp_path, tree, lpr_jpeg):
    """An installed binary started in a hostile directory does not take its
    ./rules or build/cbpscan.mgc: it fails saying where it looked (or, if
    the prefix holds data, uses that and finds the plate)."""
    t = tree({"lane07/0001.jpg": lpr_jpeg})
    evil = hostile_cwd(tmp_path)
    exe = installed_copy(tmp_path)
    rc, out, err = run_exe(exe, ["scan", "--format", "jsonl", t], cwd=evil)
    if installed_has_data():
        assert rc == 1 and LPR[0].encode() in out, (rc, out, err)
    else:
        assert rc == 2, (rc, out, err)
        assert "looked in" in err and str(tmp_path / "inst" / "bin") in err, err
        assert "/usr/local/share/cbpscan" in err and "current directory" in err, err
        assert b'"type":"finding"' not in out and b"evil" not in out, out


def test_magic_never_from_cwd(tmp_path, tree, lpr_jpeg):
    """With the rules named explicitly, the magic database still never comes
    from ./build/cbpscan.mgc."""
    t = tree({"lane07/0001.jpg": lpr_jpeg})
    evil = hostile_cwd(tmp_path)
    exe = installed_copy(tmp_path)
    rc, out, err = run_exe(exe, ["scan", "--format", "jsonl", "--rules",
                                 REPO / "rules", t], cwd=evil)
    if installed_has_data():
        assert rc == 1 and LPR[0].encode() in out, (rc, out, err)
    else:
        assert rc == 2 and "cbpscan.mgc" in err and "looked in" in err, (rc, out, err)
        assert b'"type":"finding"' not in out, out


def test_rules_check_never_from_cwd(tmp_path):
    evil = hostile_cwd(tmp_path)
    exe = installed_copy(tmp_path)
    rc, out, err = run_exe(exe, ["rules", "check"], cwd=evil)
    if not installed_has_data():
        assert rc == 2 and "looked in" in err, (rc, out, err)
    assert b"1 rule compiled" not in out, (rc, out, err)


def test_data_from_own_build_tree(tmp_path, tree, lpr_jpeg):
    """The build-tree layout (bin/cbpscan + bin/cbpscan.mgc + ../rules) is
    found through the binary's own location, from any directory."""
    t = tree({"lane07/0001.jpg": lpr_jpeg})
    evil = hostile_cwd(tmp_path)
    exe = installed_copy(tmp_path, with_data=True)
    rc, out, err = run_exe(exe, ["scan", "--format", "jsonl", t], cwd=evil)
    assert rc == 1 and LPR[0].encode() in out, (rc, out, err)


# ---- root's trust in its inputs ------------------------------------------------


def lpr_tree(tree, lpr_jpeg):
    return tree({"lane07/0001.jpg": lpr_jpeg})


@root_only
def test_config_owned_by_other_refused(tmp_path, tree, lpr_jpeg):
    """A config owned by nobody that authorizes everything would turn every
    finding into info: refused."""
    t = lpr_tree(tree, lpr_jpeg)
    cfg = tmp_path / "c.yaml"
    cfg.write_text('authorized:\n  - path: "*"\n')
    os.chown(cfg, NOBODY, NOBODY)
    r = run(["scan", "--format", "jsonl", "--config", cfg, t])
    assert r.rc == 2 and r.out == b"", r
    assert str(cfg) in r.err and "owned by uid 65534" in r.err and "chown root" in r.err, r
    # The same file made root's: accepted, and it does authorize.
    os.chown(cfg, 0, 0)
    r = scan(t, args=["--config", cfg])
    assert r.rc == 0 and r.findings and all(f["disposition"] == "authorized" for f in r.findings), r


@root_only
def test_config_in_other_users_dir_refused(tmp_path, tree, lpr_jpeg):
    t = lpr_tree(tree, lpr_jpeg)
    d = tmp_path / "home"
    d.mkdir()
    cfg = d / "c.yaml"
    cfg.write_text("threads: 1\n")
    os.chown(d, NOBODY, NOBODY)
    r = run(["scan", "--config", cfg, t])
    assert r.rc == 2 and f"the directory {d} above it is owned by uid 65534" in r.err, r


@root_only
def test_rules_file_world_writable_refused(tmp_path, tree, lpr_jpeg):
    t = lpr_tree(tree, lpr_jpeg)
    rf = tmp_path / "r.yaml"
    shutil.copy(REPO / "rules" / "cbp-profile.yaml", rf)
    os.chmod(rf, 0o666)
    r = run(["scan", "--format", "jsonl", "--rules", rf, t])
    assert r.rc == 2 and r.out == b"", r
    assert str(rf) in r.err and "world-writable" in r.err and "chmod go-w" in r.err, r
    r = run(["rules", "check", rf])
    assert r.rc == 2 and "world-writable" in r.err, r
    os.chmod(rf, 0o644)
    r = scan(t, args=["--rules", rf])
    assert r.rc == 1 and r.rules(t / "lane07/0001.jpg") >= {LPR}, r


@root_only
def test_rules_dir_with_foreign_file_refused(tmp_path, tree, lpr_jpeg):
    """A root-owned rules directory holding a file nobody owns."""
    t = lpr_tree(tree, lpr_jpeg)
    rd = tmp_path / "rules"
    rd.mkdir()
    shutil.copy(REPO / "rules" / "cbp-profile.yaml", rd / "a.yaml")
    (rd / "b.yaml").write_bytes(EVIL_RULES)
    os.chown(rd / "b.yaml", NOBODY, NOBODY)
    r = run(["scan", "--rules", rd, t])
    assert r.rc == 2 and str(rd / "b.yaml") in r.err and "owned by uid 65534" in r.err, r
    os.chmod(rd, 0o777)
    os.chown(rd / "b.yaml", 0, 0)
    r = run(["rules", "check", rd])
    assert r.rc == 2 and f"{rd}: world-writable (mode 0777)" in r.err, r
    assert "takes no orders from a directory others can change" in r.err, r
    # A file in it: the directory above is named.
    r = run(["rules", "check", rd / "a.yaml"])
    assert r.rc == 2 and f"the directory {rd} above it is world-writable" in r.err, r


@root_only
def test_magic_db_world_writable_refused(tmp_path, tree, lpr_jpeg):
    t = lpr_tree(tree, lpr_jpeg)
    exe = installed_copy(tmp_path, with_data=True)
    mgc = exe.parent / "cbpscan.mgc"
    os.chmod(mgc, 0o666)
    rc, out, err = run_exe(exe, ["scan", "--format", "jsonl", t], cwd=tmp_path)
    assert rc == 2 and out == b"", (rc, out, err)
    assert str(mgc) in err and "world-writable" in err, err
    os.chmod(mgc, 0o644)
    os.chown(exe.parent, NOBODY, NOBODY)
    rc, out, err = run_exe(exe, ["scan", "--format", "jsonl", t], cwd=tmp_path)
    assert rc == 2 and "owned by uid 65534" in err, err


@root_only
def test_build_tree_may_be_owned_by_binary_owner(tmp_path, tree, lpr_jpeg):
    """Root running a binary trusts its owner with its code already: the
    build tree's data may be that user's (a developer's tree, a CI
    checkout), but not a third user's."""
    t = lpr_tree(tree, lpr_jpeg)
    exe = installed_copy(tmp_path, with_data=True)
    inst = tmp_path / "inst"
    for p in [inst, *inst.rglob("*")]:
        os.chown(p, NOBODY, NOBODY)
    rc, out, err = run_exe(exe, ["scan", "--format", "jsonl", t], cwd=tmp_path)
    assert rc == 1 and LPR[0].encode() in out, (rc, out, err)
    os.chown(exe.parent / "cbpscan.mgc", NOBODY - 1, NOBODY - 1)
    rc, out, err = run_exe(exe, ["scan", "--format", "jsonl", t], cwd=tmp_path)
    assert rc == 2 and f"owned by uid {NOBODY - 1}" in err, (rc, out, err)
    os.chown(exe.parent / "cbpscan.mgc", NOBODY, NOBODY)
    os.chown(inst / "rules" / "cbp-profile.yaml", NOBODY - 1, NOBODY - 1)
    rc, out, err = run_exe(exe, ["scan", "--format", "jsonl", t], cwd=tmp_path)
    assert rc == 2 and "cbp-profile.yaml" in err and f"owned by uid {NOBODY - 1}" in err, err
    # Rules named explicitly are held to root's rule even from that tree.
    os.chown(inst / "rules" / "cbp-profile.yaml", NOBODY, NOBODY)
    rc, out, err = run_exe(exe, ["scan", "--rules", inst / "rules", t], cwd=tmp_path)
    assert rc == 2 and "owned by uid 65534" in err, err


@root_only
def test_root_owned_inputs_accepted(tmp_path, tree, lpr_jpeg):
    """The normal case: root's 0644 files in root's 0755 directories (under
    a 0700 mkdtemp directory in sticky /tmp)."""
    t = lpr_tree(tree, lpr_jpeg)
    etc = tmp_path / "etc"
    etc.mkdir(mode=0o755)
    (etc / "rules").mkdir(mode=0o755)
    shutil.copy(REPO / "rules" / "cbp-profile.yaml", etc / "rules" / "p.yaml")
    os.chmod(etc / "rules" / "p.yaml", 0o644)
    cfg = etc / "cbpscan.conf"
    cfg.write_text(f"rules: [\"{etc / 'rules'}\"]\nthreads: 2\n")
    os.chmod(cfg, 0o644)
    r = scan(t, args=["--config", cfg])
    assert r.rc == 1 and r.rules(t / "lane07/0001.jpg") >= {LPR}, r


def test_not_root_not_refused():
    """A user's own run reads the user's own files: no refusal.  As root,
    the run is made as nobody with nobody's world-writable rule file."""
    d = Path(tempfile.mkdtemp(prefix="cbp-steer-"))
    try:
        rf = d / "r.yaml"
        shutil.copy(REPO / "rules" / "cbp-profile.yaml", rf)
        os.chmod(rf, 0o666)
        os.chmod(d, 0o777)
        pre = None
        if os.geteuid() == 0:
            os.chown(rf, NOBODY, NOBODY)
            os.chown(d, NOBODY, NOBODY)

            def pre():
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
        p = subprocess.run([str(CBPSCAN), "rules", "check", str(rf)], capture_output=True,
                           timeout=TIMEOUT, preexec_fn=pre)
        assert p.returncode == 0 and b"compiled, no errors" in p.stdout, p
    finally:
        shutil.rmtree(d)


# ---- --output ------------------------------------------------------------------


def test_output_refuses_symlink(tmp_path, tree, lpr_jpeg):
    t = lpr_tree(tree, lpr_jpeg)
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    link = tmp_path / "out.jsonl"
    link.symlink_to(victim)
    r = run(["scan", "--output", link, t])
    assert r.rc == 2 and "symbolic link" in r.err, r
    assert victim.read_bytes() == b"precious\n"


def test_output_refuses_fifo_without_blocking(tmp_path, tree, lpr_jpeg):
    t = lpr_tree(tree, lpr_jpeg)
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    r = run(["scan", "--output", fifo, t], timeout=30)
    assert r.rc == 2 and "FIFO" in r.err, r
    # Also with a reader on the other end: still refused.
    rd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        r = run(["scan", "--output", fifo, t], timeout=30)
        assert r.rc == 2 and "FIFO" in r.err, r
    finally:
        os.close(rd)


def test_output_created_0600(tmp_path, tree, lpr_jpeg):
    t = lpr_tree(tree, lpr_jpeg)
    out = tmp_path / "o.jsonl"
    p = subprocess.run(["sh", "-c", 'umask 0; exec "$@"', "sh", str(CBPSCAN), "scan",
                        "--state", state_dir(), "--format", "jsonl", "--output", str(out), str(t)],
                       capture_output=True, timeout=TIMEOUT)
    assert p.returncode == 1, p
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    p = subprocess.run(["sh", "-c", 'umask 0777; exec "$@"', "sh", str(CBPSCAN), "scan",
                        "--state", state_dir(), "--format", "jsonl",
                        "--output", str(tmp_path / "o2.jsonl"), str(t)],
                       capture_output=True, timeout=TIMEOUT)
    assert p.returncode == 1, p
    assert stat.S_IMODE(os.stat(tmp_path / "o2.jsonl").st_mode) == 0o600
    assert b'"type":"summary"' in (tmp_path / "o2.jsonl").read_bytes()


def test_output_truncates_or_appends(tmp_path, tree, lpr_jpeg):
    t = lpr_tree(tree, lpr_jpeg)
    out = tmp_path / "o.jsonl"
    out.write_bytes(b"old line that must go\n" * 100)
    r = run(["scan", "--format", "jsonl", "--output", out, t])
    assert r.rc == 1, r
    first = out.read_bytes()
    assert b"old line" not in first and first.count(b'"type":"summary"') == 1
    r = run(["scan", "--format", "jsonl", "--append", "--output", out, t])
    assert r.rc == 1, r
    both = out.read_bytes()
    assert both.startswith(first) and both.count(b'"type":"summary"') == 2


def test_output_char_device_allowed(tree, lpr_jpeg):
    """An explicitly named character device (/dev/null) is fine."""
    t = lpr_tree(tree, lpr_jpeg)
    r = run(["scan", "--output", "/dev/null", t])
    assert r.rc == 1 and r.err == "", r
