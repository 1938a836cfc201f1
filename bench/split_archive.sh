#!/bin/bash
# One huge archive, one and two threads (issue 8 section 4: a single huge
# archive must not leave the other cores idle), and what splitting costs
# at smaller sizes (to choose limits.split_min, CBP_SPLIT_MIN).
#
#   bash bench/split_archive.sh [DIR]    (DIR defaults to bench/split)
#
# Builds, once, from files of /usr/include, /usr/lib/x86_64-linux-gnu,
# /usr/share/doc and /usr/share/icons (sorted, so every build is the same):
#   DIR/huge.jar      a zip of 1 GB of such files (about 270 MB: headers,
#                     shared libraries, docs, many of them gzip inside the
#                     zip, icons), the shape of a large application bundle;
#   DIR/s16.jar ...   zips of the first 16, 64 and 256 MB of them.
# Then, interleaved, BENCH_REPEAT times each (default 3), best wall time
# and the CPU time (user + sys, workers included) of that run:
#   1. huge.jar with --threads 1 and --threads 2, with build/cbpscan and
#      with every binary in CBPSCAN_BEFORE (e.g. the parent commit built in
#      a worktree of its own: git worktree add /tmp/base HEAD~1);
#   2. each smaller jar with --threads 2, split off (limits.split_min: 0)
#      and on (split_min: 1M), build/cbpscan only.
#   3. with perf(1), huge.jar once more with --threads 2 per binary under
#      `perf record`: each process's share of the CPU samples.  On a shared
#      machine the wall time says little about the second core (the other
#      load takes it); the busiest worker's share does: on an idle machine
#      the scan cannot take less than that share of its CPU time.
# Ratios within one run are what compares: the machine is shared.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$top/bench/split}
repeat=${BENCH_REPEAT:-3}
cbp=$top/build/cbpscan
sizes="16 64 256"
if [ ! -f "$dir/.complete" ]; then
	rm -rf "$dir" && mkdir -p "$dir"
	list=$dir/list
	find /usr/share/doc /usr/include /usr/share/icons /usr/lib/x86_64-linux-gnu \
	    -type f -size -8M -printf '%p\t%s\n' 2>/dev/null | LC_ALL=C sort > "$list"
	for mb in $sizes 1024; do
		name=s$mb.jar
		[ "$mb" = 1024 ] && name=huge.jar
		awk -F '\t' -v cap=$((mb * 1024 * 1024)) '{ t += $2; if (t > cap) exit;
		    print $1 }' "$list" | zip -q -@ "$dir/$name" || exit 1
	done
	rm -f "$list"
	touch "$dir/.complete"
fi
state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT
printf 'limits:\n  split_min: 0\n' > "$state/off.conf"
printf 'limits:\n  split_min: 1M\n' > "$state/on.conf"
for f in "$dir"/*.jar; do
	echo "$(basename "$f"): $(( $(stat -c %s "$f") / 1000000 )) MB," \
	    "$(unzip -Z1 "$f" | wc -l) members"
	cat "$f" > /dev/null	# warm the page cache
done
echo "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

declare -A W C
run() {	# key, binary, args...: keeps the best wall time and its CPU time
	local key=$1 bin=$2 wall user sys
	shift 2
	/usr/bin/time -o "$state/time" -f "%e %U %S" "$bin" scan --state "$state" \
	    --format jsonl "$@" > /dev/null 2>&1
	read -r wall user sys < <(tail -1 "$state/time")
	if [ -z "${W[$key]:-}" ] || [ "$(echo "$wall < ${W[$key]}" | bc)" = 1 ]; then
		W[$key]=$wall
		C[$key]=$(echo "$user + $sys" | bc)
	fi
}
bins=("$cbp")
names=("after")
i=1
for b in ${CBPSCAN_BEFORE:-}; do
	bins+=("$b")
	names+=("before$i")
	i=$((i + 1))
done
for ((r = 0; r < repeat; r++)); do
	for t in 1 2; do
		for k in "${!bins[@]}"; do
			run "${names[$k]} t$t" "${bins[$k]}" --threads $t "$dir/huge.jar"
		done
	done
	for mb in $sizes; do
		for c in off on; do
			run "s$mb $c" "$cbp" --config "$state/$c.conf" --threads 2 "$dir/s$mb.jar"
		done
	done
done
echo
echo "huge.jar:"
printf "  %-14s %8s %8s\n" "binary" "wall s" "cpu s"
for k in "${!bins[@]}"; do
	for t in 1 2; do
		key="${names[$k]} t$t"
		printf "  %-14s %8s %8s\n" "$key" "${W[$key]}" "${C[$key]}"
	done
done
for k in "${!bins[@]}"; do
	n=${names[$k]}
	echo "  $n: wall t1/t2 $(echo "scale=2; ${W[$n t1]} / ${W[$n t2]}" | bc)," \
	    "cpu t2/t1 $(echo "scale=2; ${C[$n t2]} / ${C[$n t1]}" | bc)"
done
echo "--threads 2, split off / on:"
printf "  %-8s %10s %10s %10s %10s\n" "jar" "wall off" "wall on" "cpu off" "cpu on"
for mb in $sizes; do
	printf "  %-8s %10s %10s %10s %10s\n" "s$mb" "${W[s$mb off]}" "${W[s$mb on]}" \
	    "${C[s$mb off]}" "${C[s$mb on]}"
done
if command -v perf > /dev/null 2>&1; then
	echo "--threads 2 under perf record: share of the CPU samples per process"
	for k in "${!bins[@]}"; do
		perf record -q -F 499 -o "$state/perf.data" -- "${bins[$k]}" scan \
		    --state "$state" --format jsonl --threads 2 "$dir/huge.jar" \
		    > /dev/null 2>&1
		shares=$(perf report -i "$state/perf.data" --sort comm,pid --stdio 2>/dev/null |
		    awk '/cbpscan/ { printf "%s %s  ", $1, $2 }')
		echo "  ${names[$k]}: $shares"
	done
fi
