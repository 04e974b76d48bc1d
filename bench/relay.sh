#!/bin/sh
# Relay benchmark: natdoc's relay (bench/relayd) against rtpengine
# (user-space forwarding, --table=-1) under the same G.711-like load on
# loopback: 172-byte RTP, 50 packets/s per stream, both directions.
# The relay is pinned to CPU 0 and the load generator to CPU 1 (taskset).
#
#   bench/relay.sh [CALLS...]        default: 100 1000 1400
#   DURATION=20s bench/relay.sh 100
#
# Prints one JSON line per run (bench/relayload's result) and a table.
# Everything stays on 127.0.0.1.
set -eu
cd "$(dirname "$0")/.."
CALLS=${*:-100 1000 1400}
DURATION=${DURATION:-20s}
OUT=$(mktemp -d)
trap 'kill $(cat "$OUT"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$OUT"' EXIT

go build -o "$OUT/relayd" ./bench/relayd
go build -o "$OUT/relayload" ./bench/relayload

run_one() { # target calls
	target=$1 calls=$2
	if [ "$target" = natdoc ]; then
		taskset -c 0 "$OUT/relayd" -ctl 127.0.0.1:2224 -port-min 30000 -port-max 40000 &
		ctl=127.0.0.1:2224
	else
		taskset -c 0 rtpengine --config-file=none -f -E --table=-1 --interface=127.0.0.1 \
			--listen-ng=127.0.0.1:2223 --port-min=30000 --port-max=40000 --log-level=3 >"$OUT/rtpengine.log" 2>&1 &
		ctl=127.0.0.1:2223
	fi
	pid=$!
	echo $pid >"$OUT/$target.pid"
	sleep 1
	taskset -c 1 "$OUT/relayload" -target "$target" -ctl $ctl -pid $pid -calls "$calls" -duration "$DURATION" | tee -a "$OUT/results.jsonl"
	kill $pid; wait $pid 2>/dev/null || true
	rm -f "$OUT/$target.pid"
	sleep 1
}

for c in $CALLS; do
	run_one natdoc "$c"
	if command -v rtpengine >/dev/null; then run_one rtpengine "$c"; fi
done

echo
printf '%-10s %6s %9s %9s %7s %8s %8s %8s %7s %9s\n' target calls offered delivered loss% p50us p99us maxus cpu% ns/pkt
while read -r l; do
	echo "$l" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("%-10s %6d %9.0f %9.0f %7.3f %8.0f %8.0f %8.0f %7.1f %9.0f" % (r["target"], r["calls"], r["offered_pps"], r["delivered_pps"], r["loss_percent"], r["p50_us"], r["p99_us"], r["max_us"], r["relay_cpu_percent"], r["relay_cpu_ns_per_packet"]))'
done <"$OUT/results.jsonl"
