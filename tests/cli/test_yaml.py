"""The configuration and the rules share one hardened YAML layer (scanner/yaml.c)
and one grammar for booleans, numbers, sizes and durations (issue 7, section 3):
no input can make loading hang, every error names file:line:col, and a value
means the same in the config, in a rule file and on the command line."""
import os
import re
from pathlib import Path

import pytest

from conftest import run, scan

REPO = Path(__file__).resolve().parents[2]
HANG_SEED = REPO / "tests" / "fuzz" / "seeds" / "fuzz_rules" / "libfyaml-directive-bad-utf8-hang.yaml"

# Generous: the point is only that nothing hangs (it used to, for ever).
NO_HANG = 60

RULE = """rules:
  - id: t.x
    title: T
    category: plate
    severity: high
{extra}    when: {when}
"""


def config_error(r, cfg):
    """(line, col, message) of the one error, after checking exit 2 and no output."""
    assert (r.rc, r.out) == (2, b""), r
    m = re.search(rf"{re.escape(str(cfg))}:(\d+):(\d+): (.*)", r.err)
    assert m, r
    return int(m.group(1)), int(m.group(2)), m.group(3)


def rules_check(tmp_path, text, name="r.yaml"):
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p, run(["rules", "check", p], timeout=NO_HANG)


# ---- the hang ------------------------------------------------------------------------

def test_config_with_invalid_utf8_seed_fails_cleanly(tmp_path):
    # libfyaml 0.7.12 loops for ever in fy_scan_directive() on a '%' line with
    # an invalid byte; `scan --config` on this seed never returned.
    assert b"\n%" in HANG_SEED.read_bytes()
    r = run(["scan", "--config", HANG_SEED, tmp_path], timeout=NO_HANG)
    line, col, msg = config_error(r, HANG_SEED)
    assert (line, col) == (6, 19) and msg.startswith("invalid UTF-8 (byte 0xBB)"), r
    assert "UTF-8 text" in msg, r


def test_invalid_utf8_named_at_first_bad_byte(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes(b'exclude: ["caf\xc3\xa9", "x\xff"]\n')
    r = run(["scan", "--config", cfg, tmp_path], timeout=NO_HANG)
    assert config_error(r, cfg)[:2] == (1, 21), r
    # The same check, the same words, for a rule file.
    p, r = rules_check(tmp_path, b"rules: []\n%x\xbb\n")
    assert r.rc == 2 and f"{p}:2:3: invalid UTF-8 (byte 0xBB)" in r.err, r


def test_control_characters_refused(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes(b"threads: 2\nstrict: tr\x01ue\n")
    line, col, msg = config_error(run(["scan", "--config", cfg, tmp_path]), cfg)
    assert (line, col) == (2, 11) and "control character 0x01" in msg


# ---- what is read ----------------------------------------------------------------------

def test_config_fifo_refused_without_blocking(tmp_path):
    fifo = tmp_path / "c.yaml"
    os.mkfifo(fifo)
    r = run(["scan", "--config", fifo, tmp_path], timeout=NO_HANG)
    assert (r.rc, r.out) == (2, b"") and f"{fifo}: the configuration file is not a regular file" in r.err, r


def test_config_symlink_named_is_followed_once(tmp_path):
    """A link named on the command line is resolved once (as sudo and ssh do)
    and the file it leads to is what is checked and loaded, as root or not;
    its errors name the real file."""
    real = tmp_path / "real.yaml"
    real.write_text("threads: 0\n")
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    r = run(["scan", "--config", link, tmp_path])
    assert r.rc == 2 and f"{real}:1:10: threads: 0 is out of range" in r.err, r
    real.write_text("threads: 2\n")
    assert run(["scan", "--config", link, tmp_path]).rc == 0


def test_symlink_inside_rules_dir_refused(tmp_path):
    """Links met inside a rules directory are not followed: the directory's
    owner vouches for its files, not for what they point to."""
    d = tmp_path / "rules"
    d.mkdir()
    other = tmp_path / "elsewhere.yaml"
    other.write_text("rules: []\n")
    (d / "x.yaml").symlink_to(other)
    r = run(["rules", "check", d])
    assert r.rc == 2 and "symbolic link" in r.err, r


def test_size_cap_for_config_and_rules(tmp_path):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as f:
        f.write(b"# " + b"x" * 100 + b"\n")
        f.truncate(16 * 1024 * 1024 + 1)          # CBP_YAML_FILE_MAX + 1
    r = run(["scan", "--config", big, tmp_path], timeout=NO_HANG)
    assert (r.rc, r.out) == (2, b"") and f"{big}: the configuration file is too large" in r.err, r
    r = run(["rules", "check", big], timeout=NO_HANG)
    assert r.rc == 2 and f"{big}: the rule file is too large" in r.err, r


def test_node_cap(tmp_path):
    # 1000001 scalars in 2 MB: far under the size cap, over CBP_YAML_NODES.
    text = "mask_keys: [" + "a," * 1000000 + "a]\nrules: []\n"
    p, r = rules_check(tmp_path, text)
    assert r.rc == 2 and "more than 1000000 YAML nodes" in r.err, r
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text.replace("mask_keys", "exclude"))
    line, col, msg = config_error(run(["scan", "--config", cfg, tmp_path], timeout=NO_HANG), cfg)
    assert msg.startswith("more than 1000000 YAML nodes"), msg


def test_aliases_are_never_expanded(tmp_path):
    # Billion laughs: nine levels of ten aliases each, 10^9 strings if expanded.
    lines = ['a0: &a0 "lol"']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("\n".join(lines) + "\n")
    line, col, msg = config_error(run(["scan", "--config", cfg, tmp_path], timeout=NO_HANG), cfg)
    assert (line, col, msg) == (2, 10, "YAML aliases are not supported (write the value out)")
    # An alias for a value a key would accept is refused as well.
    cfg.write_text("threads: &t 2\nmax_depth: *t\n")
    assert config_error(run(["scan", "--config", cfg, tmp_path]), cfg) == \
        (2, 12, "YAML aliases are not supported (write the value out)")


def test_duplicate_config_key_refused(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("limits:\n  load_max: 1M\n  load_max: 2M\n")
    line, col, msg = config_error(run(["scan", "--config", cfg, tmp_path]), cfg)
    assert (line, col) == (3, 3) and msg.startswith("limits: duplicate key 'load_max'"), msg


# ---- one grammar ----------------------------------------------------------------------------

def test_threads_zero_refused_in_config_and_on_command_line(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("threads: 0\n")
    line, col, msg = config_error(run(["scan", "--config", cfg, tmp_path]), cfg)
    assert (line, col) == (1, 10) and msg.startswith("threads: 0 is out of range (1 to 1024"), msg
    r = run(["scan", "--threads", "0", tmp_path])
    assert (r.rc, r.out) == (2, b"") and "--threads: '0' is not a number from 1 to 1024" in r.err, r
    # Both accept the same numbers, and the config's value is used.
    for good in ("1", "1024", "0x10"):
        cfg.write_text(f"threads: {good}\n")
        assert run(["scan", "--config", cfg, tmp_path]).rc == 0, good
        assert run(["scan", "--threads", good, tmp_path]).rc == 0, good
    for bad in ("1025", "-1", "+2", " 2", "2.0", "2k"):
        cfg.write_text(f"threads: '{bad}'\n")       # quoted: the position is inside
        assert config_error(run(["scan", "--config", cfg, tmp_path]), cfg)[:2] == (1, 11), bad
        assert run(["scan", "--threads", bad, tmp_path]).rc == 2, bad


@pytest.mark.parametrize("size", ["1G", "1GB", "1GiB", "1g", "1073741824", "0x40000000"])
def test_sizes_mean_the_same_in_config_and_rules(tmp_path, size):
    # The config took 1GB and 1GiB but not hex; the rules took hex but not GB,
    # GiB or lowercase g.  Now both take every spelling the man pages give.
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"limits:\n  carve_max: {size}\n")
    r = run(["scan", "--config", cfg, tmp_path])
    assert r.rc == 0, r
    p, r = rules_check(tmp_path, RULE.format(extra="", when=f"{{size: {{max: {size}}}}}"))
    assert r.rc == 0, r


def test_size_errors_name_the_grammar(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("limits:\n  load_max: 12Q\n")
    line, col, msg = config_error(run(["scan", "--config", cfg, tmp_path]), cfg)
    assert (line, col) == (2, 13) and msg.startswith("load_max: '12Q' is not a size (a whole number with an optional K, M, G or T suffix"), msg
    p, r = rules_check(tmp_path, RULE.format(extra="", when="{size: {min: 12Q}}"))
    assert r.rc == 2 and f"{p}:6:24: 'min': '12Q' is not a size (a whole number with an optional K, M, G or T suffix" in r.err, r


@pytest.mark.parametrize("word,ok", [("true", True), ("True", True), ("FALSE", True),
                                     ("yes", False), ("no", False), ("on", False), ("1", False)])
def test_booleans_mean_the_same_in_config_and_rules(tmp_path, word, ok):
    # The config took yes/no and not True; the rules took tRuE and not yes.
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"strict: {word}\n")
    r = run(["scan", "--config", cfg, tmp_path])
    p, rr = rules_check(tmp_path, RULE.format(extra=f"    enabled: {word}\n", when="{name: x}"))
    if ok:
        assert r.rc == 0 and rr.rc == 0, (r, rr)
    else:
        line, col, msg = config_error(r, cfg)
        assert (line, col) == (1, 9) and msg == f"strict: '{word}' is not true or false " \
            "(write true or false; yes, no, on and off are not accepted)", msg
        assert rr.rc == 2 and f"{p}:6:14: 'enabled': '{word}' is not true or false" in rr.err, rr
    # Mixed case other than the YAML 1.2 spellings is refused too.
    cfg.write_text("strict: tRuE\n")
    assert config_error(run(["scan", "--config", cfg, tmp_path]), cfg)[:2] == (1, 9)


def test_durations(tmp_path, tree, lpr_jpeg):
    t = tree({"authz/x.jpg": lpr_jpeg})
    cfg = tmp_path / "c.yaml"
    for good in ("30d", "12h", "90m", "3600s", "3600", "2w", "1y"):
        cfg.write_text(f"authorized:\n  - path: \"{t}/authz/*\"\n    retention: {good}\n")
        r = scan(t, args=["--config", cfg])
        assert [f["disposition"] for f in r.findings] == ["authorized"], (good, r)
    for bad in ("30D", "1.5d", "d", "1dd", "-1d", "99999999999999999999s", "0x10"):
        cfg.write_text(f"authorized:\n  - path: /x\n    retention: {bad}\n")
        line, col, msg = config_error(run(["scan", "--config", cfg, tmp_path]), cfg)
        assert (line, col) == (3, 16) and msg.startswith("authorized: retention must be a duration"), (bad, msg)
