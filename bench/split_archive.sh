#!/bin/bash
# One huge archive, one and two threads (issue 8 section 4: a single huge
# archive must not leave the other cores idle).
#
#   bash bench/split_archive.sh [DIR]    (DIR defaults to bench/split)
#
# Builds DIR/huge.jar once: a zip of about 300 MB of mixed members (text
# and headers, man pages and docs, many of them gzip inside the zip,
# icons, shared libraries), the shape of a large application bundle.
# Then scans it with --threads 1 and --threads 2, with build/cbpscan and
# with every binary in CBPSCAN_BEFORE (e.g. the parent commit built in a
# worktree of its own), interleaved, BENCH_REPEAT times each (default 3),
# and prints the best wall time and the CPU time (user + sys) of that run.
# Ratios within one run are what compares: the machine is shared.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$top/bench/split}
jar=$dir/huge.jar
repeat=${BENCH_REPEAT:-3}
if [ ! -f "$dir/.complete" ]; then
	rm -rf "$dir" && mkdir -p "$dir"
	list=$(mktemp)
	# Sorted, so every build is the same; capped at 1 GB of input.
	find /usr/share/doc /usr/include /usr/share/icons /usr/lib/x86_64-linux-gnu \
	    -type f -size -8M -printf '%p\t%s\n' 2>/dev/null | LC_ALL=C sort |
	    awk -F '\t' -v cap=$((1024 * 1024 * 1024)) '{ t += $2; if (t > cap) exit;
	    print $1 }' > "$list"
	zip -q -@ "$jar" < "$list" || { rm -f "$list"; exit 1; }
	rm -f "$list"
	touch "$dir/.complete"
fi
members=$(unzip -Z1 "$jar" | wc -l)
echo "archive: $jar, $(( $(stat -c %s "$jar") / 1000000 )) MB, $members members; $(nproc) cores"
cat "$jar" > /dev/null	# warm the page cache

bins=("$top/build/cbpscan")
names=("after")
i=1
for b in ${CBPSCAN_BEFORE:-}; do
	bins+=("$b")
	names+=("before$i")
	i=$((i + 1))
done
state=$(mktemp -d)
declare -A W C
for ((r = 0; r < repeat; r++)); do
	for t in 1 2; do
		for k in "${!bins[@]}"; do
			key="${names[$k]} t$t"
			/usr/bin/time -o "$state/time" -f "%e %U %S" "${bins[$k]}" scan \
			    --state "$state" --format jsonl --threads $t "$jar" > /dev/null 2>&1
			read -r wall user sys < <(tail -1 "$state/time")
			cpu=$(echo "$user + $sys" | bc)
			if [ -z "${W[$key]:-}" ] || [ "$(echo "$wall < ${W[$key]}" | bc)" = 1 ]; then
				W[$key]=$wall
				C[$key]=$cpu
			fi
		done
	done
done
rm -rf "$state"
printf "%-14s %8s %8s\n" "binary" "wall s" "cpu s"
for k in "${!bins[@]}"; do
	for t in 1 2; do
		key="${names[$k]} t$t"
		printf "%-14s %8s %8s\n" "$key" "${W[$key]}" "${C[$key]}"
	done
done
for k in "${!bins[@]}"; do
	n=${names[$k]}
	echo "$n: wall t1/t2 $(echo "scale=2; ${W[$n t1]} / ${W[$n t2]}" | bc)," \
	    "cpu t2/t1 $(echo "scale=2; ${C[$n t2]} / ${C[$n t1]}" | bc)"
done
