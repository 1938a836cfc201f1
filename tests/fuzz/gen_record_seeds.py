#!/usr/bin/python3
"""Generate the seed corpora of the record fuzz targets.

Writes small, valid (or nearly valid) inputs built from the minimal
examples of docs/formats.md (sections 3 and 4) into

    tests/fuzz/seeds/fuzz_iso19794/   ISO/IEC 19794-5 2005/2011, DG2 wrapper
    tests/fuzz/seeds/fuzz_ansinist/   ANSI/NIST-ITL transactions
    tests/fuzz/seeds/fuzz_carve/      records embedded in other bytes

Every seed is a few hundred bytes at most, so the fuzzer starts from each
structure the parsers know (feature points, quality blocks, binary records,
two-digit tags, the duplicate 10.999 quirk) and mutates from there.  No NIST
sample is copied: the unit tests read those from CBP_TESTDATA.  The output
is deterministic; run from anywhere:

    /usr/bin/python3 tests/fuzz/gen_record_seeds.py
"""

import os
import random
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from cbptest import formats as fmt  # noqa: E402
from cbptest.formats import FS, GS, RS, US, tagged, tlv  # noqa: E402,F401
SEEDS = os.path.join(HERE, "seeds")

JPEG = b"\xff\xd8\xff\xd9"
JP2 = b"\x00\x00\x00\x0cjP  \r\n\x87\x0a"
J2K = b"\xff\x4f\xff\x51\x00\x2f"
PNG = b"\x89PNG\r\n\x1a\n"


def iso2005(faces):
    """faces: list of (npts, gender, data_type, width, height, image)."""
    return fmt.iso2005([
        fmt.iso2005_face(img, w, h, dtype, gender=gender,
                         points=[(0x35 + i, 10 * i, 20 * i) for i in range(npts)],
                         pose=b"\x05\x0a\x0f", pose_unc=b"\x15\x1a\x1f",
                         device=0x4947)
        for npts, gender, dtype, w, h, img in faces])


def iso2011(reps):
    """reps: list of (nquality, nlandmarks, data_type, w, h, image)."""
    return fmt.iso2011([
        fmt.iso2011_rep(img, w, h, dtype,
                        quality=[(80 + i, 0x0101, 1) for i in range(nq)],
                        landmarks=[(0x35 + i, 10 * i, 20 * i) for i in range(nlm)],
                        when=(2020, 10, 9, 16, 50, 1, 0), subject=(1, 2, 3, 170))
        for nq, nlm, dtype, w, h, img in reps])


def dg2(record):
    header = tlv(b"\xa1", tlv(b"\x80", b"\x01\x01") + tlv(b"\x81", b"\x02")
                 + tlv(b"\x87", b"\x01\x01") + tlv(b"\x88", b"\x00\x08"))
    bit = tlv(b"\x7f\x60", header + tlv(b"\x5f\x2e", record))
    return tlv(b"\x75", tlv(b"\x7f\x61", b"\x02\x01\x01" + bit))


def type1(entries, two_digit=False, version=b"0400"):
    cnt = b"1" + US + str(len(entries)).encode()
    for t, idc in entries:
        cnt += RS + str(t).encode() + US + idc
    f = "1.%02d:" if two_digit else "1.%03d:"
    body = GS.join([
        (f % 2).encode() + version,
        (f % 3).encode() + cnt,
        (f % 4).encode() + b"CAR",
        (f % 5).encode() + b"20240101",
        (f % 7).encode() + b"DAI000000",
        (f % 8).encode() + b"ORI000000",
        (f % 9).encode() + b"TCN0001",
        (f % 11).encode() + b"00.00",
        (f % 12).encode() + b"00.00",
    ])
    return tagged((f % 1).encode(), body)


def type10(imt=b"FACE", cga=b"JPEGB", image=JPEG, dup999=False):
    fields = [b"10.002:01", b"10.003:" + imt, b"10.004:AGENCY01",
              b"10.005:20240101", b"10.006:480", b"10.007:640",
              b"10.008:0", b"10.011:" + cga, b"10.012:YCC", b"10.020:F"]
    if dup999:
        fields.append(b"10.999:010110")
    body = GS.join(fields) + GS + b"10.999:" + image
    return tagged(b"10.001:", body)


def tagged_rec(t, fields):
    return tagged(b"%d.001:" % t, GS.join(fields))


def binary_rec(t, idc, extra):
    """Type-3..8 record: 4-byte length, IDC, then the type's header."""
    head = {8: 7, 7: 0}.get(t, 13)
    payload = bytes([idc]) + b"\x00" * head + extra
    return struct.pack(">I", 4 + len(payload)) + payload


def write(target, name, data):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    assert len(data) < 8192, (target, name, len(data))
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    rnd = random.Random(19794)

    iso05_min = iso2005([(0, 0, 0, 480, 640, JPEG)])
    iso11_min = iso2011([(0, 0, 0, 480, 640, JPEG)])
    assert len(iso05_min) == 50 and len(iso11_min) == 72

    write("fuzz_iso19794", "iso2005_min", iso05_min)
    write("fuzz_iso19794", "iso2005_points",
          iso2005([(4, 2, 0, 280, 320, JPEG)]))
    write("fuzz_iso19794", "iso2005_two_faces",
          iso2005([(1, 1, 1, 64, 80, JP2), (0, 2, 1, 32, 32, J2K)]))
    write("fuzz_iso19794", "iso2005_truncated",
          iso2005([(2, 2, 0, 480, 640, JPEG + b"\x00" * 40)])[:70])
    write("fuzz_iso19794", "iso2011_min", iso11_min)
    write("fuzz_iso19794", "iso2011_quality_landmarks",
          iso2011([(2, 3, 3, 16, 16, PNG)]))
    write("fuzz_iso19794", "iso2011_two_reps",
          iso2011([(1, 0, 1, 8, 8, JP2), (0, 1, 2, 8, 8, J2K)]))
    write("fuzz_iso19794", "dg2_iso2005", dg2(iso05_min))
    write("fuzz_iso19794", "dg2_iso2011", dg2(iso11_min))

    write("fuzz_ansinist", "type1_type10",
          type1([(10, b"01")]) + type10())
    write("fuzz_ansinist", "two_digit_binary",
          type1([(2, b"00"), (4, b"01"), (10, b"02"), (8, b"03"),
                 (14, b"04"), (10, b"05")], two_digit=True, version=b"0201")
          + tagged_rec(2, [b"2.002:00", b"2.018:SMITH,TOM"])
          + binary_rec(4, 1, b"\x1c\x1d10.001:")
          + type10()
          + binary_rec(8, 3, b"")
          + tagged_rec(14, [b"14.002:04", b"14.999:\x00\x01"])
          + type10(imt=b"SCAR", cga=b"PNG", image=PNG))
    write("fuzz_ansinist", "dup_999",
          type1([(10, b"00")], version=b"0300") + type10(dup999=True))
    write("fuzz_ansinist", "jp2_raw",
          type1([(10, b"00"), (10, b"01")])
          + type10(cga=b"JP2", image=JP2) + type10(cga=b"NONE",
                                                   image=b"\x10\x20"))
    write("fuzz_ansinist", "no_type10",
          type1([(2, b"00"), (9, b"01")], two_digit=True)
          + tagged_rec(2, [b"2.002:00"])
          + tagged(b"9.01:", b"9.02:01" + GS + b"9.03:29"))

    def junk(n):
        return bytes(rnd.getrandbits(8) for _ in range(n))

    an = type1([(10, b"01")]) + type10()
    write("fuzz_carve", "iso2005_odd_offset",
          junk(101) + iso05_min + junk(33))
    write("fuzz_carve", "iso2011_and_dg2",
          junk(7) + iso11_min + junk(5) + dg2(iso05_min) + junk(9))
    write("fuzz_carve", "ansi_embedded", junk(77) + an + junk(13))
    write("fuzz_carve", "mixed_truncated",
          b"x" + iso05_min + an + iso2005([(1, 2, 0, 8, 8, JPEG * 8)])[:60])
    write("fuzz_carve", "fac_in_text",
          b"the FAC\x00010\x00 string, and FAC\x00030\x00 too; "
          b"1.001:12" + GS + b"not a transaction; 12:01:33 1.01: x\n")


if __name__ == "__main__":
    main()
