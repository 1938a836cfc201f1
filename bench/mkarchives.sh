#!/bin/sh
# Build an archive-heavy benchmark tree (issue 8): one folder of hundreds of
# containers, the shape that left a core idle when files of one directory
# went to one thread.
#   - 200 zips, 100 7z, 100 tar.gz: each holds 20 to 60 files copied from
#     /usr/share and /usr/include (text, man pages, images), so
#     decompression and identification both cost something;
#   - 4 large jars (zips of about 2,000 class-like files each).
# Usage: sh bench/mkarchives.sh DIR       (a finished tree is left alone)
set -eu
dir=${1:-bench/archives}
[ -f "$dir/.complete" ] && { echo "mkarchives: $dir already built"; exit 0; }
rm -rf "$dir" && mkdir -p "$dir/all"
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
# A pool of ordinary files, sorted so every build is the same.
find /usr/share/doc /usr/include -type f -size -256k 2>/dev/null | sort | head -8000 > "$src/list"
n=$(wc -l < "$src/list")
[ "$n" -ge 1000 ] || { echo "mkarchives: not enough files in /usr/share/doc, /usr/include"; exit 1; }
pick() {	# pick K files starting at line S into directory D
	mkdir -p "$3"
	sed -n "$(( $1 % (n - $2) + 1 )),+$(( $2 - 1 ))p" "$src/list" | while read -r f; do
		cp "$f" "$3/$(echo "$f" | tr / _)"
	done
}
i=0
while [ $i -lt 400 ]; do
	k=$(( 20 + (i * 7) % 41 ))
	w="$src/w$i"
	pick $(( i * 37 )) $k "$w"
	if [ $i -lt 200 ]; then
		(cd "$w" && zip -q -r "$dir/all/a$i.zip" .)
	elif [ $i -lt 300 ]; then
		(cd "$w" && 7z a -bd -y "$dir/all/a$i.7z" . > /dev/null)
	else
		tar -C "$w" -czf "$dir/all/a$i.tar.gz" .
	fi
	rm -rf "$w"
	i=$((i + 1))
done
j=0
while [ $j -lt 4 ]; do
	w="$src/jar$j"
	pick $(( j * 1999 )) 2000 "$w"
	(cd "$w" && zip -q -r "$dir/all/big$j.jar" .)
	rm -rf "$w"
	j=$((j + 1))
done
touch "$dir/.complete"
echo "mkarchives: $(ls "$dir/all" | wc -l) containers, $(du -sm "$dir" | cut -f1) MB in $dir/all"
