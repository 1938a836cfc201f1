"""Under make (CBP_TEST_STRICT, as `make unit`/`make e2e`/`make check` set
it) missing reference data fails the tests, with a message that says what
is missing; outside make the tests that need it skip.  Before, `make check`
with no ../shared/testdata skipped them and still passed."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CBPSCAN

TOP = Path(__file__).resolve().parents[2]
UNITS = TOP / "build" / "tests"


def env_with(**kw):
    env = {k: v for k, v in os.environ.items() if k not in ("CBP_TEST_STRICT", "CBP_TESTDATA")}
    env.update({k: v for k, v in kw.items() if v is not None})
    return env


def test_run_units_fails_without_testdata():
    """tests/run-units.sh (make unit) stops before running anything."""
    r = subprocess.run(["sh", str(TOP / "tests" / "run-units.sh"), "/bin/true"],
                       env=env_with(CBP_TEST_STRICT="1", CBP_TESTDATA="/nonexistent"),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0, r
    assert "/nonexistent" in r.stderr and "CBP_TESTDATA" in r.stderr, r.stderr
    # Outside make the same runner just runs the binaries.
    r = subprocess.run(["sh", str(TOP / "tests" / "run-units.sh"), "/bin/true"],
                       env=env_with(CBP_TESTDATA="/nonexistent"),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r


def test_unit_binary_fails_on_missing_sample():
    """A unit test that needs a sample fails under CBP_TEST_STRICT (it
    skips, and the binary passes, without it).  test_meta and test_rules
    do the same; test_record is the quick one to run twice."""
    exe = UNITS / "test_record"
    if not exe.is_file():
        pytest.skip(f"{exe} not built (make unit builds it)")
    strict = subprocess.run([exe], env=env_with(CBP_TEST_STRICT="1", CBP_TESTDATA="/nonexistent"),
                            cwd=TOP, capture_output=True, text=True, timeout=300)
    assert strict.returncode != 0, strict
    assert "/nonexistent/" in strict.stdout + strict.stderr, strict
    lax = subprocess.run([exe], env=env_with(CBP_TESTDATA="/nonexistent"),
                         cwd=TOP, capture_output=True, text=True, timeout=300)
    assert lax.returncode == 0, lax


def test_e2e_fails_without_testdata():
    """pytest under CBP_TEST_STRICT refuses to start without the data."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           str(TOP / "tests" / "cli" / "test_docs.py"), "-k", "limits_table"]
    r = subprocess.run(cmd, env=env_with(CBP_TEST_STRICT="1", CBP_TESTDATA="/nonexistent",
                                         CBPSCAN=str(CBPSCAN)),
                       cwd=TOP, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0, r
    assert "/nonexistent" in r.stdout + r.stderr, r
    r = subprocess.run(cmd, env=env_with(CBP_TESTDATA="/nonexistent", CBPSCAN=str(CBPSCAN)),
                       cwd=TOP, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r
