"""Archives wherever they hide (issue 9, section 3): containers libarchive
reads that do not start at byte 0 or that the head's magic number alone
does not name.  Each form holds a plate image (an LPR record in a JPEG
comment) and must be expanded: archives >= 1, the finding on the member,
exit 1 (a violation).  And the probes that find them must not cost the
objects that hide nothing: an ordinary executable is not read past its
head, an unknown binary only in its last 4 KiB.
"""

import io
import os
import shutil
import struct
import subprocess
import tarfile
import zlib

import pytest

from cbptest import fixtures as F
from conftest import CBPSCAN, LPR, missing, scan

LPR_JPG = F.jpeg_with(F.jpeg(320, 240, seed=90), "com", F.LPR_TEXT)
NAME = "lane07/0001.jpg"


def elf_stub():
    """A real executable of this system: the stub of a self-extractor."""
    with open("/usr/bin/true", "rb") as f:
        data = f.read()
    assert data[:4] == b"\x7fELF"
    return data


def pe_stub():
    """A minimal PE: MZ header, PE signature, COFF header with one section
    of 0x200 bytes at 0x200 (no optional header).  The overlay, where a
    self-extractor keeps its archive, starts at 0x400."""
    mz = bytearray(0x40)
    mz[0:2] = b"MZ"
    struct.pack_into("<I", mz, 0x3C, 0x40)
    coff = b"PE\0\0" + struct.pack("<HHIIIHH", 0x14C, 1, 0, 0, 0, 0, 0x0102)
    section = struct.pack("<8sIIIIIIHHI", b".text", 0x200, 0x1000, 0x200, 0x200, 0, 0, 0, 0, 0x60000020)
    head = bytes(mz) + coff + section
    return head + b"\0" * (0x200 - len(head)) + b"\xc3" * 0x200


def tar_of(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 1559304794
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def seven_zip(tmp_path):
    if shutil.which("7z") is None:
        missing("7z (p7zip-full)")
    src = tmp_path / "7src"
    (src / "lane07").mkdir(parents=True)
    (src / NAME).write_bytes(LPR_JPG)
    out = tmp_path / "a.7z"
    subprocess.run(["7z", "a", "-bd", "-y", str(out), "lane07"], cwd=src, check=True,
                   stdout=subprocess.DEVNULL)
    return out.read_bytes()


def rar4_stored(name, data):
    """A RAR 4.x archive holding one stored member, written by hand after
    the RAR 4 technical note (rar is non-free and not installed): marker
    block, archive header, file header (method 0x30 = store), the data,
    end-of-archive block.  Each header's CRC is the low 16 bits of the CRC
    32 of the header from its type byte on."""
    def block(htype, flags, body):
        rest = struct.pack("<BHH", htype, flags, 7 + len(body)) + body
        return struct.pack("<H", zlib.crc32(rest) & 0xFFFF) + rest

    name_b = name.encode()
    dos_time = (2019 - 1980) << 25 | 5 << 21 | 31 << 16 | 12 << 11 | 13 << 5 | 7
    file_hdr = struct.pack("<IIBIIBBHI", len(data), len(data), 3, zlib.crc32(data), dos_time,
                           29, 0x30, len(name_b), 0o100644) + name_b
    return (b"Rar!\x1a\x07\x00"
            + block(0x73, 0, b"\0" * 6)
            + block(0x74, 0x8000, file_hdr) + data
            + block(0x7B, 0x4000, b""))


def zstd(data):
    if shutil.which("zstd") is None:
        missing("zstd")
    return subprocess.run(["zstd", "-q", "-c"], input=data, stdout=subprocess.PIPE, check=True).stdout


def lzma_alone(data):
    return subprocess.run(["xz", "--format=lzma", "-c"], input=data, stdout=subprocess.PIPE,
                          check=True).stdout


def warc_record(rtype, uri, payload, ctype, n):
    head = (f"WARC/1.0\r\nWARC-Type: {rtype}\r\nWARC-Target-URI: {uri}\r\n"
            f"WARC-Date: 2019-05-31T12:13:14Z\r\n"
            f"WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-{n:012d}>\r\n"
            f"Content-Type: {ctype}\r\nContent-Length: {len(payload)}\r\n\r\n").encode()
    return head + payload + b"\r\n\r\n"


def warc():
    """A crawl as wget --warc-file writes it: warcinfo, then a response
    record holding the HTTP message (status line, headers, the picture)."""
    http = (b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n"
            b"Content-Length: %d\r\n\r\n" % len(LPR_JPG)) + LPR_JPG
    return (warc_record("warcinfo", "", b"software: cbpscan-test\r\n", "application/warc-fields", 1)
            + warc_record("response", "http://cams.example/" + NAME, http,
                          "application/http; msgtype=response", 2))


def sfx_adjusted(stub, z):
    """stub + zip with its offsets counted from the start of the file, as
    `zip -A` leaves a self-extractor: every central header's local-header
    offset and the end record's directory offset move by len(stub)."""
    z = bytearray(z)
    eocd = z.rindex(b"PK\x05\x06")
    count, cd_size, cd_off = struct.unpack_from("<HII", z, eocd + 10)
    p = cd_off
    for _ in range(count):
        assert z[p:p + 4] == b"PK\x01\x02"
        n, m, k = struct.unpack_from("<HHH", z, p + 28)
        struct.pack_into("<I", z, p + 42, struct.unpack_from("<I", z, p + 42)[0] + len(stub))
        p += 46 + n + m + k
    struct.pack_into("<I", z, eocd + 16, cd_off + len(stub))
    return stub + bytes(z)


def padded_zip():
    """Zero padding before the first entry; the end record's offsets count
    from the zip's own start, as a zip appended to anything leaves them."""
    return b"\0" * 5000 + F.make_zip([(NAME, LPR_JPG)])


def skippable_zstd_tar():
    """A .tar.zst that starts with a zstd skippable frame (magic
    0x184D2A50, a length, metadata), as some packagers write."""
    meta = b"cbpscan-test metadata frame"
    return struct.pack("<II", 0x184D2A50, len(meta)) + meta + zstd(tar_of([(NAME, LPR_JPG)]))


# name -> (builder(tmp_path), member chain of the finding)
FORMS = {
    "sfx-zip-elf": (lambda t: elf_stub() + F.make_zip([(NAME, LPR_JPG)]), (NAME,)),
    "sfx-zip-pe.exe": (lambda t: pe_stub() + F.make_zip([(NAME, LPR_JPG)]), (NAME,)),
    "sfx-zip-adjusted.exe": (lambda t: sfx_adjusted(pe_stub(), F.make_zip([(NAME, LPR_JPG)])), (NAME,)),
    "sfx-7z-elf": (lambda t: elf_stub() + seven_zip(t), (NAME,)),
    "sfx-7z-pe.exe": (lambda t: pe_stub() + seven_zip(t), (NAME,)),
    "sfx-rar-pe.exe": (lambda t: pe_stub() + rar4_stored(NAME, LPR_JPG), (NAME,)),
    "sfx-rar-elf": (lambda t: elf_stub() + rar4_stored(NAME, LPR_JPG), (NAME,)),
    "padded-zip.bin": (lambda t: padded_zip(), (NAME,)),
    "skippable.tar.zst": (lambda t: skippable_zstd_tar(), (NAME,)),
    "plates.tlz": (lambda t: lzma_alone(tar_of([(NAME, LPR_JPG)])), (NAME,)),
    # libarchive names a WARC record by its target URI's path.
    "crawl.warc": (lambda t: warc(), (NAME,)),
}


@pytest.mark.parametrize("name", list(FORMS))
@pytest.mark.parametrize("strict", [False, True])
def test_hidden_archive_expanded(tmp_path, name, strict):
    build, chain = FORMS[name]
    path = tmp_path / name
    path.write_bytes(build(tmp_path))
    res = scan(path, args=["--strict"] if strict else [])
    s = res.summary
    assert s["archives"] >= 1, res
    assert s["members"] >= 1, res
    found = [f for f in res.findings if tuple(f["member"]) == chain]
    assert {(f["rule"], f["category"], f["severity"]) for f in found} == {LPR}, res
    assert s["unscannable"] == 0, res.problems
    assert res.rc == 1, res


def test_rar_builder_is_a_rar(tmp_path):
    """The hand-written RAR is read as one, at offset 0, by libarchive: so
    the SFX tests above test finding it behind a stub, not the builder."""
    path = tmp_path / "plain.rar"
    path.write_bytes(rar4_stored(NAME, LPR_JPG))
    res = scan(path)
    assert res.summary["archives"] == 1
    assert {tuple(f["member"]) for f in res.findings} == {(NAME,)}


def test_iso9660_standalone_and_in_tar(tmp_path):
    """ISO 9660's descriptor is at 32 KiB, past the 16 KiB head: found by
    the one targeted read, on disk and as a member held in memory."""
    tool = shutil.which("genisoimage") or shutil.which("mkisofs")
    if tool is None:
        missing("genisoimage")
    src = tmp_path / "src"
    (src / "lane07").mkdir(parents=True)
    (src / NAME).write_bytes(LPR_JPG)
    iso = tmp_path / "plates.iso"
    subprocess.run([tool, "-quiet", "-R", "-o", str(iso), str(src)], check=True)
    tar = tmp_path / "iso.tar"
    tar.write_bytes(tar_of([("images/plates.iso", iso.read_bytes())]))
    res = scan(iso, tar)
    assert res.summary["archives"] == 3   # the ISO, the tar, the ISO in it
    assert {tuple(f["member"]) for f in res.under(iso)} == {(NAME,)}
    assert {tuple(f["member"]) for f in res.under(tar)} == {("images/plates.iso", NAME)}
    assert res.summary["unscannable"] == 0


# ---- what hides nothing costs nothing ----------------------------------

MIME_ONLY_RULES = """version: 1
rules:
  - id: test.jpeg
    title: A JPEG
    category: test
    severity: info
    when: {mime: image/jpeg}
"""


def preads_of(tmp_path, target):
    """(offset, length) of every pread64 cbpscan makes on target, with a
    rule set that needs nothing past identification (no carving, no
    content), so what is read is what identification read."""
    if shutil.which("strace") is None:
        missing("strace")
    rules = tmp_path / "rules.yaml"
    rules.write_text(MIME_ONLY_RULES)
    log = tmp_path / "strace.log"
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    # LeakSanitizer cannot run under ptrace: the sanitizer build is traced
    # with leak checking off (the rest of the suite checks leaks).
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    # -ff: one log per process, so that no call is split in two lines
    # ("<unfinished ...>" / "resumed") by another process's call.
    r = subprocess.run(["strace", "-ff", "-y", "-e", "trace=pread64", "-o", str(log),
                        str(CBPSCAN), "scan", "--state", str(state), "--rules", str(rules),
                        "--format", "jsonl", str(target)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    summary = [line for line in r.stdout.decode().splitlines() if '"summary"' in line]
    assert '"archives":0' in summary[0]
    reads = []
    text = "".join(p.read_text() for p in sorted(tmp_path.glob("strace.log.*")))
    for line in text.splitlines():
        if f"<{target}>" in line and "pread64(" in line and "= " in line:
            args = line.rsplit(")", 1)[0].rsplit(",", 2)
            reads.append((int(args[2]), int(args[1])))
    return reads


def test_plain_executable_not_read_past_its_head(tmp_path):
    """An ELF whose headers account for every byte has nothing appended:
    identification reads nothing past the head."""
    exe = tmp_path / "true"
    exe.write_bytes(elf_stub())
    reads = preads_of(tmp_path, exe)
    assert reads == [(0, 16384)], reads


def test_random_blob_costs_one_tail_page(tmp_path):
    """8 MiB of random bytes: the head, then at most the last 4 KiB for a
    zip end record; never a full read, and nothing expanded."""
    blob = tmp_path / "blob.bin"
    size = 8 << 20
    with open("/dev/urandom", "rb") as f:
        data = bytearray(f.read(size))
    data[:4] = b"\x01\x02\x03\x04"    # not a skippable frame, not zeros
    blob.write_bytes(bytes(data))
    reads = preads_of(tmp_path, blob)
    assert reads[0] == (0, 16384), reads
    assert sum(n for _, n in reads) <= 16384 + 4096, reads
    assert all(off == 0 or off >= size - 4096 for off, _ in reads), reads


def test_stub_with_junk_appended_is_not_an_archive(tmp_path):
    """Bytes appended to an executable that are no archive (a 7z signature
    whose header CRC does not add up, a RAR marker without its main header)
    are not expanded and not reported."""
    junk = b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\x11" * 40 + b"Rar!\x1a\x07\x00" + b"\x00" * 40
    path = tmp_path / "tool"
    path.write_bytes(elf_stub() + junk)
    res = scan(path)
    assert res.summary["archives"] == 0
    assert res.summary["unscannable"] == 0
    assert res.rc == 0
