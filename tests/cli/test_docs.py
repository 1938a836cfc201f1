"""The docs move with the code: the man page's option list and limits table
agree with `cbpscan --help` and include/cbp_limits.h, and the man pages'
EXAMPLES that can run here do run."""
import re
import subprocess
from pathlib import Path

from conftest import CBPSCAN, run

TOP = Path(__file__).resolve().parents[2]
MAN1 = (TOP / "man" / "cbpscan.1").read_text()
LIMITS_H = (TOP / "include" / "cbp_limits.h").read_text()


def c_value(name):
    """Evaluate a #define from cbp_limits.h (sizes in KiB/MiB arithmetic)."""
    defs = dict(re.findall(r"^#define (CBP_\w+)[ \t]+(.+?)(?:[ \t]*/\*.*)?$", LIMITS_H, re.M))
    expr = defs[name]
    for _ in range(5):
        expr = re.sub(r"\b(CBP_\w+)\b", lambda m: f"({defs[m.group(1)]})", expr)
    expr = expr.replace("(size_t)", "")
    return eval(expr, {"__builtins__": {}})


def man_size(text):
    n, unit = re.fullmatch(r"(\d+)(?: (KiB|MiB|GiB|s))?", text).groups()
    return int(n) * {None: 1, "s": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[unit]


MAN_TO_C = {
    "head": "CBP_HEAD_BYTES", "load_max": "CBP_LOAD_MAX", "carve_max": "CBP_CARVE_MAX",
    "hash_max": "CBP_HASH_MAX", "base64_runs": "CBP_B64_MAX_RUNS",
    "max_depth": "CBP_ARCHIVE_DEPTH", "archive_members": "CBP_ARCHIVE_MEMBERS",
    "member_max": "CBP_MEMBER_MAX", "archive_total": "CBP_ARCHIVE_TOTAL",
    "archive_ratio": "CBP_ARCHIVE_RATIO", "archive_problems": "CBP_ARCHIVE_PROBLEMS",
    "meta_fields": "CBP_META_FIELDS",
    "meta_inflate": "CBP_META_INFLATE_MAX", "ifd_entries": "CBP_META_IFD_ENTRIES",
    "record_faces": "CBP_RECORD_FACES", "carve_records": "CBP_CARVE_MAX_RECORDS",
    "rules": "CBP_RULES_MAX", "regex_steps": "CBP_PCRE2_MATCH_LIMIT",
    "yaml_file": "CBP_YAML_FILE_MAX", "yaml_depth": "CBP_YAML_DEPTH", "yaml_nodes": "CBP_YAML_NODES",
    "object_timeout": "CBP_OBJECT_TIMEOUT", "member_timeout": "CBP_MEMBER_TIMEOUT",
    "worker_memory": "CBP_WORKER_MEMORY", "split_min": "CBP_SPLIT_MIN",
}


def test_man_limits_table_matches_header():
    rows = re.findall(r"^\.It (\w+) Ta ([\w ]+?) Ta ", MAN1, re.M)
    table = {name: man_size(val) for name, val in rows if name != "Sy"}
    assert set(table) == set(MAN_TO_C), table
    for name, cname in MAN_TO_C.items():
        assert table[name] == c_value(cname), (name, table[name], c_value(cname))


def test_help_and_man_list_the_same_options():
    out = subprocess.run([CBPSCAN, "--help"], capture_output=True, text=True).stdout
    help_opts = set(re.findall(r"--([a-z][a-z-]+)", out))
    man_opts = set(re.findall(r"^\.It Fl (?:[a-z] , )?-([a-z][a-z-]+)", MAN1, re.M))
    # Delivery options are described together in one paragraph of the page.
    man_opts |= set(re.findall(r"-(endpoint-format|token-file|ca-file|client-cert|client-key|spool)\b", MAN1))
    help_opts -= {"version"}                 # a command of its own, in the SYNOPSIS
    assert help_opts == man_opts, (help_opts ^ man_opts)
    # ... and the same short forms for them.
    help_short = set(re.findall(r"^  -([a-z]), --([a-z][a-z-]+)", out, re.M))
    man_short = set(re.findall(r"^\.It Fl ([a-z]) , -([a-z][a-z-]+)", MAN1, re.M))
    assert help_short == man_short and ("q", "quiet") in help_short, (help_short, man_short)


def test_help_and_man_list_the_same_commands():
    out = subprocess.run([CBPSCAN, "--help"], capture_output=True, text=True).stdout
    usage = re.findall(r"^(?:usage:|      ) cbpscan ([a-z]+(?: (?:check|list))?) ", out, re.M)
    synopsis = MAN1[MAN1.index(".Sh SYNOPSIS"):MAN1.index(".Sh DESCRIPTION")]
    man = re.findall(r"^\.Cm ([a-z]+(?: [a-z]+)?)$", synopsis, re.M)
    assert usage == man and "rules list" in man, (usage, man)


def render(page):
    """The page as man(1) shows it, on one very long line per paragraph."""
    r = subprocess.run(["mandoc", "-Tutf8", "-O", "width=1000", str(TOP / "man" / page)],
                       capture_output=True, text=True, check=True)
    return re.sub(r".\x08", "", r.stdout)           # no overstrike bold/underline


def test_man_glitches():
    """What used to render wrong: quotes swallowed by a macro, a blank before a
    comma, a quote closed in the wrong place."""
    one, conf = render("cbpscan.1"), render("cbpscan.conf.5")
    assert '‘json.loads(line)["path"].encode("utf-8", "surrogateescape")’ gives back' in one, one
    assert "bpf, configfs, devpts," in one
    assert "instead of standard output (‘-’ is standard output)." in one, one
    assert "(fnmatch(3), so ‘*’ also matches ‘/’), and" in conf, conf
    for page in (TOP / "man").glob("*.[15]"):
        text = render(page.name)
        assert not re.search(r"\w ,", text), (page.name, re.findall(r".{30}\w ,.{10}", text))
    # Unscannable lines are where the scan met them, among the findings.
    assert "interleaved with the findings, not after them" in one


def size(text):
    n, unit = re.fullmatch(r"(\d+)([KMGT]?)", text).groups()
    return int(n) << {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[unit]


SAMPLE = (TOP / "contrib" / "cbpscan.conf").read_text()
CONF5 = (TOP / "man" / "cbpscan.conf.5").read_text()


def test_sample_config_documents_every_key_with_its_default():
    keys = re.findall(r"^\.It Ic (\w+) :", CONF5, re.M)
    limits = CONF5[CONF5.index(".It Ic limits :"):CONF5.index(".It Ic authorized :")]
    limit_keys = re.findall(r"^\.It Ic (\w+)$", limits, re.M)
    assert "authorized" in keys and "archive_ratio" in limit_keys, (keys, limit_keys)
    for k in keys:
        assert re.search(rf"^#?{k}:", SAMPLE, re.M), k
    set_limits = dict(re.findall(r"^  (\w+): (\w+)$", SAMPLE, re.M))
    assert set(set_limits) == set(limit_keys), set_limits
    for k, v in set_limits.items():
        assert size(v) == c_value(MAN_TO_C[k]), (k, v)
    assert int(re.search(r"^max_depth: (\d+)$", SAMPLE, re.M).group(1)) == c_value("CBP_ARCHIVE_DEPTH")
    assert re.search(r"^one_file_system: false$", SAMPLE, re.M) and re.search(r"^strict: false$", SAMPLE, re.M)
    # Every key the sample sets is a key of the page (a sample cannot
    # teach a key that does not exist).
    for k in re.findall(r"^(\w+):", SAMPLE, re.M):
        assert k in keys, k


def test_man_pages_render():
    pages = sorted((TOP / "man").glob("*.[15]"))
    # A glob that matched nothing would pass without rendering a page.
    assert {p.name for p in pages} >= {"cbpscan.1", "cbpscan.conf.5"}, pages
    for page in pages:
        r = subprocess.run(["mandoc", "-Tlint", "-W", "warning", str(page)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def test_man_example_rules_check_runs():
    # EXAMPLES: "cbpscan rules check /etc/cbpscan/rules", with the shipped rules.
    r = run(["rules", "check", str(TOP / "rules")])
    assert r.rc == 0, r
