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
