#!/bin/sh
# Build a host-like benchmark tree: about 150k files and 5 GB.
#   - copies of system files (/usr/share, /usr/include, part of /usr/lib):
#     the ordinary content of a contractor host, which must cost little;
#   - generated images (JPEG/PNG, some carrying plate or traveler records,
#     some plate-crop shaped) and biometric records, made by
#     tests/cli/fixtures.py;
#   - a few hundred archives (tar.gz, zip, tar.xz) of parts of the above.
# Usage: sh bench/mktree.sh DIR   (idempotent: does nothing if DIR/.complete exists)
set -eu
dir=${1:-bench/tree}
top=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$dir/.complete" ] && { echo "mktree: $dir already built"; exit 0; }
rm -rf "$dir"
mkdir -p "$dir/sys" "$dir/images" "$dir/archives"
echo "mktree: copying system files"
cp -a /usr/share "$dir/sys/share" 2>/dev/null || true
cp -a /usr/include "$dir/sys/include" 2>/dev/null || true
# Part of /usr/lib up to about 4 GB in all (the big shared libraries).
for d in /usr/lib/x86_64-linux-gnu /usr/lib/gcc /usr/lib/python3 /usr/lib/jvm /usr/lib/llvm-14; do
	[ -d "$d" ] || continue
	used=$(du -sm "$dir" | cut -f1)
	[ "$used" -gt 4300 ] && break
	cp -a "$d" "$dir/sys/lib-$(basename "$d")" 2>/dev/null || true
done
find "$dir/sys" -type l -delete 2>/dev/null || true
echo "mktree: generating images"
/usr/bin/python3 "$top/tests/cli/fixtures.py" --bench-images "$dir/images" --count 4000
echo "mktree: building archives"
i=0
for sub in $(find "$dir/sys/share/doc" -mindepth 1 -maxdepth 1 -type d | head -200); do
	i=$((i + 1))
	case $((i % 3)) in
	0) tar -czf "$dir/archives/a$i.tar.gz" -C "$sub" . ;;
	1) (cd "$sub" && zip -qr "$dir/archives/a$i.zip" .) ;;
	2) tar -cJf "$dir/archives/a$i.tar.xz" -C "$sub" . ;;
	esac
done
for k in 1 2 3 4 5 6 7 8 9 10; do
	tar -czf "$dir/archives/images$k.tar.gz" -C "$dir/images" $(ls "$dir/images" | sed -n "$((k * 40)),$((k * 40 + 39))p")
done
# Pad with copies of the shared data to about 150k files.
n=$(find "$dir" -type f | wc -l)
k=0
while [ "$n" -lt 145000 ] && [ "$k" -lt 3 ]; do
	k=$((k + 1))
	cp -a /usr/share/locale "$dir/sys/locale$k" 2>/dev/null || true
	cp -a /usr/share/man "$dir/sys/man$k" 2>/dev/null || true
	n=$(find "$dir" -type f | wc -l)
done
touch "$dir/.complete"
echo "mktree: $(find "$dir" -type f | wc -l) files, $(du -sh "$dir" | cut -f1)"
