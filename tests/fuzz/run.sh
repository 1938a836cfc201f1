#!/bin/sh
# Run each libFuzzer binary for SECONDS, starting from its seed corpus
# tests/fuzz/seeds/<name>/ (copied, so the tree is never written).  Any
# crash, leak, timeout or sanitizer report fails the run; the reproducer is
# left in build-fuzz/artifacts/.
set -u
secs=$1; shift
top=$(cd "$(dirname "$0")/../.." && pwd)
art="$top/build-fuzz/artifacts"
mkdir -p "$art"
pass=0; fail=0
for f in "$@"; do
	name=$(basename "$f")
	corpus=$(mktemp -d)
	[ -d "$top/tests/fuzz/seeds/$name" ] && cp -r "$top/tests/fuzz/seeds/$name/." "$corpus/"
	echo "fuzz: $name for ${secs}s"
	# -malloc_limit_mb above -rss_limit_mb: libarchive 3.6's 7-Zip reader
	# callocs ~5 GB for a crafted 308-byte header (seed
	# fuzz_expand/7z-huge-calloc), which fuzz_expand's own ASan options
	# refuse (over 4 GiB: NULL, the archive is reported corrupt); requests
	# up to this limit pass.  Memory really used is still capped by
	# -rss_limit_mb.
	if "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-malloc_limit_mb=8192 -max_len=262144 \
		-artifact_prefix="$art/$name-" -print_final_stats=0 "$corpus" >"$art/$name.log" 2>&1; then
		pass=$((pass + 1))
		grep -E '^Done [0-9]+ runs' "$art/$name.log" | tail -1
	else
		fail=$((fail + 1))
		echo "FUZZ FAILURE: $name (log: $art/$name.log)"
		tail -40 "$art/$name.log"
	fi
	rm -rf "$corpus"
done
echo "fuzz targets: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
