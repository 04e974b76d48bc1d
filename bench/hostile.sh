#!/usr/bin/env bash
# Hostile captures against `natdoc analyze`: every record valid, the state
# they ask for unbounded. Each must finish with bounded memory and say
# what it dropped.
#
#   bench/hostile.sh [--quick] [--natdoc BIN]
#
#   callids    1,000,000 INVITEs, each a new Call-ID, never answered
#   tcp        one TCP connection carrying a SIP message that never ends (1 GiB)
#   fragments  5,000,000 first IP fragments whose datagrams never complete
#
# (--quick: a tenth of each.) Written by bench/cmd/hostilepcap
# (internal/pcapgen) into a temporary directory, packets 1 µs apart so that
# no capture-time timeout helps; removed at the end. For each: wall time,
# peak RSS (/usr/bin/time), the anomalies analyze reported (--json) and the
# calls it judged. The state limits at work (--max-calls, --max-streams,
# --max-tcp-streams, --max-fragments) are documented in natdoc analyze
# --help. Needs about 2 GB of free disk; about 3 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

scale=1
natdoc=""
while [ $# -gt 0 ]; do
	case $1 in
	--quick) scale=10 ;;
	--natdoc) natdoc=$2; shift ;;
	*) echo "usage: $0 [--quick] [--natdoc BIN]" >&2; exit 2 ;;
	esac
	shift
done
for c in jq /usr/bin/time; do
	command -v $c >/dev/null || { echo "$c not installed (apt-get install jq time)" >&2; exit 3; }
done
dir=${BENCH_DIR:-/tmp/natdoc-bench}/hostile
rm -rf "$dir"
mkdir -p "$dir"
trap 'rm -f "$dir"/*.pcap' EXIT
go build -o "$dir/hostilepcap" ./bench/cmd/hostilepcap
if [ -z "$natdoc" ]; then
	natdoc=$dir/natdoc
	go build -o "$natdoc" ./cmd/natdoc
fi

# run NAME GENERATOR-ARGS...: write the capture, analyze it, print a row.
rows=()
run() {
	local name=$1
	shift
	"$dir/hostilepcap" "$@" -o "$dir/$name.pcap"
	local size
	size=$(stat -c %s "$dir/$name.pcap")
	/usr/bin/time -f "%e %M" -o "$dir/$name.time" "$natdoc" analyze --json "$dir/$name.pcap" > "$dir/$name.json" 2> "$dir/$name.err" || true
	local wall rss anomalies calls
	read -r wall rss < "$dir/$name.time"
	anomalies=$(jq -r '[.capture.anomalies[]? | "\(.kind) \(.count)"] | join(", ")' "$dir/$name.json")
	calls=$(jq '.calls | length' "$dir/$name.json")
	rows+=("$(printf '%-10s %9.0f MB %8s s %8.0f MB %7s  %s' "$name" "$(echo "$size / 1000000" | bc -l)" "$wall" "$(echo "$rss / 1024" | bc -l)" "$calls" "$anomalies")")
	echo "${rows[-1]}" >&2
	rm -f "$dir/$name.pcap"
}

run callids -kind callids -n $((1000000 / scale))
run tcp -kind tcp -size $((1073741824 / scale))
run fragments -kind fragments -n $((5000000 / scale))

echo
echo "natdoc analyze on hostile captures (peak RSS from /usr/bin/time; anomalies from --json)"
printf '%-10s %12s %10s %11s %7s  %s\n' capture size wall "peak RSS" calls anomalies
printf '%s\n' "${rows[@]}"
