"""The command line as people expect it: help on every command, one message
per usage error, -q, colour only for a terminal that shows it, a progress
line that stays on a terminal and out of the records, `rules list`, and the
sample configuration.

Terminal behaviour is tested on a real pseudo-terminal (os.openpty): the
binary's standard output and/or standard error are the pty's slave, put in
raw mode so the bytes arrive exactly as written (no \\n -> \\r\\n)."""

import os
import re
import select
import shutil
import subprocess
import threading
import time
import tty

import pytest

from cbptest import fixtures as F
from conftest import CBPSCAN, LPR, REPO, TIMEOUT, run, scan, state_dir

USAGE = "usage: cbpscan scan [OPTIONS] PATH..."


# ---- help --------------------------------------------------------------------

@pytest.mark.parametrize("args", [["scan", "-h"], ["scan", "--help"], ["-h"]])
def test_scan_help(args):
    r = run(args)
    assert (r.rc, r.err) == (0, ""), r
    text = r.out.decode()
    assert text.startswith(USAGE) and "-q, --quiet" in text and "--no-color" in text, text


@pytest.mark.parametrize("args", [["rules", "--help"], ["rules", "-h"], ["rules", "check", "--help"],
                                  ["rules", "check", "-h"], ["rules", "list", "--help"],
                                  ["rules", "list", "-h"]])
def test_rules_help(args):
    r = run(args)
    assert (r.rc, r.err) == (0, ""), r
    text = r.out.decode()
    assert "cbpscan rules check [PATH...]" in text and "cbpscan rules list [PATH...]" in text, text


# ---- one message per usage error -----------------------------------------------

USAGE_ERRORS = {
    "missing-argument": (["scan", "--format"],
                         "cbpscan: scan: option '--format' requires an argument (text|jsonl)"),
    "missing-argument-path": (["scan", "--rules"],
                              "cbpscan: scan: option '--rules' requires an argument (PATH)"),
    "unknown-long-option": (["scan", "--bogus", "."], "cbpscan: scan: unrecognized option '--bogus'"),
    "unknown-long-option-value": (["scan", "--bogus=3", "."],
                                  "cbpscan: scan: unrecognized option '--bogus'"),
    "unknown-short-option": (["scan", "-z", "."], "cbpscan: scan: unrecognized option '-z'"),
    "argument-not-taken": (["scan", "--quiet=yes", "."], "cbpscan: scan: option '--quiet' takes no argument"),
    "ambiguous-option": (["scan", "--e", "x", "."],
                         "cbpscan: scan: option '--e' is ambiguous: --endpoint, --exclude, --endpoint-format"),
    "bad-format": (["scan", "--format", "xml", "."], "cbpscan: scan: --format: 'xml' is not text or jsonl"),
    "bad-threads": (["scan", "--threads", "0", "."],
                    "cbpscan: scan: --threads: '0' is not a number from 1 to 1024 "
                    "(leave it out for one per online CPU)"),
    "bad-threads-word": (["scan", "--threads", "many", "."],
                         "cbpscan: scan: --threads: 'many' is not a number from 1 to 1024 "
                         "(leave it out for one per online CPU)"),
    "no-path": (["scan"], "cbpscan: scan: no PATH given (what should be scanned?)"),
    "no-path-after-options": (["scan", "-q", "--progress"], "cbpscan: scan: no PATH given (what should be scanned?)"),
    "no-command": ([], "cbpscan: no command given"),
    "unknown-command": (["frobnicate"], "cbpscan: unknown command 'frobnicate'"),
    "option-before-command": (["--bogus"], "cbpscan: unrecognized option '--bogus' (options follow the "
                                           "command: cbpscan scan [OPTIONS] PATH...)"),
    "unknown-rules-subcommand": (["rules", "frob"],
                                 "cbpscan: rules: unknown subcommand 'frob' (expected 'check' or 'list')"),
    "no-rules-subcommand": (["rules"], "cbpscan: rules: no subcommand given (expected 'check' or 'list')"),
    "unknown-rules-option": (["rules", "--bogus"], "cbpscan: rules: unrecognized option '--bogus'"),
    "unknown-rules-check-option": (["rules", "check", "--bogus"],
                                   "cbpscan: rules check: unrecognized option '--bogus'"),
    "unknown-rules-list-option": (["rules", "list", "-z"], "cbpscan: rules list: unrecognized option '-z'"),
}


@pytest.mark.parametrize("case", list(USAGE_ERRORS))
def test_usage_message_said_once(case):
    """The first line of stderr is the one message; then the usage lines and
    the hint, nothing else (getopt used to speak first, and ours second,
    wrong: "invalid option --format" for a missing argument)."""
    args, message = USAGE_ERRORS[case]
    r = run(args)
    assert (r.rc, r.out) == (2, b""), r
    lines = r.err.splitlines()
    assert lines[0] == message, r
    assert lines[1] == USAGE, r
    rest = lines[2:]
    assert rest[-1] == "Try 'cbpscan --help' for more information.", r
    assert all(x.startswith("       cbpscan ") for x in rest[:-1]), r


def test_short_quiet_is_quiet(tree, lpr_jpeg, plain_jpeg):
    t = tree({"lane07/0001.jpg": lpr_jpeg})
    F.make_encrypted_zip([("a.jpg", plain_jpeg)], t / "secret.zip")
    long_, short = (run(["scan", "--format", "text", q, t]) for q in ("--quiet", "-q"))
    assert long_.rc == short.rc == 1, short
    assert short.out == long_.out and len(short.out.splitlines()) == 1, short
    assert short.out.startswith(b"high "), short


# ---- rules that are not there ------------------------------------------------------

@pytest.mark.parametrize("how", ["scan", "check", "list"])
def test_missing_rules_path_says_so(tmp_path, how):
    missing = tmp_path / "no-such-rules.yaml"
    args = {"scan": ["scan", "--rules", missing, tmp_path], "check": ["rules", "check", missing],
            "list": ["rules", "list", missing]}[how]
    r = run(args)
    assert (r.rc, r.out) == (2, b""), r
    assert r.err == f"cbpscan: rules: {missing}: no such file or directory\n", r


def test_missing_rules_path_among_good_ones(tmp_path):
    """Each missing path is named; the rules that are there are still checked."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nrules:\n  - id: x\n")
    r = run(["rules", "check", tmp_path / "gone1", REPO / "rules", bad, tmp_path / "gone2"])
    assert (r.rc, r.out) == (2, b""), r
    assert f"cbpscan: rules: {tmp_path}/gone1: no such file or directory" in r.err, r
    assert f"cbpscan: rules: {tmp_path}/gone2: no such file or directory" in r.err, r
    assert re.search(rf"^{re.escape(str(bad))}:3:\d+: ", r.err, re.M), r
    assert "error in rules" in r.err or "errors in rules" in r.err, r


# ---- rules list ------------------------------------------------------------------------

def shipped_rules():
    """(id, category, severity, title) of every rule in rules/cbp-profile.yaml,
    read from the YAML text (each rule starts '  - id:')."""
    text = (REPO / "rules" / "cbp-profile.yaml").read_text()
    out = []
    for block in re.split(r"^  - (?=id:)", text, flags=re.M)[1:]:
        field = {k: re.search(rf"^\s*{k}: *(.+)$", block, re.M).group(1).strip()
                 for k in ("id", "category", "severity", "title")}
        assert "enabled: false" not in block
        out.append((field["id"], field["category"], field["severity"], field["title"]))
    return out


def test_rules_list_shipped():
    want = shipped_rules()
    assert len(want) >= 8 and len({w[0] for w in want}) == len(want)
    r = run(["rules", "list", REPO / "rules"])
    assert (r.rc, r.err) == (0, ""), r
    got = [tuple(line.split("\t")) for line in r.out.decode().splitlines()]
    assert got == want, r
    default = run(["rules", "list"])                        # the build tree's rules
    assert (default.rc, default.out) == (0, r.out), default
    n = int(run(["rules", "check"]).out.split()[0])
    assert n == len(got)


def test_rules_list_files_in_order_disabled_left_out_titles_escaped(tmp_path):
    a = tmp_path / "a.yaml"
    a.write_text("version: 1\nrules:\n"
                 "  - id: t.one\n    title: \"tab\\there, escape \\e[31m\"\n    category: plate\n"
                 "    severity: critical\n    when: {mime: [image/jpeg]}\n"
                 "  - id: t.off\n    title: disabled\n    category: plate\n    severity: high\n"
                 "    enabled: false\n    when: {mime: [image/jpeg]}\n")
    b = tmp_path / "b.yaml"
    b.write_text("version: 1\nrules:\n  - id: t.two\n    title: second file\n    category: traveler\n"
                 "    severity: info\n    when: {mime: [image/png]}\n")
    r = run(["rules", "list", b, a])
    assert (r.rc, r.err) == (0, ""), r
    assert r.out == (b"t.two\ttraveler\tinfo\tsecond file\n"
                     b"t.one\tplate\tcritical\ttab\\x09here, escape \\x1b[31m\n"), r


def test_rules_list_broken_rules(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("version: 1\nrules:\n  - id: t.x\n    title: x\n    category: plate\n"
                 "    severity: urgent\n    when: {mime: [image/jpeg]}\n")
    r = run(["rules", "list", p])
    assert (r.rc, r.out) == (2, b"") and f"{p}:6:15: " in r.err, r


# ---- colour and progress on a terminal ---------------------------------------------

def run_pty(args, env=None, stderr="pty", feed=None):
    """Run cbpscan with standard output on a pty (standard error too, or a
    pipe with stderr="pipe").  feed, if given, is called on a thread with
    the child's standard input (a pipe), which it must close.  Returns
    (status, terminal bytes, stderr text)."""
    master, slave = os.openpty()
    tty.setraw(slave)
    e = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    e["TERM"] = "xterm-256color"
    e.update(env or {})
    err = subprocess.PIPE if stderr == "pipe" else slave
    args = [str(a) for a in args]
    if args[:1] == ["scan"]:        # never the host's /var/lib/cbpscan
        args[1:1] = ["--state", state_dir()]
    p = subprocess.Popen([str(CBPSCAN), *args],
                         stdin=subprocess.PIPE if feed else subprocess.DEVNULL, stdout=slave,
                         stderr=err, env=e)
    os.close(slave)
    if feed:
        threading.Thread(target=feed, args=(p.stdin,), daemon=True).start()
    out, deadline = bytearray(), time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:                 # EIO: every holder of the slave closed it
                break
            if not chunk:
                break
            out += chunk
        errtext = p.stderr.read().decode() if p.stderr else ""
        rc = p.wait(timeout=TIMEOUT)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        if p.stderr:
            p.stderr.close()
        os.close(master)
    return rc, bytes(out), errtext


def screen_lines(raw):
    """What a terminal shows, line by line: \\r goes to column 0, ESC[K erases
    to the end of the line, other escape sequences (colours) take no room."""
    lines, cur, col = [], [], 0
    i = 0
    while i < len(raw):
        b = raw[i]
        if b == 0x1b:
            m = re.compile(rb"\x1b\[[0-9;]*([A-Za-z])").match(raw, i)
            assert m, raw[i:i + 10]
            if m.group(1) == b"K":
                del cur[col:]
            i = m.end()
            continue
        if b == 0x0d:
            col = 0
        elif b == 0x0a:
            lines.append(bytes(cur).decode("utf-8", "replace").rstrip(" "))
            cur, col = [], 0
        else:
            if col < len(cur):
                cur[col] = b
            else:
                cur.append(b)
            col += 1
        i += 1
    if cur:
        lines.append(bytes(cur).decode("utf-8", "replace").rstrip(" "))
    return lines


RED_HIGH = b"\x1b[1;31mhigh\x1b[0m"
PROGRESS = re.compile(r"^\d+ files, [\d.]+ MB, \d+ archives, \d+ findings, \d+ unscannable")


@pytest.fixture
def lpr_tree(tree, lpr_jpeg, plain_jpeg):
    t = tree({f"lane07/{i:04}.jpg": lpr_jpeg for i in range(6)})
    F.make_encrypted_zip([("a.jpg", plain_jpeg)], t / "secret.zip")
    return t


def test_colour_on_a_terminal_by_default(lpr_tree):
    rc, out, _ = run_pty(["scan", lpr_tree])
    assert rc == 1 and out.count(RED_HIGH) == 6, out


@pytest.mark.parametrize("how", ["--no-color", "TERM=dumb", "TERM unset", "NO_COLOR=1"])
def test_no_colour(lpr_tree, how):
    args, env = ["scan", lpr_tree], {}
    if how == "--no-color":
        args.insert(1, how)
    elif how == "TERM unset":
        env["TERM"] = ""
    else:
        k, v = how.split("=")
        env[k] = v
    rc, out, _ = run_pty(args, env)
    assert rc == 1 and b"\x1b" not in out, out
    assert len([x for x in out.split(b"\n") if re.match(rb"high +cbp\.plate\.lpr-record ", x)]) == 6, out


def test_no_colour_off_a_terminal(lpr_tree):
    r = run(["scan", "--format", "text", lpr_tree])
    assert r.rc == 1 and b"high" in r.out and b"\x1b" not in r.out, r


def test_progress_off_a_terminal_writes_nothing(lpr_tree):
    r = run(["scan", "--format", "jsonl", "--progress", lpr_tree], parse=True)
    assert r.rc == 1 and len(r.findings) == 6 and r.err == "", r
    # Records on a terminal, standard error a pipe: still nothing.
    rc, out, err = run_pty(["scan", "--progress", lpr_tree], stderr="pipe")
    assert rc == 1 and err == "" and b"files/s" not in out, (out, err)


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_progress_never_runs_into_a_record(lpr_tree, fmt):
    """Records and the progress line share the terminal: the line is erased
    (\\r ESC[K) right before every record and drawn again right after, and
    what the terminal shows is each record on a line of its own."""
    rc, out, _ = run_pty(["scan", "--progress", "--no-color", "--format", fmt, lpr_tree,
                          lpr_tree / "gone"])
    assert rc == 2, out
    starts = rb'high +cbp\.plate|unscannable |\{"type":"(?:finding|unscannable)"|cbpscan: '
    records = list(re.finditer(rb"(?:" + starts + rb")[^\n]*\n", out))
    # 6 findings, the encrypted member, the missing root (record and message)
    assert len(records) == 9, out
    for m in records:
        assert out[:m.start()].endswith(b"\r\x1b[K"), (m.group(), out)
        assert PROGRESS.match(out[m.end():].decode()), (m.group(), out)
    shown = screen_lines(out)
    for line in shown:
        if PROGRESS.search(line):                 # a progress line is a line of its own
            assert PROGRESS.match(line) and line.endswith(" s"), shown
    recs = [x for x in shown if re.match(starts.decode(), x)]
    assert len(recs) == 9, shown
    # Every line drawn before a record was erased; the last one stays, ended.
    assert len([x for x in shown if PROGRESS.match(x)]) == 1, shown


@pytest.mark.parametrize("term", ["xterm", "dumb"])
def test_progress_redrawn_while_a_record_waits(lpr_tree, lpr_jpeg, term):
    """A scan that outlasts a few redraws (standard input, written after
    2.5 s): the line is rewritten in place every second, and still every
    record lands on a line of its own, and one progress line stays."""
    def feed(fp):
        time.sleep(2.5)
        fp.write(lpr_jpeg)
        fp.close()
    rc, out, _ = run_pty(["scan", "--progress", "--no-color", "--threads", "1", lpr_tree, "-"],
                         {"TERM": term}, feed=feed)
    assert rc == 1, out
    shown = screen_lines(out)
    recs = [x for x in shown if re.match(r"(high +cbp\.plate\.lpr-record|unscannable) ", x)]
    assert len(recs) == 8, shown
    assert [x for x in recs if re.match(r"high +cbp\.plate\.lpr-record +-  COM: LPR;", x)], shown
    assert len([x for x in shown if PROGRESS.search(x)]) == 1, shown
    assert all(PROGRESS.match(x) for x in shown if PROGRESS.search(x)), shown


def test_progress_on_a_dumb_terminal(lpr_tree):
    """No ESC[K there: the line is overwritten with spaces instead."""
    rc, out, _ = run_pty(["scan", "--progress", lpr_tree], {"TERM": "dumb"})
    assert rc == 1 and b"\x1b" not in out, out
    shown = screen_lines(out)
    assert len([x for x in shown if re.match(r"high +cbp\.plate\.lpr-record ", x)]) == 6, shown
    assert len([x for x in shown if PROGRESS.search(x)]) == 1, shown


def test_progress_quiet_has_none(lpr_tree):
    rc, out, _ = run_pty(["scan", "--progress", "--quiet", lpr_tree])
    assert rc == 1 and b"files/s" not in out and b"\r" not in out, out


# ---- the sample configuration --------------------------------------------------------

SAMPLE = REPO / "contrib" / "cbpscan.conf"


def test_sample_config_is_accepted_and_changes_nothing(tree, lpr_jpeg, plain_jpeg):
    t = tree({"a/x.jpg": lpr_jpeg, "b/y.jpg": plain_jpeg})
    F.make_zip([("lane/1.jpg", lpr_jpeg)], path=t / "exp.zip")
    plain, conf = scan(t), scan(t, args=["--config", SAMPLE])
    assert plain.rc == conf.rc == 1, conf
    key = lambda r: sorted((f["path"], f["member"], f["rule"], f["disposition"])  # noqa: E731
                           for f in r.findings)
    assert key(conf) == key(plain) and len(conf.findings) == 2, conf
    for k in ("files", "archives", "members", "findings", "violations", "unscannable"):
        assert conf.summary[k] == plain.summary[k], (k, conf.summary, plain.summary)


def test_sample_config_as_root_from_a_trusted_place(tmp_path, tree, lpr_jpeg):
    """The copy `make install` puts in place is a root-owned 0644 file."""
    t = tree({"x.jpg": lpr_jpeg})
    p = tmp_path / "cbpscan.conf"
    shutil.copyfile(SAMPLE, p)
    os.chmod(p, 0o644)
    r = scan(t, args=["--config", p])
    assert r.rules(t / "x.jpg") == {LPR}, r


def test_sample_config_installed():
    r = subprocess.run(["make", "-n", "-C", str(REPO), "install", "DESTDIR=/nonexistent/dest",
                        "DATADIR=/usr/share/cbpscan"], capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^install -m 644 contrib/cbpscan\.conf "
                     r"/nonexistent/dest/usr/share/cbpscan/cbpscan\.conf\.sample$", r.stdout, re.M), r.stdout
