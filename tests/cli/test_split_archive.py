"""One huge archive scanned by every worker at once (issue 8 section 4).

With more than one thread, a top-level archive of at least
limits.split_min bytes (CBP_SPLIT_MIN, 32 MiB by default) where passing a
member by is a seek (zip and its kin, uncompressed tar, cpio, iso9660) is
read in parts: the worker that identified it keeps part 0 (the members
whose index is 0 modulo the number of workers, and everything about the
file itself), the other parts go to the other workers, each a job of its
own.  Anything else (a tar.gz, where passing a member by costs its
decompression; a file that is no archive) is scanned whole by one worker.
Whatever the split, the records and the summary's counts are those of a
scan by one worker: each record once, with the same object id.

The large case is a ~40 MiB zip of incompressible members (above the
default threshold); the others lower limits.split_min in a configuration
file to keep the archives small.
"""

import io
import random
import subprocess
import tarfile
import zipfile

import pytest

from conftest import LPR, SANITIZED, Result, check_records, scan
from test_isolation import fault, faults_binary

MIB = 1 << 20


def records(r):
    """What must agree between scans: each record's identity, exactly once."""
    out = []
    for rec in r.records:
        if rec["type"] == "summary":
            continue
        what = rec["rule"] if rec["type"] == "finding" else rec["reason"]
        out.append((rec["object_id"], rec["type"], rec["path"], tuple(rec["member"]), what))
    return sorted(out)


COUNTS = ("files", "bytes", "archives", "members", "findings", "violations", "unscannable")


def counts(r):
    return {k: r.summary[k] for k in COUNTS}


def config(tmp_path, split_min):
    p = tmp_path / f"split-{split_min}.conf"
    p.write_text(f"limits:\n  split_min: {split_min}\n")
    return p


def scan_with(root, threads, cfg=None):
    args = ["--threads", str(threads)]
    if cfg is not None:
        args[:0] = ["--config", str(cfg)]
    return scan(root, args=args)


def per_worker(r):
    return r.summary["confinement"]["objects_per_worker"]


def members(lpr_jpeg, blobs, blob_size, seed=1):
    """blobs incompressible members, a plate picture after every fifth, a
    zip inside holding a plate picture, and a damaged zip (a record)."""
    rnd = random.Random(seed)
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("deep/plate.jpg", lpr_jpeg)
    out = []
    for i in range(blobs):
        out.append((f"blob{i:03d}.bin", rnd.randbytes(blob_size)))
        if i % 5 == 0:
            out.append((f"pics/p{i:03d}.jpg", lpr_jpeg))
        if i == blobs // 2:
            out.append(("nested.zip", inner.getvalue()))
            out.append(("broken.zip", b"PK\x03\x04" + rnd.randbytes(300)))
    return out


def write_zip(path, items):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in items:
            z.writestr(name, data)


def write_tar(path, items, mode):
    with tarfile.open(path, mode) as t:
        for name, data in items:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1700000000
            t.addfile(info, io.BytesIO(data))


def assert_same(one, two, archive, pictures):
    assert records(two) == records(one), (one, two)
    assert counts(two) == counts(one), (counts(one), counts(two))
    assert one.summary["files"] == 1 and one.summary["archives"] >= 1
    found = {tuple(rec["member"]) for rec in one.findings if rec["rule"] == LPR[0]}
    assert len(found) == pictures and ("nested.zip", "deep/plate.jpg") in found, found
    assert any(p["member"] == ["broken.zip"] for p in one.problems), one.problems
    assert all(rec["path"] == str(archive) for rec in one.records if rec["type"] != "summary")


def test_large_zip_two_workers_report_what_one_does(tmp_path, lpr_jpeg):
    """~40 MiB zip, default threshold: split in two, same records."""
    root = tmp_path / "t"
    root.mkdir()
    big = root / "big.zip"
    write_zip(big, members(lpr_jpeg, 40, MIB))
    assert big.stat().st_size > 32 * MIB      # CBP_SPLIT_MIN
    one = scan_with(big, 1)
    two = scan_with(big, 2)
    assert_same(one, two, big, 8 + 1)
    assert per_worker(two) == [1, 1], two.summary  # both workers took a phase
    assert per_worker(one) == [1]
    assert one.summary["members"] == 40 + 8 + 2 + 1, one.summary  # + the one inside nested.zip


@pytest.mark.parametrize("kind", ["tar", "tar.gz"])
def test_tar_split_or_not_reports_what_one_worker_does(tmp_path, lpr_jpeg, kind):
    """An uncompressed tar is read in parts; a tar.gz is not (passing a
    member by costs decompressing it): one worker scans it whole and no
    other job is made.  Records the same either way."""
    root = tmp_path / "t"
    root.mkdir()
    big = root / f"big.{kind}"
    write_tar(big, members(lpr_jpeg, 12, 256 * 1024), "w" if kind == "tar" else "w:gz")
    cfg = config(tmp_path, split_min="1M")
    one = scan_with(big, 1, cfg)
    two = scan_with(big, 2, cfg)
    assert_same(one, two, big, 3 + 1)
    assert sorted(per_worker(two)) == ([1, 1] if kind == "tar" else [0, 1]), two.summary


def test_below_the_threshold_one_worker_scans_it(tmp_path, lpr_jpeg):
    root = tmp_path / "t"
    root.mkdir()
    big = root / "big.zip"
    write_zip(big, members(lpr_jpeg, 12, 256 * 1024))
    for cfg in (config(tmp_path, split_min="64M"), config(tmp_path, split_min=0)):
        two = scan_with(big, 2, cfg)
        assert sorted(per_worker(two)) == [0, 1], two.summary
        assert len(two.findings) == 3 + 1, two


def test_a_large_file_that_is_no_archive_is_scanned_once(tmp_path, lpr_jpeg):
    """A large picture (a plate JPEG padded past the threshold): one worker
    scans it, no part goes to the other; one finding."""
    root = tmp_path / "t"
    root.mkdir()
    pic = root / "plate.jpg"
    pic.write_bytes(lpr_jpeg + b"\0" * (2 * MIB))
    two = scan_with(pic, 2, config(tmp_path, split_min="1M"))
    assert [f["rule"] for f in two.findings] == [LPR[0]], two
    assert counts(two)["files"] == 1 and sorted(per_worker(two)) == [0, 1], two.summary


def test_split_archive_among_other_files(tmp_path, tree, lpr_jpeg):
    """A large zip in the middle of a directory of small files (one batch,
    the zip neither first nor last): its parts go out while the batch goes
    on, and every file and member is reported once, as with one worker."""
    items = members(lpr_jpeg, 12, 256 * 1024)
    files = {f"d/a{i:02d}.jpg": lpr_jpeg for i in range(6)}
    root = tree(files)
    write_zip(root / "d" / "m.zip", items)
    for i in range(6):
        (root / "d" / f"z{i:02d}.jpg").write_bytes(lpr_jpeg)
    cfg = config(tmp_path, split_min="1M")
    one = scan_with(root, 1, cfg)
    two = scan_with(root, 2, cfg)
    assert records(two) == records(one), (one, two)
    assert counts(two) == counts(one), (counts(one), counts(two))
    assert one.summary["files"] == 13 and len(one.findings) == 12 + 3 + 1, one
    assert sum(per_worker(two)) >= 13 + 1, two.summary     # the zip's part 1


# ---- a member that kills its worker, in a split archive ---------------------------

def fscan(tmp_path, root, threads):
    cfg = tmp_path / "faults.conf"
    cfg.write_text("limits:\n  split_min: 1M\n  member_timeout: 5s\n")
    p = subprocess.run([str(faults_binary()), "scan", "--format", "jsonl", "--state",
                        str(tmp_path / "state"), "--config", str(cfg), "--threads",
                        str(threads), str(root)], capture_output=True, timeout=120)
    r = Result(["scan", str(root)], p.returncode, p.stdout,
               p.stderr.decode("utf-8", "replace"), True)
    check_records(r)
    return r


def fault_zip(path, lpr_jpeg, crash_at):
    """Members: 2 MiB of blobs and plate pictures, fault members at the
    given indexes (index % 2 is the phase that reads them with 2 workers)."""
    rnd = random.Random(7)
    items = []
    for i in range(16):
        if i in crash_at:
            items.append((f"crash{i:02d}.bin", fault("segv")))
        elif i % 3 == 0:
            items.append((f"p{i:02d}.jpg", lpr_jpeg))
        else:
            items.append((f"blob{i:02d}.bin", rnd.randbytes(200 * 1024)))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in items:
            z.writestr(name, data)
    return [n for n, _ in items]


def test_crash_in_a_split_archive_resumes_that_phase(tmp_path, lpr_jpeg):
    """One crashing member: its record, every other member once; the
    same records as one worker gives."""
    root = tmp_path / "t"
    root.mkdir()
    big = root / "big.zip"
    names = fault_zip(big, lpr_jpeg, {5})
    one = fscan(tmp_path, big, 1)
    two = fscan(tmp_path, big, 2)
    assert records(two) == records(one), (one, two)
    assert counts(two) == counts(one), (counts(one), counts(two))
    (p,) = two.problems
    assert p["member"] == ["crash05.bin"] and p["reason"] == "corrupt", two
    # ASan catches SIGSEGV and ends the worker its own way (exit 1).
    assert "the parser crashed" in p["detail"], p
    assert SANITIZED or "signal 11" in p["detail"], p
    pics = sorted(n for n in names if n.endswith(".jpg"))
    assert sorted(f["member"][0] for f in two.findings) == pics, two
    assert two.summary["files"] == 1 and two.summary["archives"] == 1, two.summary
    assert sum(per_worker(two)) == 2 + 1, two.summary    # two parts, one resumed


def test_a_crash_in_each_phase_is_resumed_in_each(tmp_path, lpr_jpeg):
    """A crash in phase 0's member and one in phase 1's: each phase is
    resumed once, after its own member (the resume index counts every
    member of the archive, not the phase's), so both crashing members get
    their record and every plate picture is still found once."""
    root = tmp_path / "t"
    root.mkdir()
    big = root / "big.zip"
    names = fault_zip(big, lpr_jpeg, {4, 7})
    two = fscan(tmp_path, big, 2)
    crashed = sorted(p["member"][0] for p in two.problems)
    assert crashed == ["crash04.bin", "crash07.bin"], two.problems
    assert all(p["reason"] == "corrupt" for p in two.problems), two
    pics = sorted(n for n in names if n.endswith(".jpg"))
    assert sorted(f["member"][0] for f in two.findings) == pics, two
    assert two.summary["files"] == 1 and two.summary["archives"] == 1, two.summary
    # One worker: the second crash ends the archive (resumed once only).
    one = fscan(tmp_path, big, 1)
    assert any("rest of it not scanned" in p["detail"] for p in one.problems), one
