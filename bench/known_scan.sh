#!/bin/bash
# Known-image lists on the benchmark tree, in one run, as ratios (issue 10):
#
#   bash bench/known_scan.sh [TREE] [ENTRIES]     (defaults: bench/tree, 10000000)
#
#   1. the full scan with a synthetic list of ENTRIES lines loaded against
#      the same scan without lists (best of BENCH_REPEAT runs each, default
#      2); every image in the tree is decoded and hashed once in the first;
#      the list is loaded two ways: from its text every run
#      (--no-known-cache) and from the index cached in the state directory
#      (cbp_known_cache.h; the first run builds and writes it, timed
#      apart); for each, wall and CPU time and the peak RSS of the largest
#      process (the parent, which loads the list, or a worker); then the
#      memory of all the scan's processes while it runs (Rss, Pss and
#      private, from smaps_rollup), text against cache;
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
t() {	# name, command...: the best of $repeat runs (wall), with its CPU and peak RSS
	local name=$1 d best= i extra=
	shift
	# time(1) runs programs, not shell functions.
	[ "$1" = scan ] && { shift; set -- "$cbp" scan --state "$state" --threads 2 \
		--format jsonl --output /dev/null "$@"; }
	for ((i = 0; i < repeat; i++)); do
		/usr/bin/time -f '%e %U %S %M' -o "$state/time" "$@" > /dev/null 2>&1
		# (a non-zero exit adds a line before the figures)
		read -r d u s m < <(tail -n 1 "$state/time")
		if [ -z "$best" ] || [ "$(echo "$d < $best" | bc)" = 1 ]; then
			best=$d
			extra=$(printf 'CPU %6.2f s, peak RSS %5d MiB' "$(echo "$u + $s" | bc)" $((m / 1024)))
		fi
	done
	T[$name]=$best
	printf '%-38s %8.2f s  %s\n' "$name" "$best" "$extra"
}
mkdir -p "$state/empty"
ent=$entries
# The cache is written by the first run that loads the list with it on.
repeat_save=$repeat; repeat=1
t "first load: build + write cache"      scan --known "$list" "$state/empty"
repeat=$repeat_save
ls -l "$state"/known-*.cache | awk '{ printf "cache file: %d MB\n", $5 / 1000000 }'
# Interleaved, so that a busy neighbour hits both sides.
t "scan, no lists"                       scan "$tree"
t "scan, $ent-entry list, text"          scan --no-known-cache --known "$list" "$tree"
t "scan, $ent-entry list, cache"         scan --known "$list" "$tree"
# The list alone: load and index (an empty directory scanned).
t "list load only, text"                 scan --no-known-cache --known "$list" "$state/empty"
t "list load only, cache"                scan --known "$list" "$state/empty"
# Memory of the scan's processes while it runs, sampled every second from
# smaps_rollup: Rss counts pages shared with others in full, Pss divides
# them among the sharers, Private is what each process holds alone (the
# mapped cache is file-backed and shared; a heap-built index is anonymous,
# shared copy-on-write after fork).  The largest total over the samples.
descendants() {	# the scan's supervisor and its workers are below it
	local c
	for c in $(pgrep -P "$1"); do echo "$c"; descendants "$c"; done
}
mem() {	# name, scan arguments...
	local name=$1 pid best=0 line p r v n h
	shift
	"$cbp" scan --state "$state" --threads 2 --format jsonl --output /dev/null "$@" \
		> /dev/null 2>&1 &
	pid=$!
	while kill -0 "$pid" 2> /dev/null; do
		line=$(for p in $pid $(descendants "$pid"); do
			cat "/proc/$p/smaps_rollup" 2> /dev/null; done |
			awk '/^Rss:/ { r += $2 } /^Pss:/ { p += $2 }
			     /^Private_(Clean|Dirty):/ { v += $2 } /^Rss:/ { n++ }
			     /^FilePmdMapped:/ { h += $2 }
			     END { printf "%d %d %d %d %d", p, r, v, n, h }')
		read -r p r v n h <<< "$line"
		# The largest once the workers run (the text build's own peak
		# is in the timings above).
		if [ "${n:-0}" -ge 4 ] && [ "${p:-0}" -gt "$best" ]; then
			best=$p
			M[$name]=$(printf 'processes %d: Rss %5d MiB, Pss %5d MiB, private %5d MiB, file huge pages %5d MiB' \
				"$n" $((r / 1024)) $((p / 1024)) $((v / 1024)) $((h / 1024)))
		fi
		sleep 1
	done
	wait "$pid"
	printf '%-38s %s\n' "memory, $name" "${M[$name]}"
}
declare -A M
mem "text"  --no-known-cache --known "$list" "$tree"
mem "cache" --known "$list" "$tree"
images=$("$cbp" hash --category plate --threads 2 "$tree" 2>/dev/null | wc -l)
t "hash, bench tree"                 "$cbp" hash --category plate --threads 2 "$tree"
t "hash, plates"                     "$cbp" hash --category plate --threads 2 "$plates"
t "djpeg -scale 1/8, plates"         sh -c "find '$plates' -name '*.jpg' -print0 | xargs -0 -P2 -n 1 sh -c 'djpeg -scale 1/8 \"\$0\" > /dev/null'"
t "djpeg full, plates"               sh -c "find '$plates' -name '*.jpg' -print0 | xargs -0 -P2 -n 1 sh -c 'djpeg \"\$0\" > /dev/null'"
np=$(find "$plates" -name '*.jpg' | wc -l)
r() { echo "scale=2; $1 / $2" | bc; }
echo
echo "scan with the list / without:        text $(r "${T[scan, $ent-entry list, text]}" "${T[scan, no lists]}")x, cache $(r "${T[scan, $ent-entry list, cache]}" "${T[scan, no lists]}")x"
echo "  of which loading the list:          text ${T[list load only, text]} s, cache ${T[list load only, cache]} s"
echo "images in the tree (hash lines):     $images"
echo "images hashed per second (scan):     $(r "$images" "$(echo "${T[scan, $ent-entry list, text]} - ${T[scan, no lists]} - ${T[list load only, text]}" | bc)") (extra time over the plain scan, list load excluded)"
echo "images hashed per second (hash):     $(r "$images" "${T[hash, bench tree]}") (full scale, walk included)"
echo "plates: $np JPEGs; hash $(r "$np" "${T[hash, plates]}")/s, djpeg -scale 1/8 $(r "$np" "${T[djpeg -scale 1/8, plates]}")/s, djpeg full $(r "$np" "${T[djpeg full, plates]}")/s"
