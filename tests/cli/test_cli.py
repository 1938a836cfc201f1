"""The command-line contract (docs/contract.md): commands, options, exit
statuses, output destinations and formats, configuration."""

import json
import os
import re
import subprocess
import time

import pytest

from cbptest import fixtures as F
from conftest import CBPSCAN, LPR, REPO, check_records, run, scan, state_dir

CONTRACT_OPTIONS = ["--rules", "--known", "--format", "--output", "--threads", "--endpoint",
                    "--config", "-x", "--one-file-system", "--exclude", "--max-depth", "--quiet",
                    "-q", "--progress", "--no-color", "--strict", "--endpoint-format",
                    "--token-file", "--ca-file", "--client-cert", "--client-key", "--spool"]


def test_version():
    r = run(["--version"])
    assert r.rc == 0 and re.fullmatch(rb"cbpscan \d+\.\d+\.\d+\n", r.out), r


@pytest.mark.parametrize("args", [["--help"], ["scan", "--help"]])
def test_help_lists_every_option(args):
    r = run(args)
    assert r.rc == 0, r
    text = r.out.decode()
    for cmd in ("scan [OPTIONS] PATH...", "rules check [PATH...]", "rules list [PATH...]",
                "--version | --help"):
        assert cmd in text
    for opt in CONTRACT_OPTIONS:
        assert re.search(rf"(^|[\s,]){re.escape(opt)}\b", text, re.M), opt


@pytest.mark.parametrize("args,message", [
    ([], "no command given"),
    (["scan"], "no PATH given"),
    (["scan", "--format", "xml", "."], "--format: 'xml' is not text or jsonl"),
    (["scan", "--threads", "0", "."], "--threads: '0' is not a number from 1 to 1024"),
    (["scan", "--threads", "abc", "."], "--threads: 'abc' is not a number from 1 to 1024"),
    (["scan", "--threads", "-4", "."], "--threads: '-4' is not a number"),
    (["scan", "--max-depth", "x", "."], "--max-depth: 'x' is not a number from 0 to 64"),
    (["scan", "--bogus", "."], "unrecognized option '--bogus'"),
    (["scan", "--endpoint-format", "xml", "."], "--endpoint-format: 'xml' is not ndjson, splunk-hec or elastic-bulk"),
    (["scan", "--token-file", "/etc/token", "."], "--token-file needs an endpoint"),
    (["flush", "--bogus"], "unrecognized option '--bogus'"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["rules", "frob"], "unknown subcommand 'frob'"),
])
def test_usage_errors(args, message):
    r = run(args)
    assert (r.rc, r.out) == (2, b""), r
    assert message in r.err and "usage: cbpscan scan [OPTIONS] PATH..." in r.err, r


# ---- rules check ----------------------------------------------------------------

def test_rules_check_shipped():
    r = run(["rules", "check", REPO / "rules"])
    assert r.rc == 0, r
    assert re.fullmatch(rb"\d+ rules compiled, no errors\n", r.out), r
    n = int(r.out.split()[0])
    assert n >= 8
    r2 = run(["rules", "check"])                     # default: the build tree's rules
    assert (r2.rc, r2.out) == (0, r.out), r2


GOOD_RULES = """\
version: 1
rules:
  - id: test.plate.com
    title: plate read in a JPEG comment
    category: plate
    severity: high
    when:
      mime: [image/jpeg]
      meta: {fields: [COM], regex: 'PLATE=[A-Z0-9]{2,10}'}
"""
# kind -> (text, line, col, message part) of a broken rule file
BROKEN_RULES = {
    "yaml-syntax": (GOOD_RULES.replace("category: plate", "category: plate: x"), 5, 20,
                    "YAML syntax error"),
    "yaml-tab": (GOOD_RULES.replace("    severity: high", "\tseverity: high"), 6, 2,
                 "YAML syntax error: invalid tab"),
    "unknown-key": (GOOD_RULES.replace("    severity: high\n", "    severity: high\n    severty: low\n"),
                    7, 5, "unknown key 'severty'"),
    "duplicate-key": (GOOD_RULES.replace("    severity: high\n", "    severity: high\n    severity: low\n"),
                      7, 5, "duplicate key 'severity'"),
    "bad-regex": (GOOD_RULES.replace("'PLATE=[A-Z0-9]{2,10}'", "'PLATE=([A-Z0-9]{2,10}'"),
                  9, 58, "bad regex: missing closing parenthesis"),
    "bad-severity": (GOOD_RULES.replace("severity: high", "severity: urgent"), 6, 15,
                     "bad severity 'urgent'"),
    "unknown-condition": (GOOD_RULES.replace("mime: [image/jpeg]", "mimetype: [image/jpeg]"), 8, 7,
                          "unknown key 'mimetype'"),
}


def test_rules_check_good_file(tmp_path):
    p = tmp_path / "ok.yaml"
    p.write_text(GOOD_RULES)
    r = run(["rules", "check", p])
    assert (r.rc, r.out) == (0, b"1 rule compiled, no errors\n"), r


@pytest.mark.parametrize("kind", list(BROKEN_RULES))
def test_rules_check_broken(tmp_path, kind):
    text, line, col, what = BROKEN_RULES[kind]
    p = tmp_path / "broken.yaml"
    p.write_text(text)
    r = run(["rules", "check", p])
    assert (r.rc, r.out) == (2, b""), r
    m = re.search(rf"^{re.escape(str(p))}:(\d+):(\d+): (.*)$", r.err, re.M)
    assert m, r
    assert int(m.group(1)) == line, r
    if col is not None:
        assert int(m.group(2)) == col, r
    assert what in m.group(3), r
    # A scan with the same rules refuses to start.
    s = run(["scan", "--rules", p, tmp_path])
    assert (s.rc, s.out) == (2, b"") and str(p) in s.err, s


def test_rules_check_reports_every_error(tmp_path):
    text = (GOOD_RULES.replace("severity: high", "severity: urgent")
            .replace("'PLATE=[A-Z0-9]{2,10}'", "'PLATE=([A-Z0-9]{2,10}'")
            .replace("    title:", "    titel:"))
    p = tmp_path / "many.yaml"
    p.write_text(text)
    r = run(["rules", "check", p])
    assert r.rc == 2, r
    assert re.findall(rf"^{re.escape(str(p))}:(\d+):(\d+): ", r.err, re.M) == \
        [("4", "5"), ("3", "5"), ("6", "15"), ("9", "58")], r
    assert "4 errors in rules" in r.err


def test_rules_check_missing_file(tmp_path):
    r = run(["rules", "check", tmp_path / "nope.yaml"])
    assert r.rc == 2 and "nope.yaml" in r.err, r


# ---- exit statuses ---------------------------------------------------------------

def test_exit_0_clean_tree(tree):
    t = tree({"a/holiday.jpg": F.jpeg(800, 600), "a/notes.txt": b"PLATE=7ABC123 in a text\n",
              "a/crop.jpg": F.jpeg(400, 100)})
    r = scan(t)
    assert r.rc == 0 and not r.violations(), r
    assert r.summary["files"] == 3


def test_exit_1_violation(tree, lpr_jpeg):
    t = tree({"lane/0001.jpg": lpr_jpeg})
    r = scan(t)
    assert r.rc == 1 and r.rules(t / "lane/0001.jpg") == {LPR}, r


def test_strict_unscannable_only(tree, plain_jpeg):
    t = tree({})
    F.make_encrypted_zip([("holiday.jpg", plain_jpeg)], t / "secret.zip")
    r = scan(t)
    assert r.rc == 0 and [p["reason"] for p in r.problems] == ["encrypted"], r
    s = scan(t, args=["--strict"])
    # --strict raises the exit status; the object is counted as
    # unscannable, never as a violation (docs/contract.md).
    assert s.rc == 1 and s.summary["violations"] == 0 and s.summary["unscannable"] == 1, s
    assert not s.findings, s


def test_default_format_is_jsonl_when_not_a_terminal(tree, lpr_jpeg):
    t = tree({"x.jpg": lpr_jpeg})
    r = run(["scan", t], parse=True)
    check_records(r)
    assert r.rules(t / "x.jpg") == {LPR}


def test_output_file(tree, lpr_jpeg, tmp_path):
    t = tree({"x.jpg": lpr_jpeg})
    out = tmp_path / "records.jsonl"
    r = run(["scan", "--output", out, t])
    assert (r.rc, r.out) == (1, b""), r
    r.records = [json.loads(x) for x in out.read_text().splitlines()]
    check_records(r)
    assert r.rules(t / "x.jpg") == {LPR}


def test_output_unwritable(tree, lpr_jpeg, tmp_path):
    t = tree({"x.jpg": lpr_jpeg})
    r = run(["scan", "--output", tmp_path / "no" / "such" / "dir.jsonl", t])
    assert (r.rc, r.out) == (2, b"") and "cannot open for writing" in r.err, r


def text_scan(*args):
    return run(["scan", "--format", "text", *args])


def test_text_format(tree, lpr_jpeg):
    t = tree({"lane07/0001.jpg": lpr_jpeg, "ok.jpg": F.jpeg()})
    r = text_scan(t)
    assert r.rc == 1, r
    lines = r.out.decode().splitlines()
    (line,) = [x for x in lines if x.startswith("high")]
    assert re.match(rf"^high +cbp\.plate\.lpr-record +{re.escape(str(t))}/lane07/0001\.jpg  COM: ", line)
    assert "PLATE=7A***23" in line and "7ABC123" not in r.out.decode()
    summary = [x for x in lines if x.startswith("Scanned ")]
    assert summary and re.match(r"^Scanned 2 files \(.*\), 0 archives with 0 members in [\d.]+ s: "
                                r"1 finding, 1 violation, 0 unscannable\.$", summary[0]), lines
    assert "Exit status 1: violations found." in lines
    assert not re.search(rb"[\x00-\x09\x0b-\x1f\x7f]", r.out), r.out


def test_text_quiet(tree, lpr_jpeg, plain_jpeg):
    t = tree({"lane07/0001.jpg": lpr_jpeg})
    F.make_encrypted_zip([("a.jpg", plain_jpeg)], t / "secret.zip")
    loud, quiet = text_scan(t), text_scan("--quiet", t)
    assert loud.rc == quiet.rc == 1
    assert b"Scanned " in loud.out and b"unscannable encrypted " in loud.out, loud
    q = quiet.out.decode().splitlines()
    assert len(q) == 1 and q[0].startswith("high "), quiet


def test_progress_on_stderr(tree, lpr_jpeg):
    """Progress is for a terminal (test_cli_ux.py drives one); into a pipe
    or a log file it writes nothing."""
    t = tree({"x.jpg": lpr_jpeg})
    r = run(["scan", "--format", "jsonl", "--progress", t], parse=True)
    check_records(r)
    assert r.err == "", r
    quiet = run(["scan", "--format", "jsonl", "--quiet", t], parse=True)
    assert quiet.err == "" and quiet.records[-1]["type"] == "summary", quiet


# ---- walk options ---------------------------------------------------------------------

def test_exclude_name_and_path_globs(tree, lpr_jpeg):
    t = tree({"keep/a.jpg": lpr_jpeg, "keep/b.png": F.png_with(F.png(), "png-text", F.LPR_TEXT),
              "skip/c.jpg": lpr_jpeg, "deep/skip/d.jpg": lpr_jpeg})
    paths = lambda r: sorted(os.path.relpath(f["path"], t) for f in r.findings)  # noqa: E731
    assert paths(scan(t)) == ["deep/skip/d.jpg", "keep/a.jpg", "keep/b.png", "skip/c.jpg"]
    assert paths(scan(t, args=["--exclude", "*.jpg"])) == ["keep/b.png"]
    assert paths(scan(t, args=["--exclude", "skip"])) == ["keep/a.jpg", "keep/b.png"]
    assert paths(scan(t, args=["--exclude", f"{t}/skip"])) == ["deep/skip/d.jpg", "keep/a.jpg",
                                                               "keep/b.png"]
    assert paths(scan(t, args=["--exclude", "*/skip/*"])) == ["keep/a.jpg", "keep/b.png"]
    r = scan(t, args=["--exclude", "*.jpg", "--exclude", "*.png"])
    assert r.rc == 0 and r.summary["files"] == 0, r


@pytest.mark.parametrize("opt", ["-x", "--one-file-system"])
def test_one_file_system(tree, lpr_jpeg, opt):
    t = tree({"a/x.jpg": lpr_jpeg})
    r = scan(t, args=[opt])
    assert r.rc == 1 and r.rules(t / "a/x.jpg") == {LPR}, r


def test_several_roots_and_file_root(tree, lpr_jpeg):
    t = tree({"a/x.jpg": lpr_jpeg, "b/y.jpg": lpr_jpeg, "c/z.jpg": lpr_jpeg})
    r = scan(t / "a", t / "b/y.jpg")
    assert sorted(f["path"] for f in r.findings) == [str(t / "a/x.jpg"), str(t / "b/y.jpg")]
    assert r.summary["files"] == 2


def test_missing_root(tmp_path):
    r = scan(tmp_path / "does-not-exist", check=False)
    (p,) = r.problems
    assert (p["path"], p["reason"]) == (str(tmp_path / "does-not-exist"), "io"), r
    assert (r.rc, r.summary["complete"]) == (2, False), r    # never reads as clean


# ---- archive depth -------------------------------------------------------------------

def test_max_depth(tree, lpr_jpeg):
    inner = F.make_zip([("lane07/0001.jpg", lpr_jpeg)])
    t = tree({})
    F.make_tar([("exports/2019.zip", inner)], path=t / "backup.tar.gz")
    F.make_zip([("0002.jpg", lpr_jpeg)], path=t / "flat.zip")
    bk, flat = t / "backup.tar.gz", t / "flat.zip"

    r = scan(t)                                              # default depth 8
    assert r.rules(bk, ["exports/2019.zip", "lane07/0001.jpg"]) == {LPR}
    assert r.rules(flat, ["0002.jpg"]) == {LPR} and not r.problems

    r = scan(t, args=["--max-depth", "0"])
    assert not r.findings and r.rc == 0, r
    assert sorted((p["path"], p["reason"]) for p in r.problems) == [(str(bk), "limit"), (str(flat), "limit")]

    r = scan(t, args=["--max-depth", "1"])
    assert [(f["path"], f["member"]) for f in r.findings] == [(str(flat), ["0002.jpg"])], r
    assert [(p["path"], p["member"], p["reason"]) for p in r.problems] == \
        [(str(bk), ["exports/2019.zip"], "limit")], r

    r = scan(t, args=["--max-depth", "2"])
    assert r.rules(bk, ["exports/2019.zip", "lane07/0001.jpg"]) == {LPR} and not r.problems


# ---- configuration -------------------------------------------------------------------

DAY = 86400


def test_config_authorized_and_retention(tree, lpr_jpeg, tmp_path):
    t = tree({"authz/young.jpg": lpr_jpeg, "authz/old.jpg": lpr_jpeg, "elsewhere/x.jpg": lpr_jpeg})
    old = time.time() - 400 * DAY
    os.utime(t / "authz/old.jpg", (old, old))
    cfg = tmp_path / "cbpscan.yaml"
    cfg.write_text(f"authorized:\n  - path: \"{t}/authz/*\"\n    retention: 30d\n")
    args = ["--config", cfg]

    r = scan(t / "authz/young.jpg", args=args)
    (f,) = r.findings
    assert (f["rule"], f["severity"], f["disposition"], r.rc) == (LPR[0], "info", "authorized", 0), r

    r = scan(t / "authz/old.jpg", args=args)
    (f,) = r.findings
    assert (f["rule"], f["severity"], f["disposition"], r.rc) == (LPR[0], "high", "retention", 1), r

    r = scan(t / "elsewhere", args=args)
    (f,) = r.findings
    assert (f["severity"], f["disposition"], r.rc) == ("high", "violation", 1), r

    r = scan(t, args=args)
    assert sorted((os.path.relpath(f["path"], t), f["disposition"]) for f in r.findings) == \
        [("authz/old.jpg", "retention"), ("authz/young.jpg", "authorized"),
         ("elsewhere/x.jpg", "violation")]
    assert r.summary["violations"] == 2


def test_config_no_retention_limit(tree, lpr_jpeg, tmp_path):
    t = tree({"authz/old.jpg": lpr_jpeg})
    os.utime(t / "authz/old.jpg", (1, 1))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"authorized:\n  - path: \"{t}/authz/*\"\n")
    r = scan(t, args=["--config", cfg])
    assert r.rc == 0 and [f["disposition"] for f in r.findings] == ["authorized"], r


def scan_workers(cfg, tmp_path, lpr_jpeg):
    """Parser worker processes of a scan, as its summary says."""
    t = tmp_path / "w"
    t.mkdir(exist_ok=True)
    (t / "x.jpg").write_bytes(lpr_jpeg)
    r = run(["scan", "--format", "jsonl", "--config", cfg, t], parse=True)
    return r.summary["confinement"]["workers"]


def test_config_settings_apply(tree, lpr_jpeg, tmp_path):
    """Each setting of the file takes effect, each seen in what it changes."""
    inner = F.make_zip([("lane07/0001.jpg", lpr_jpeg)])
    t = tree({"a/x.jpg": lpr_jpeg, "skip/y.jpg": lpr_jpeg, "mnt/.keep": b""})
    F.make_zip([("exports/2019.zip", inner)], path=t / "nest.zip")
    (t / "big.xml").write_text("<doc>" + "x" * (3 << 20) + "</doc>\n")
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "cbptest", str(t / "mnt")], capture_output=True).returncode == 0
    cfg = tmp_path / "c.yaml"
    cfg.write_text("threads: 3\nexclude: [skip]\nstrict: true\nmax_depth: 1\n"
                   "one_file_system: true\nlimits:\n  load_max: 1M\n")
    try:
        if mounted:
            (t / "mnt/z.jpg").write_bytes(lpr_jpeg)
        r = scan(t, args=["--config", cfg], check=False)
    finally:
        if mounted:
            subprocess.run(["umount", str(t / "mnt")], check=False)
    # exclude: skip/ is not walked; one_file_system: mnt/ is not entered.
    assert [os.path.relpath(f["path"], t) for f in r.findings] == ["a/x.jpg"], r
    assert r.summary["skipped"]["excluded"] == 1, r
    if mounted:
        assert r.summary["skipped"]["other_fs"] == 1, r
    # max_depth 1: the zip inside the zip is not opened; load_max 1M: the
    # 3 MiB markup is searched only that far.
    assert sorted((os.path.relpath(p["path"], t), p["member"], p["reason"]) for p in r.problems) == [
        ("big.xml", [], "limit"), ("nest.zip", ["exports/2019.zip"], "limit")], r
    # strict: those unscannable objects are counted as unscannable, never
    # as violations (contract.md); that strict alone raises the exit status
    # is test_records.py::test_dispositions_agree_with_the_summary to show,
    # on a tree without violations.
    assert (r.summary["violations"], r.summary["unscannable"], r.rc) == (1, 2, 1), r
    # threads: that many parser worker processes.
    one = tmp_path / "one.yaml"
    one.write_text("threads: 1\n")
    assert (scan_workers(cfg, tmp_path, lpr_jpeg), scan_workers(one, tmp_path, lpr_jpeg)) == (3, 1)


@pytest.mark.parametrize("text,line,col,what", [
    ("threads: 2\nthread: 4\n", 2, 1, "unknown key 'thread'"),
    ("threads: many\n", 1, 10, "threads: 'many' is not a whole number"),
    ("threads: 2\nexclude: [a, b\nstrict: true\n", None, None, "YAML syntax error"),
    ("threads: 2\nexclude: a: b\n", 2, 11, "YAML syntax error"),
    ("authorized:\n  - path: /srv/x\n    retention: soon\n", 3, 16, "retention must be a duration"),
    ("limits:\n  load_max: 1G\n  bogus: 3\n", 3, 3, "limits: unknown key 'bogus'"),
], ids=["unknown-key", "bad-number", "yaml-unclosed", "yaml-syntax", "bad-retention", "unknown-limit"])
def test_bad_config(tmp_path, text, line, col, what):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    r = run(["scan", "--config", cfg, tmp_path])
    assert (r.rc, r.out) == (2, b""), r
    m = re.search(rf"{re.escape(str(cfg))}:(\d+):(\d+): (.*)", r.err)
    assert m and what in m.group(3), r
    if line is not None:
        assert (int(m.group(1)), int(m.group(2))) == (line, col), r


def test_config_missing_and_world_writable(tmp_path):
    r = run(["scan", "--config", tmp_path / "none.yaml", tmp_path])
    assert r.rc == 2 and f"{tmp_path}/none.yaml: cannot read the configuration" in r.err, r
    cfg = tmp_path / "ww.yaml"
    cfg.write_text("threads: 1\n")
    os.chmod(cfg, 0o666)
    r = run(["scan", "--config", cfg, tmp_path])
    assert r.rc == 2 and "world-writable" in r.err, r
