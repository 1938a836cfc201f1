#!/bin/sh
# Build a host-like benchmark tree: about 150k files and 5 GB.
#   - copies of system files (/usr/share, /usr/include, part of /usr/lib):
#     the ordinary content of a contractor host, which must cost little;
#   - generated images (JPEG/PNG, one in ten carrying a plate or traveler
#     record, plate-crop shaped ones, screenshots, camera photos with Exif)
#     and a few biometric records, made by the shared test library
#     (tests/lib/cbptest, the fixtures the end-to-end tests use);
#   - a few hundred archives (tar.gz, zip, tar.xz) of parts of the above.
# Usage: sh bench/mktree.sh DIR
# Each step leaves a marker in DIR, so an interrupted build resumes; a
# finished tree is left alone.
set -eu
dir=${1:-bench/tree}
top=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$dir/.complete" ] && { echo "mktree: $dir already built"; exit 0; }
mkdir -p "$dir/sys" "$dir/images" "$dir/archives"
step() { [ -f "$dir/.step-$1" ]; }
done_step() { touch "$dir/.step-$1"; }

if ! step copy; then
	echo "mktree: copying system files"
	rm -rf "$dir/sys" && mkdir -p "$dir/sys"
	cp -a /usr/share "$dir/sys/share" 2>/dev/null || true
	cp -a /usr/include "$dir/sys/include" 2>/dev/null || true
	# Part of /usr/lib, up to about 4.5 GB in all (shared libraries, Python).
	n=0
	for d in /usr/lib/x86_64-linux-gnu /usr/lib/gcc /usr/lib/python3 /usr/lib/llvm-14 \
	    /usr/lib/jvm /usr/libexec /usr/local/lib /usr/lib/x86_64-linux-gnu; do
		[ -d "$d" ] || continue
		used=$(du -sm "$dir" | cut -f1)
		[ "$used" -gt 4700 ] && break
		n=$((n + 1))
		cp -a "$d" "$dir/sys/lib$n-$(basename "$d")" 2>/dev/null || true
	done
	find "$dir/sys" -type l -delete 2>/dev/null || true
	done_step copy
fi
if ! step images; then
	echo "mktree: generating images"
	rm -rf "$dir/images" && mkdir -p "$dir/images"
	PYTHONPATH="$top/tests/lib" /usr/bin/python3 -m cbptest.fixtures \
	    --bench-images "$dir/images" --count 4000
	done_step images
fi
if ! step archives; then
	echo "mktree: building archives"
	rm -rf "$dir/archives" && mkdir -p "$dir/archives"
	i=0
	for sub in $(find "$dir/sys/share/doc" -mindepth 1 -maxdepth 1 -type d | sort | head -300); do
		[ -n "$(find "$sub" -type f | head -1)" ] || continue
		i=$((i + 1))
		case $((i % 3)) in
		0) tar -czf "$dir/archives/a$i.tar.gz" -C "$sub" . ;;
		1) (cd "$sub" && zip -qr "$dir/archives/a$i.zip" .) ;;
		2) tar -cJf "$dir/archives/a$i.tar.xz" -C "$sub" . ;;
		esac
	done
	# Archives of generated images (some carry records).
	for d in "$dir"/images/d*; do
		tar -czf "$dir/archives/images-$(basename "$d").tar.gz" -C "$d" .
	done
	done_step archives
fi
if ! step pad; then
	# Pad to about 150k files with more copies of uncompressed system files
	# (headers, Python modules, message catalogues).  Not man pages: a host
	# has one /usr/share/man, and 20k more gzip files per copy would make
	# the tree a decompression benchmark.
	k=0
	while [ "$(find "$dir" -type f | wc -l)" -lt 145000 ] && [ "$k" -lt 8 ]; do
		k=$((k + 1))
		cp -a /usr/include "$dir/sys/include$k" 2>/dev/null || true
		cp -a /usr/lib/python3 "$dir/sys/python$k" 2>/dev/null || true
		cp -a /usr/share/locale "$dir/sys/locale$k" 2>/dev/null || true
	done
	find "$dir/sys" -type l -delete 2>/dev/null || true
	done_step pad
fi
touch "$dir/.complete"
echo "mktree: $(find "$dir" -type f | wc -l) files, $(du -sh "$dir" | cut -f1)"
