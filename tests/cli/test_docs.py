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
    "worker_memory": "CBP_WORKER_MEMORY",
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
    man_opts = set(re.findall(r"^\.It Fl (?:x , )?-([a-z][a-z-]+)", MAN1, re.M))
    # Delivery options are described together in one paragraph of the page.
    man_opts |= set(re.findall(r"-(endpoint-format|token-file|ca-file|client-cert|client-key|spool)\b", MAN1))
    help_opts -= {"help", "version"}
    assert help_opts == man_opts, (help_opts ^ man_opts)


def test_man_pages_render():
    for page in (TOP / "man").glob("*.[15]"):
        r = subprocess.run(["mandoc", "-Tlint", "-W", "warning", str(page)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def test_man_example_rules_check_runs():
    # EXAMPLES: "cbpscan rules check /etc/cbpscan/rules", with the shipped rules.
    r = run(["rules", "check", str(TOP / "rules")])
    assert r.rc == 0, r
