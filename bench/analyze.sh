#!/usr/bin/env bash
# Benchmark natdoc analyze against tshark on a generated capture of about
# 1 GB: 1,000 calls, 100 concurrent, 48 s of G.711 each way, every tenth
# call one-way (a leaked private SDP address). Prints wall time, packets per
# second and peak RSS of each, and the ratios.
#
#   bench/analyze.sh [CALLS]        (default 1000; the capture is kept in
#                                    $BENCH_DIR, default /tmp/natdoc-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-1000}
dir=${BENCH_DIR:-/tmp/natdoc-bench}
mkdir -p "$dir"
pcap="$dir/calls-$calls.pcap"
bin="$dir/natdoc"

go build -o "$bin" ./cmd/natdoc
go build -o "$dir/pcapgen" ./internal/pcapgen/cmd/pcapgen
if [ ! -s "$pcap" ]; then
	"$dir/pcapgen" -calls "$calls" -concurrent 100 -media 48s -one-way-every 10 -o "$pcap"
fi
bytes=$(stat -L -c %s "$pcap")
packets=$(capinfos -M -c "$pcap" 2>/dev/null | awk '/Number of packets/ {print $NF}' || true)
cat "$pcap" > /dev/null # into the page cache, so both tools read from memory

# measure NAME CMD...: wall seconds, CPU seconds (user+system) and peak RSS
# (KiB) via GNU time. natdoc exits 1 when it finds one-way calls: expected.
measure() {
	local name=$1; shift
	local tf="$dir/$name.time"
	/usr/bin/time -f "%e %U %S %M" -o "$tf" "$@" > "$dir/$name.out" 2> "$dir/$name.err" || true
	read -r wall user sys rss < <(tail -n 1 "$tf")
	echo "$wall $(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }') $rss"
}

# natdoc takes well under a second, so one run is at the mercy of whatever
# else the machine does: take the median of three (by wall time). tshark,
# at 15-20 s, averages the noise out by itself.
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
runs=()
for i in 1 2 3; do
	runs+=("$(measure natdoc "$bin" analyze --progress=false "$pcap")")
done
read -r nd_wall nd_cpu nd_rss < <(printf '%s\n' "${runs[@]}" | sort -n | sed -n 2p)
nd_walls=$(printf '%s\n' "${runs[@]}" | awk '{print $1}' | paste -sd' ')
read -r ts_wall ts_cpu ts_rss < <(measure tshark tshark -n -q -o rtp.heuristic_rtp:TRUE -z rtp,streams -r "$pcap")

printf 'capture: %s (%d bytes, %s packets, %d calls)\n' "$pcap" "$bytes" "${packets:-?}" "$calls"
printf 'machine: %s cores, load average %s before, %s after\n' "$(nproc)" "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'natdoc runs (wall s): %s; the median is shown\n' "$nd_walls"
printf '%-8s %9s %9s %12s %10s\n' tool "wall (s)" "CPU (s)" "packets/s" "peak RSS"
for t in natdoc tshark; do
	if [ $t = natdoc ]; then w=$nd_wall c=$nd_cpu r=$nd_rss; else w=$ts_wall c=$ts_cpu r=$ts_rss; fi
	pps=$(awk -v p="${packets:-0}" -v w="$w" 'BEGIN { if (w > 0) printf "%.0f", p / w; else print "-" }')
	printf '%-8s %9s %9s %12s %7d MB\n' $t "$w" "$c" "$pps" $((r / 1024))
done
awk -v a="$ts_wall" -v b="$nd_wall" -v c="$ts_rss" -v d="$nd_rss" -v e="$ts_cpu" -v f="$nd_cpu" \
	'BEGIN { printf "natdoc: %.1fx faster than tshark (wall), %.1fx less CPU, %.1fx less memory\n", a / b, e / f, c / d }'
grep -m1 "call(s)" "$dir/natdoc.out" || true
