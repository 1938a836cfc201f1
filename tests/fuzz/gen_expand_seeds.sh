#!/bin/sh
# Generate the seed corpus of fuzz_expand: one tiny archive per format and
# per interesting case (nested, encrypted, empty), each under 4 KiB so the
# fuzzer mutates structure rather than payload.  Seeds are committed; rerun
# this only to change them.  Tools missing from the host are skipped.
# Files already in the seed dir are kept: crash-* are fuzzer finds kept as
# regression inputs (crash-open-failed-has-encrypted: asking libarchive
# about encryption after a failed open read through a stale pointer).
#
#   sh tests/fuzz/gen_expand_seeds.sh [outdir]
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$top/tests/fuzz/seeds/fuzz_expand}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$out"
have() { command -v "$1" >/dev/null 2>&1; }

cd "$work"
mkdir -p src/dir
printf 'hello\n' > src/a.txt
printf 'COM: LPR;PLATE=7A12323\n' > src/dir/b.txt
# Fixed times, so reruns give the same bytes where the formats allow.
touch -d @1500000000 src/a.txt src/dir/b.txt src/dir src
cd src

have zip && {
	zip -q -X ../zip.zip a.txt dir/b.txt
	zip -q -X -P secret ../zip-encrypted.zip a.txt
	zip -q -X ../inner.zip a.txt
}
have tar && {
	tar --format=ustar -b 1 -cf ../tar.tar a.txt dir
	tar --format=gnu -b 1 -cf ../tar-gnu.tar a.txt dir
	ln -s a.txt link
	tar --format=ustar -b 1 -cf ../tar-symlink.tar a.txt link
	rm link
	# Sparse members: data, a hole, data, a trailing hole (read by offset).
	printf 'head' > ../sparse.bin
	printf 'tail' | dd of=../sparse.bin bs=1 seek=40000 conv=notrunc 2>/dev/null
	truncate -s 70000 ../sparse.bin
	touch -d @1500000000 ../sparse.bin
	have gzip && {
		tar -C .. --format=gnu -S -b 1 -cf - sparse.bin | gzip -n -9 > ../tar-sparse-gnu.tar.gz
		tar -C .. --format=pax -S -b 1 -cf - sparse.bin | gzip -n -9 > ../tar-sparse-pax.tar.gz
	}
	rm ../sparse.bin
	have gzip && tar -b 1 -cf - a.txt dir | gzip -n -9 > ../tar.tar.gz
	have xz && tar -b 1 -cf - a.txt | xz -9 > ../tar.tar.xz
	have zstd && tar -b 1 -cf - a.txt | zstd -q -19 > ../tar.tar.zst
	have bzip2 && tar -b 1 -cf - a.txt | bzip2 -9 > ../tar.tar.bz2
	[ -f ../inner.zip ] && have gzip && touch -d @1500000000 ../inner.zip &&
		tar -C .. -b 1 -cf - inner.zip | gzip -n -9 > ../nested-zip-in.tar.gz
}
have 7z && {
	7z a -bd -y ../7z.7z a.txt dir/b.txt >/dev/null
	7z a -bd -y -psecret -mhe=on ../7z-encrypted-headers.7z a.txt >/dev/null
	7z a -bd -y -psecret ../7z-encrypted.7z a.txt >/dev/null
}
have cpio && {
	printf 'a.txt\ndir\ndir/b.txt\n' | cpio --quiet -o -H newc > ../cpio-newc.cpio
	printf 'a.txt\n' | cpio --quiet -o -H odc > ../cpio-odc.cpio
	printf 'a.txt\n' | cpio --quiet -o -H bin > ../cpio-bin.cpio
}
have gzip && gzip -n -9 -c a.txt > ../a.txt.gz
have xz && xz -9 -c a.txt > ../a.txt.xz
have xz && xz --format=lzma -c a.txt > ../a.txt.lzma
have zstd && zstd -q -19 -c a.txt > ../a.txt.zst
have lz4 && lz4 -q -9 -c a.txt > ../a.txt.lz4
have lz4 && lz4 -q -l -c a.txt > ../a.txt-legacy.lz4
have bzip2 && bzip2 -9 -c a.txt > ../a.txt.bz2
have ar && ar rcD ../ar.a a.txt
# An ISO is at least ~350 KiB of mostly zeros: stored xz-compressed, which
# libarchive reads as iso9660 inside an xz filter.
have genisoimage && have xz && {
	genisoimage -quiet -R -o ../image.iso . && xz -9e -c ../image.iso > ../iso9660.iso.xz
	rm -f ../image.iso
}
cd ..
: > empty.bin

# Archives whose headers lie, built byte by byte (issue 7): a stored zip
# member with a bad CRC and one longer than declared (libarchive warns),
# LHA level-2 names in CP932 and UTF-16 (converted under C.UTF-8), a tar
# cut inside a member, and gzip nested 30 deep (past libarchive's 25
# filters).
/usr/bin/python3 - <<'PY'
import gzip, struct, zlib

def zip_stored(entries):
    out, cd = b"", b""
    for name, data, crc, usize in entries:
        n = name.encode()
        off = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x4EBF, crc,
                           len(data), usize, len(n), 0) + n + data
        cd += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0x4EBF,
                          crc, len(data), usize, len(n), 0, 0, 0, 0, 0, off) + n
    return out + cd + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries),
                                  len(entries), len(cd), len(out), 0)

def crc16(data, crc=0):
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc

def lha2(members):
    out = b""
    for exts, data in members:
        ext = struct.pack("<HBHB", 6, 0, 0, 0)
        ext += b"".join(struct.pack("<HB", len(d) + 3, t) + d for t, d in exts) + b"\0\0"
        hdr = struct.pack("<H5sIIIBBHB", 24 + len(ext), b"-lh0-", len(data), len(data),
                          1500000000, 0x20, 2, crc16(data), ord("U")) + ext
        out += hdr[:27] + struct.pack("<H", crc16(hdr)) + hdr[29:] + data
    return out + b"\0"

a, b = b"hello\n", b"COM: LPR;PLATE=7A12323\n"
open("zip-bad-crc.zip", "wb").write(zip_stored([("a.txt", a, 1, len(a)),
                                                ("b.txt", b, zlib.crc32(b), len(b))]))
open("zip-longer-than-declared.zip", "wb").write(zip_stored([("a.txt", b, zlib.crc32(b), 4),
                                                             ("b.txt", a, zlib.crc32(a), len(a))]))
open("lha-cp932.lzh", "wb").write(lha2([([(0x46, struct.pack("<I", 932)),
                                          (0x01, "漢字.txt".encode("cp932"))], b)]))
open("lha-utf16.lzh", "wb").write(lha2([([(0x44, "テスト.txt".encode("utf-16-le"))], a)]))
d = b
for _ in range(30):
    d = gzip.compress(d, mtime=0)
open("gzip-30-layers.gz", "wb").write(d)
PY
[ -f tar.tar ] && head -c 1100 tar.tar > tar-cut.tar

# Containers that do not start at byte 0 (issue 9): found by identification's
# probes, which fuzz_expand runs on every input and member.  The stubs are
# the smallest headers the probes measure: an ELF header whose tables are
# empty (the stub ends at 64), a PE with one 512-byte section at 512.
/usr/bin/python3 - <<'PY'
import os, struct, subprocess, zlib
elf = b"\x7fELF\x02\x01\x01" + b"\0" * 57
pe = bytearray(0x400)
pe[0:2] = b"MZ"
struct.pack_into("<I", pe, 0x3C, 0x40)
pe[0x40:0x44] = b"PE\0\0"
struct.pack_into("<HH", pe, 0x44, 0x14C, 1)
struct.pack_into("<II", pe, 0x58 + 16, 0x200, 0x200)
def rd(n):
    return open(n, "rb").read() if os.path.exists(n) else None
z = rd("inner.zip")
if z:
    open("sfx-elf.zip", "wb").write(elf + z)
    open("sfx-pe.zip", "wb").write(bytes(pe) + z)
    open("padded.zip", "wb").write(b"\0" * 300 + z)
s = rd("7z.7z")
if s:
    open("sfx-elf.7z", "wb").write(elf + s)
def block(t, flags, body):
    rest = struct.pack("<BHH", t, flags, 7 + len(body)) + body
    return struct.pack("<H", zlib.crc32(rest) & 0xFFFF) + rest
a = b"hello\n"
fh = struct.pack("<IIBIIBBHI", len(a), len(a), 3, zlib.crc32(a), 0, 29, 0x30, 5, 0o100644) + b"a.txt"
rar = b"Rar!\x1a\x07\x00" + block(0x73, 0, b"\0" * 6) + block(0x74, 0x8000, fh) + a + block(0x7B, 0x4000, b"")
open("rar4-stored.rar", "wb").write(rar)
open("sfx-pe.rar", "wb").write(bytes(pe) + rar)
t = rd("tar.tar")
if t:
    try:
        zs = subprocess.run(["zstd", "-q", "-c"], input=t, stdout=subprocess.PIPE, check=True).stdout
        open("skippable.tar.zst", "wb").write(struct.pack("<II", 0x184D2A50, 4) + b"meta" + zs)
    except (OSError, subprocess.CalledProcessError):
        pass
    try:
        lz = subprocess.run(["xz", "--format=lzma", "-c"], input=t, stdout=subprocess.PIPE, check=True).stdout
        open("tar.tlz", "wb").write(lz)
    except (OSError, subprocess.CalledProcessError):
        pass
http = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n" + a
def rec(t, body):
    return (b"WARC/1.0\r\nWARC-Type: " + t + b"\r\nWARC-Target-URI: http://h/a.txt\r\n"
            b"WARC-Date: 2017-07-14T02:40:00Z\r\nContent-Length: %d\r\n\r\n" % len(body) + body + b"\r\n\r\n")
open("warc.warc", "wb").write(rec(b"warcinfo", b"x: y\r\n") + rec(b"response", http))
PY

for f in *; do
	[ -f "$f" ] || continue
	size=$(wc -c < "$f")
	if [ "$size" -ge 4096 ]; then
		echo "seed $f is $size bytes (limit 4095): not kept" >&2
		continue
	fi
	cp "$f" "$out/$f"
done
ls -l "$out"
