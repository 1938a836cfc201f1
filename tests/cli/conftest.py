"""Shared helpers for the cbpscan end-to-end tests.

CBPSCAN       the binary (default <repo>/build/cbpscan)
CBP_TESTDATA  shared test data (default <repo>/../shared/testdata)
CBP_SANITIZED set by `make e2e-asan`: tests marked slow are skipped
CBP_TEST_STRICT set by make: missing test data fails the run instead of
              skipping the tests that need it (a check that passes by
              skipping proves nothing)

Every `scan` run gets `--state DIR` (a directory of this session, one per
user the run is made as) unless the test names its own, so no test ever
creates or reads /var/lib/cbpscan.
"""

import atexit
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

# The shared test library (fixtures for tests, seeds and the benchmark).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
from cbptest import fixtures as F  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CBPSCAN = Path(os.environ.get("CBPSCAN", REPO / "build" / "cbpscan"))
SANITIZED = bool(os.environ.get("CBP_SANITIZED"))
STRICT = bool(os.environ.get("CBP_TEST_STRICT"))
TESTDATA = F.testdata()
TIMEOUT = 60

SEVERITIES = ("info", "low", "medium", "high", "critical")
REASONS = ("encrypted", "limit", "corrupt", "permission", "io", "timeout", "changed", "nomem")

# The shipped rules (rules/cbp-profile.yaml) as (rule, category, severity).
LPR = ("cbp.plate.lpr-record", "plate", "high")
LPR_NAME = ("cbp.plate.lpr-filename", "plate", "low")
CROP = ("cbp.plate.crop-shape", "plate", "low")
LPR_NAME_CROP = ("cbp.plate.lpr-filename-crop", "plate", "medium")
ISO = ("cbp.traveler.iso19794-5", "traveler", "high")
ISO_EMBEDDED = ("cbp.traveler.iso19794-5-embedded", "traveler", "medium")
AN2 = ("cbp.traveler.ansi-nist-type10", "traveler", "high")
AN2_EMBEDDED = ("cbp.traveler.ansi-nist-embedded", "traveler", "medium")
CAPTURE = ("cbp.traveler.capture-record", "traveler", "high")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: skipped under ASan (CBP_SANITIZED)")


def pytest_collection_modifyitems(config, items):
    if SANITIZED:
        skip = pytest.mark.skip(reason="slow; skipped under ASan (CBP_SANITIZED)")
        for it in items:
            if "slow" in it.keywords:
                it.add_marker(skip)


DEFAULT_STATE = Path("/var/lib/cbpscan")
_DEFAULT_STATE_BEFORE = []


def _state_snapshot():
    try:
        st = DEFAULT_STATE.stat()
        return (st.st_ino, st.st_mtime_ns)
    except FileNotFoundError:
        return None


def pytest_sessionfinish(session, exitstatus):
    """No test may create or change the real state directory: every scan
    must name one (run() does; tests calling the binary themselves pass
    state_dir())."""
    if _DEFAULT_STATE_BEFORE and _state_snapshot() != _DEFAULT_STATE_BEFORE[0]:
        sys.stderr.write(f"\nERROR: a test created or changed {DEFAULT_STATE}: every scan "
                         "must pass --state (conftest.state_dir())\n")
        session.exitstatus = 1


def pytest_sessionstart(session):
    _DEFAULT_STATE_BEFORE.append(_state_snapshot())
    if not CBPSCAN.is_file() or not os.access(CBPSCAN, os.X_OK):
        raise pytest.UsageError(f"cbpscan binary not found at {CBPSCAN} (set CBPSCAN)")
    if STRICT and not TESTDATA.is_dir():
        raise pytest.UsageError(
            f"test data not found at {TESTDATA}: check out ../shared/testdata or set "
            "CBP_TESTDATA (under make, CBP_TEST_STRICT, tests that need it fail, not skip)")


def missing(what):
    """Test data the test needs is absent: skip, or under make fail."""
    msg = f"test data missing: {what}"
    if STRICT:
        pytest.fail(msg + " (CBP_TEST_STRICT: set CBP_TESTDATA or check out ../shared/testdata)")
    pytest.skip(msg)


def need_testdata(*rel):
    p = TESTDATA.joinpath(*rel)
    if not p.exists():
        missing(p)
    return p


def masked(value):
    """The contract's masking: first and last two characters kept."""
    return "*" * len(value) if len(value) <= 4 else value[:2] + "*" * (len(value) - 4) + value[-2:]


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def fsbytes(p):
    return os.fsencode(p) if not isinstance(p, bytes) else p


class Result:
    """One cbpscan run: exit status, raw output, parsed JSON Lines records."""

    def __init__(self, args, rc, out, err, parse):
        self.args, self.rc, self.out, self.err = args, rc, out, err
        self.records = None
        if parse:
            text = out.decode("utf-8")          # the contract: UTF-8, strictly
            self.records = [json.loads(line) for line in text.splitlines() if line]

    def __repr__(self):
        return (f"<cbpscan {' '.join(map(str, self.args))!r} rc={self.rc} "
                f"stderr={self.err[-2000:]!r} records={self.records!r:.6000}>")

    def of(self, kind):
        return [r for r in self.records if r.get("type") == kind]

    @property
    def findings(self):
        return self.of("finding")

    @property
    def problems(self):
        return self.of("unscannable")

    @property
    def summary(self):
        assert self.records and self.records[-1]["type"] == "summary", self
        return self.records[-1]

    def at(self, path, member=(), kind="finding"):
        p = os.fsdecode(fsbytes(path))
        return [r for r in self.of(kind) if r["path"] == p and r["member"] == list(member)]

    def rules(self, path, member=()):
        """{(rule, category, severity)} of the findings for path/member."""
        return {(f["rule"], f["category"], f["severity"]) for f in self.at(path, member)}

    def under(self, path, kind="finding"):
        """Records for path, any member chain."""
        p = os.fsdecode(fsbytes(path))
        return [r for r in self.of(kind) if r["path"] == p]

    def violations(self):
        """The findings the summary counts as violations (docs/contract.md)."""
        return [f for f in self.findings if f["disposition"] in ("violation", "retention")]


_STATE_BASE = []


def state_dir(uid=None):
    """This session's state directory for runs as uid (default: this user):
    made on first use, 0700 and owned by uid, under a root-owned 0755
    directory so that uid can reach it."""
    uid = os.geteuid() if uid is None else uid
    if not _STATE_BASE:
        base = tempfile.mkdtemp(prefix="cbp-state-")
        os.chmod(base, 0o755)
        atexit.register(shutil.rmtree, base, True)
        _STATE_BASE.append(base)
    d = os.path.join(_STATE_BASE[0], f"uid-{uid}")
    if not os.path.isdir(d):
        os.mkdir(d, 0o700)
        if uid != os.geteuid():
            os.chown(d, uid, -1)
    return d


def prefix_uid(prefix):
    """The uid a run prefix (setpriv --reuid=N ...) runs cbpscan as."""
    for a in prefix:
        if isinstance(a, str) and a.startswith("--reuid="):
            return int(a.split("=", 1)[1])
    return None


def run(args, timeout=TIMEOUT, parse=False, prefix=(), env=None, cwd=None, state=True):
    """Run cbpscan with args; parse stdout as JSON Lines when parse is set.
    A scan gets this session's --state unless args name one or state is
    False (a test of the default state directory)."""
    args = list(args)
    if state and args and args[0] == "scan" and not any(
            isinstance(a, str) and a.startswith("--state") for a in args):
        args = ["scan", "--state", state_dir(prefix_uid(prefix)), *args[1:]]
    cmd = [*prefix, str(CBPSCAN), *[fsbytes(a) if isinstance(a, (bytes, Path)) else a
                                    for a in args]]
    p = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env, cwd=cwd)
    return Result(args, p.returncode, p.stdout, p.stderr.decode("utf-8", "replace"), parse)


def scan(*paths, args=(), check=True, **kw):
    """`cbpscan scan --format jsonl ARGS PATHS`; by default every record is
    checked against the contract (check_records)."""
    r = run(["scan", "--format", "jsonl", *args, *paths], parse=True, **kw)
    if check:
        check_records(r)
    return r


ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ISO_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")


DISPOSITIONS = ("violation", "retention", "review", "authorized")
SUMMARY_SEVERITIES = ("critical", "high", "medium", "low", "info")


def fsenc(s):
    """A record's string back to the bytes it names (surrogateescape)."""
    return s.encode("utf-8", "surrogateescape")


def uuid8(digest):
    """man cbpscan(1), RECORD IDS: the first 16 bytes of a SHA-256, version 8."""
    b = bytearray(digest[:16])
    b[6] = (b[6] & 0x0F) | 0x80
    b[8] = (b[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(b)))


def object_id(rec):
    """object_id as the man page defines it, from the record alone."""
    what = rec["rule"] if rec["type"] == "finding" else rec["reason"]
    fields = [b"cbpscan-object-v1", rec["host_id"].encode(), rec["type"].encode(),
              fsenc(rec["path"]), *map(fsenc, rec["member"]), what.encode()]
    return uuid8(hashlib.sha256(b"\0".join(fields)).digest())


def event_id(rec, seq):
    fields = [b"cbpscan-event-v1", rec["host_id"].encode(), rec["scan_id"].encode(),
              rec["type"].encode(), rec.get("object_id", "").encode(), str(seq).encode()]
    return uuid8(hashlib.sha256(b"\0".join(fields)).digest())


def check_ids(records):
    """Every record carries the run's ids; object_id and event_id are what
    the man page says, recomputed here; event ids are unique in the run."""
    seen = {}
    for rec in records:
        for k in ("scan_id", "host_id", "event_id"):
            assert UUID.match(rec[k]), (k, rec)
        assert ISO_MS_Z.match(rec["time"]) and rec["time"].count(".") == 1, rec
        assert isinstance(rec["host"], str) and rec["host"], rec
        if rec["type"] in ("finding", "unscannable"):
            assert rec["object_id"] == object_id(rec), rec
        else:
            assert "object_id" not in rec, rec
        key = (rec["type"], rec.get("object_id", ""))
        assert rec["event_id"] == event_id(rec, seen.get(key, 0)), rec
        seen[key] = seen.get(key, 0) + 1
    assert len({x["scan_id"] for x in records}) == 1, records
    assert len({x["host_id"] for x in records}) == 1, records
    assert len({x["host"] for x in records}) == 1, records
    assert len({x["event_id"] for x in records}) == len(records), records


def check_records(r, strict=False):
    """The JSON Lines contract, for every record of a run."""
    assert r.rc in (0, 1), r
    assert r.records, r
    for rec in r.records[:-1]:
        assert rec.get("type") in ("finding", "unscannable"), rec
        assert isinstance(rec["path"], str) and rec["path"], rec
        assert isinstance(rec["member"], list) and all(isinstance(m, str) for m in rec["member"]), rec
        if rec["type"] == "finding":
            assert isinstance(rec["rule"], str) and rec["rule"], rec
            assert rec["category"] in ("plate", "traveler", "known"), rec
            assert rec["severity"] in SEVERITIES, rec
            assert isinstance(rec["size"], int) and rec["size"] >= 0, rec
            assert ISO_Z.match(rec["mtime"]), rec
            assert HEX64.match(rec["sha256"]), rec
            # A hash over fewer bytes than the object holds says so; a
            # whole one carries neither field.
            assert ("sha256_partial" in rec) == ("sha256_bytes" in rec), rec
            if "sha256_partial" in rec:
                assert rec["sha256_partial"] is True, rec
                assert isinstance(rec["sha256_bytes"], int) and 0 <= rec["sha256_bytes"], rec
            assert isinstance(rec["mime"], str) and "/" in rec["mime"], rec
            assert isinstance(rec["evidence"], str), rec
            assert rec["disposition"] in DISPOSITIONS, rec
            # A low heuristic is "review" wherever it is, and only it is.
            assert (rec["disposition"] == "review") == (rec["severity"] in ("low", "info")
                                                        and rec["disposition"] != "authorized"), rec
            if rec["disposition"] == "authorized":
                assert rec["severity"] == "info", rec
        else:
            assert rec["reason"] in REASONS, rec
            assert isinstance(rec["detail"], str) and rec["detail"], rec
    check_ids(r.records)
    s = r.summary
    assert [x["type"] for x in r.records].count("summary") == 1, r
    for k in ("files", "bytes", "archives", "members", "findings", "violations", "unscannable"):
        assert isinstance(s[k], int) and s[k] >= 0, (k, s)
    assert ISO_MS_Z.match(s["started"]) and ISO_MS_Z.match(s["finished"]), s
    assert s["started"] <= s["finished"], s
    assert isinstance(s["elapsed_s"], (int, float)) and s["elapsed_s"] >= 0, s
    assert s["host"] == socket.gethostname(), s
    assert s["exit"] == r.rc, (s, r.rc)
    assert s["version"] == cbpscan_version(), s
    assert s["rules"] is None or HEX64.match(s["rules"]), s
    assert isinstance(s["roots"], list) and s["roots"] and all(isinstance(x, str) for x in s["roots"]), s
    assert s["complete"] is True, s             # rc 0 or 1: the run finished
    assert list(s["severity"]) == list(SUMMARY_SEVERITIES), s
    assert s["severity"] == {v: sum(1 for f in r.findings if f["severity"] == v)
                             for v in SUMMARY_SEVERITIES}, s
    assert set(s["skipped"]) == {"symlink", "fifo", "socket", "device", "excluded",
                                 "other_fs", "vanished"}, s
    assert s["findings"] == len(r.findings), r
    assert s["unscannable"] == len(r.problems), r
    # violations: exactly the findings whose disposition is violation or
    # retention; --strict raises the exit status for unscannable objects
    # but never adds them to violations.
    assert s["violations"] == len(r.violations()), r
    strict = strict or "--strict" in r.args
    assert r.rc == (1 if s["violations"] or (strict and r.problems) else 0), r


_VERSION = []


def cbpscan_version():
    if not _VERSION:
        out = subprocess.run([str(CBPSCAN), "--version"], capture_output=True, check=True).stdout
        _VERSION.append(out.decode().split()[-1])
    return _VERSION[0]


def write_tree(root, files):
    """files: {relative path (str or bytes): bytes}.  Returns root."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        p = os.path.join(fsbytes(root), fsbytes(rel))
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as fp:
            fp.write(data)
    return root


@pytest.fixture
def tree(tmp_path):
    """tree({rel: bytes}) -> a fresh directory holding those files."""
    def make(files, name="t"):
        return write_tree(tmp_path / name, files)
    return make


# Pictures used by many tests: built once.
@pytest.fixture(scope="session")
def lpr_jpeg():
    return F.jpeg_with(F.jpeg(320, 240, seed=2), "com", F.LPR_TEXT)


@pytest.fixture(scope="session")
def plain_jpeg():
    return F.jpeg(320, 240, seed=3)
