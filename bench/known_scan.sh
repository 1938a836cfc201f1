#!/bin/bash
# Known-image lists on the benchmark tree, in one run, as ratios (issue 10):
#
#   bash bench/known_scan.sh [TREE] [ENTRIES]     (defaults: bench/tree, 10000000)
#
#   1. the full scan with a synthetic list of ENTRIES lines loaded against
#      the same scan without lists (best of BENCH_REPEAT runs each, default
#      2); every image in the tree is decoded and hashed once in the first;
#   2. images hashed per second: `cbpscan hash` over the tree (the same
#      images, decoded at full scale) gives their number;
#   3. `cbpscan hash` over ../shared/testdata/plates against `djpeg -scale
#      1/8` over the same files (two workers each).
# The list is written by build/known_bench (random hashes, both on every
# line: ~1.4 GB at 10 M) and removed at the end.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
tree=${1:-$top/bench/tree}
entries=${2:-10000000}
cbp=${CBPSCAN:-$top/build/cbpscan}
plates=${PLATES:-$top/../shared/testdata/plates}
repeat=${BENCH_REPEAT:-2}
# Not created beforehand: known_bench -k would take an existing file as the list.
list=/tmp/cbp-known-scan-$$.tsv
state=$(mktemp -d)
trap 'rm -rf "$list" "$state"' EXIT
sh "$top/bench/mktree.sh" "$tree" || exit 1
make -s -C "$top" build/known_bench || exit 1
echo "writing a list of $entries entries..."
"$top/build/known_bench" -n "$entries" -q 1 -b 1 -k -f "$list" > /dev/null || exit 1
[ -s "$list" ] || { echo "no list written" >&2; exit 1; }
echo "list: $(wc -l < "$list") lines, $(( $(stat -c %s "$list") / 1000000 )) MB"
echo "tree: $tree, $(find "$tree" -type f | wc -l) files; $(nproc) cores"
find "$tree" -type f -print0 | xargs -0 -P2 cat > /dev/null 2>&1

declare -A T
t() {	# name, command...: the best of $repeat runs
	local name=$1 s e d best= i
	shift
	for ((i = 0; i < repeat; i++)); do
		s=$(date +%s.%N)
		"$@" > /dev/null 2>&1
		e=$(date +%s.%N)
		d=$(echo "$e - $s" | bc)
		if [ -z "$best" ] || [ "$(echo "$d < $best" | bc)" = 1 ]; then best=$d; fi
	done
	T[$name]=$best
	printf '%-34s %8.2f s\n' "$name" "$best"
}
scan() { "$cbp" scan --state "$state" --threads 2 --format jsonl --output /dev/null "$@"; }
t "scan, no lists"                   scan "$tree"
t "scan, $entries-entry list"        scan --known "$list" "$tree"
# The list alone: load and index (an empty directory scanned).
mkdir -p "$state/empty"
t "list load only"                   scan --known "$list" "$state/empty"
images=$("$cbp" hash --category plate --threads 2 "$tree" 2>/dev/null | wc -l)
t "hash, bench tree"                 "$cbp" hash --category plate --threads 2 "$tree"
t "hash, plates"                     "$cbp" hash --category plate --threads 2 "$plates"
t "djpeg -scale 1/8, plates"         sh -c "find '$plates' -name '*.jpg' -print0 | xargs -0 -P2 -n 1 sh -c 'djpeg -scale 1/8 \"\$0\" > /dev/null'"
t "djpeg full, plates"               sh -c "find '$plates' -name '*.jpg' -print0 | xargs -0 -P2 -n 1 sh -c 'djpeg \"\$0\" > /dev/null'"
np=$(find "$plates" -name '*.jpg' | wc -l)
r() { echo "scale=2; $1 / $2" | bc; }
echo
echo "scan with the list / without:        $(r "${T[scan, $entries-entry list]}" "${T[scan, no lists]}")x"
echo "  of which loading the list:          ${T[list load only]} s"
echo "images in the tree (hash lines):     $images"
echo "images hashed per second (scan):     $(r "$images" "$(echo "${T[scan, $entries-entry list]} - ${T[scan, no lists]} - ${T[list load only]}" | bc)") (extra time over the plain scan, list load excluded)"
echo "images hashed per second (hash):     $(r "$images" "${T[hash, bench tree]}") (full scale, walk included)"
echo "plates: $np JPEGs; hash $(r "$np" "${T[hash, plates]}")/s, djpeg -scale 1/8 $(r "$np" "${T[djpeg -scale 1/8, plates]}")/s, djpeg full $(r "$np" "${T[djpeg full, plates]}")/s"
