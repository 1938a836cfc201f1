#!/bin/bash
# Delivery throughput and cost, as figures within one run (the machine is
# shared: compare ratios, not seconds across runs).
#
#   bash bench/deliver_bench.sh [N] [TREE]
#
# 1. records a second that `cbpscan flush` delivers to the loopback HTTPS
#    test collector (tests/cli/collector.py), per format, from a spool of a
#    scan of N generated plate images (default 5000 findings, plus the run
#    record and the summary);
# 2. the scan of TREE (default: the N images; bench/tree or another
#    mktree.sh tree for the full picture) with delivery on, against the
#    same scan without, best of BENCH_REPEAT (default 3) each.
# The collector is Python: figure 1 is bounded by it as much as by cbpscan.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cbp=${CBPSCAN:-$top/build/cbpscan}
py=/usr/bin/python3
n=${1:-5000}
work=$(mktemp -d /tmp/cbp-deliver-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

cd "$work"
for ca in ca; do
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=bench ca" \
	    -keyout ca.key -out ca.pem 2>/dev/null
done
echo "subjectAltName=IP:127.0.0.1" > san.ext
openssl req -newkey rsa:2048 -nodes -subj /CN=server -keyout server.key -out server.csr 2>/dev/null
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
    -extfile san.ext -out server.pem 2>/dev/null
printf 'bench-token\n' > token && chmod 600 token

PYTHONPATH=$top/tests/lib $py - "$n" <<'PY'
import os, sys
from cbptest import fixtures as F
n = int(sys.argv[1])
img = F.jpeg_with(F.jpeg(64, 48, seed=2), "com", F.LPR_TEXT)
for i in range(n):
    d = f"imgs/d{i % 50:02d}"
    os.makedirs(d, exist_ok=True)
    open(f"{d}/{i:06d}.jpg", "wb").write(img)
PY
tree=${2:-$work/imgs}

start_collector() {	# log file -> sets port
	rm -f "$1.port"
	$py "$top/tests/cli/collector.py" --port-file "$1.port" --log "$1" \
	    --cert server.pem --key server.key &
	pids+=($!)
	while [ ! -f "$1.port" ]; do sleep 0.05; done
	port=$(cat "$1.port")
}

conf() {	# extra lines -> cbpscan.conf
	printf 'delivery:\n  retry_min_ms: 10\n  retry_max_ms: 100\n  exit_wait_ms: %s\n  replay_rate: 0\n  flush_wait_ms: 600000\n' "$1" > cbpscan.conf
	chmod 600 cbpscan.conf
}

now() { date +%s.%N; }

echo "records: $n findings + run + summary; $(nproc) cores"
for fmt in ndjson splunk-hec elastic-bulk; do
	rm -rf state && mkdir -m 700 state
	conf 0
	# Spool with the endpoint down (nothing listens on port 9 of loopback).
	"$cbp" scan --state state --format jsonl --threads 2 --config cbpscan.conf \
	    --endpoint https://127.0.0.1:9/ingest --ca-file ca.pem --token-file token \
	    --endpoint-format $fmt "$work/imgs" > local.jsonl 2>/dev/null || true
	recs=$(wc -l < local.jsonl)
	start_collector "c-$fmt.log"
	s=$(now)
	"$cbp" flush --state state --config cbpscan.conf --endpoint "https://127.0.0.1:$port/ingest" \
	    --ca-file ca.pem --token-file token --endpoint-format $fmt
	e=$(now)
	echo "flush $fmt: $((recs + 1)) records in $(echo "$e - $s" | bc -l | cut -c1-6) s: $(echo "($recs + 1) / ($e - $s)" | bc) records/s"
done

start_collector c-scan.log
conf 60000
repeat=${BENCH_REPEAT:-3}
best() {	# command...: best wall time of $repeat runs
	local b= i s e d
	for ((i = 0; i < repeat; i++)); do
		rm -rf state && mkdir -m 700 state
		s=$(now); "$@" > /dev/null 2>&1 || true; e=$(now)
		d=$(echo "$e - $s" | bc -l)
		if [ -z "$b" ] || [ "$(echo "$d < $b" | bc)" = 1 ]; then b=$d; fi
	done
	echo "$b"
}
off=$(best "$cbp" scan --state state --format jsonl --threads 2 "$tree")
on=$(best "$cbp" scan --state state --format jsonl --threads 2 --config cbpscan.conf \
    --endpoint "https://127.0.0.1:$port/ingest" --ca-file ca.pem --token-file token "$tree")
echo "scan of $tree: without delivery $(echo "$off" | cut -c1-6) s, with delivery (ndjson, all delivered before exit) $(echo "$on" | cut -c1-6) s: ratio $(echo "$on / $off" | bc -l | cut -c1-5)"
