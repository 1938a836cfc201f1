#!/bin/bash
# Time a full cbpscan scan of the benchmark tree against the tools an
# auditor would otherwise run, in one run, as ratios (the machines are
# shared and noisy: ratios within one run are what is comparable).
#
#   sh bench/run.sh [TREE]      (TREE defaults to bench/tree, built if missing)
#
# CBPSCAN_BEFORE="/path/to/older/cbpscan ..." adds those binaries to the
# same run ("cbpscan before 1", ...), so a change is measured against its
# parents under the same load and cache: build a parent in a worktree
# (git worktree add /tmp/before HEAD~1 && make -C /tmp/before all) and
# point this at its build/cbpscan.
#
# Every tool gets the same warm page cache and two workers where it can
# use them (xargs -P2, yara -p 2, cbpscan --threads 2); each command runs
# BENCH_REPEAT times (default 3) and the best time counts.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
tree=${1:-$top/bench/tree}
cbp=${CBPSCAN:-$top/build/cbpscan}
sh "$top/bench/mktree.sh" "$tree" || exit 1
files=$(find "$tree" -type f | wc -l)
bytes=$(du -sb "$tree" | cut -f1)
echo "tree: $tree, $files files, $((bytes / 1000000)) MB; $(nproc) cores"
echo "warming the page cache..."
find "$tree" -type f -print0 | xargs -0 -P2 cat > /dev/null 2>&1

rule=$(mktemp)
cat > "$rule" <<'YARA'
rule lpr_record { strings: $a = "PLATE=" $b = "FAC\x00" condition: $a or $b }
YARA

declare -A T
repeat=${BENCH_REPEAT:-3}
t() {	# name, command...: the best of $repeat runs (the machine is shared)
	local name=$1; shift
	local s e d best= i
	for ((i = 0; i < repeat; i++)); do
		s=$(date +%s.%N)
		"$@" > /dev/null 2>&1
		e=$(date +%s.%N)
		d=$(echo "$e - $s" | bc)
		if [ -z "$best" ] || [ "$(echo "$d < $best" | bc)" = 1 ]; then best=$d; fi
	done
	T[$name]=$best
	printf '%-28s %8.2f s\n' "$name" "${T[$name]}"
}
t "find -type f"            find "$tree" -type f
t "head floor (16 KiB)"     sh -c "find '$tree' -type f -print0 | xargs -0 -P2 -n 256 head -c 16384"
# The benchmark keeps its host id away from /var/lib/cbpscan.
state=$(mktemp -d)
t "cbpscan scan"            "$cbp" scan --state "$state" --threads 2 --format jsonl --output /dev/null "$tree"
nb=0
for before in ${CBPSCAN_BEFORE:-}; do
	nb=$((nb + 1))
	t "cbpscan before $nb"  "$before" scan --threads 2 --format jsonl --output /dev/null "$tree"
done
t "cbpscan (no carving)"    sh -c "printf 'limits:\n  carve_max: 0\n' > /tmp/cbp-bench.conf && '$cbp' scan --state '$state' --threads 2 --config /tmp/cbp-bench.conf --format jsonl --output /dev/null '$tree'"
t "sha256sum"               sh -c "find '$tree' -type f -print0 | xargs -0 -P2 -n 256 sha256sum"
t "yara -r -p 2"            yara -r -p 2 "$rule" "$tree"
if [ "${BENCH_SLOW:-1}" = 1 ]; then
	t "file --mime-type"    sh -c "find '$tree' -type f -print0 | xargs -0 -P2 -n 256 file --mime-type"
fi
if command -v clamscan > /dev/null; then
	t "clamscan -r"         clamscan -r --quiet "$tree"
fi
# Archive-heavy (issue 8): one folder of hundreds of zips, 7z and tar.gz and
# a few large jars (bench/mkarchives.sh), scanned with 1 and 2 workers,
# beside its decompression floor (head read + one libarchive pass over every
# container, no identification: bench/microbench.c --floor) in the same run.
mb=${MICROBENCH:-$top/build/microbench}
arch=${BENCH_ARCHIVES:-/tmp/cbp-bench-archives}
if [ -x "$mb" ] && sh "$top/bench/mkarchives.sh" "$arch"; then
	find "$arch" -type f -print0 | xargs -0 cat > /dev/null
	t "archives: cbpscan -t 1"  "$cbp" scan --state "$state" --threads 1 --format jsonl --output /dev/null "$arch/all"
	t "archives: cbpscan -t 2"  "$cbp" scan --state "$state" --threads 2 --format jsonl --output /dev/null "$arch/all"
	if [ -n "${CBPSCAN_BEFORE:-}" ]; then
		t "archives: before -t 1" "$CBPSCAN_BEFORE" scan --threads 1 --format jsonl --output /dev/null "$arch/all"
		t "archives: before -t 2" "$CBPSCAN_BEFORE" scan --threads 2 --format jsonl --output /dev/null "$arch/all"
	fi
	t "archives: floor, 1 proc"  "$mb" --floor 1 "$arch/all"
	t "archives: floor, 2 procs" "$mb" --floor 2 "$arch/all"
fi
# Prompt stop (issue 8): SIGTERM while a parser loops (the test-only fault
# hook of build/cbpscan-faults), seconds from the signal to the exit with
# its summary.  Tests allow a generous bound; this is the measured figure.
faults=${CBPSCAN_FAULTS:-$top/build/cbpscan-faults}
if [ -x "$faults" ]; then
	d=$(mktemp -d)
	printf 'CBPSCAN-FAULT:loop\n' > "$d/loop.bin"
	"$faults" scan --state "$state" --format jsonl --output "$d/out.jsonl" "$d" &
	pid=$!
	sleep 1
	t0=$(date +%s.%N)
	kill -TERM "$pid"
	wait "$pid"
	t1=$(date +%s.%N)
	grep -q '"type":"summary"' "$d/out.jsonl" && got="with its summary" || got="WITHOUT a summary"
	printf '%-28s %8.3f s from SIGTERM to exit, %s\n' "stop: parser in a loop" \
	    "$(echo "$t1 - $t0" | bc -l)" "$got"
	rm -rf "$d"
fi
rm -rf "$rule" "$state"
floor=${T["head floor (16 KiB)"]}
scan=${T["cbpscan scan"]}
echo
echo "ratios (lower is faster):"
for k in "${!T[@]}"; do
	printf '  %-28s %6.2fx head floor   cbpscan is %6.2fx faster\n' "$k" \
	    "$(echo "${T[$k]} / $floor" | bc -l)" "$(echo "${T[$k]} / $scan" | bc -l)"
done | sort -k2 -n

# Per-file costs (CPU time, one thread): identification with our database vs
# the system one, and metadata extraction on the generated images vs what a
# non-image pays (the format sniff only).
mb=${MICROBENCH:-$top/build/microbench}
if [ -x "$mb" ]; then
	echo
	echo "per-file costs (bench/microbench.c on $tree/images and $tree/sys/include):"
	"$mb" "$tree/images" "$tree/sys/include"
	echo
	echo "gzip decompression (bench/microbench.c --gzip on $tree/sys/share):"
	"$mb" --gzip "$tree/sys/share"
fi

