#!/usr/bin/env bash
# Benchmark natdoc analyze against the tools an engineer would reach for, on
# generated captures (internal/pcapgen):
#
#   bench/analyze.sh [CALLS]
#       media-heavy, against tshark: about 1 GB, 1,000 calls, 100
#       concurrent, 48 s of G.711 each way, every tenth call one-way (a
#       leaked private SDP address). Wall, CPU, packets/s, peak RSS.
#   bench/analyze.sh --signalling [CALLS] [RUNS]
#       signalling-heavy, as an SBC's capture filtered to SIP: 50,000 calls
#       (complete, cancelled, rejected, re-INVITEs, some over TCP), about
#       350,000 SIP messages, no RTP; against sngrep (-N -I FILE -q -l
#       2*CALLS, so that it keeps every call: by default it keeps 20,000) and
#       tshark (-q -z sip,stat); natdoc with text and with --json output.
#   bench/analyze.sh --unanswered [CALLS] [RUNS]
#       the same tools on 300,000 INVITEs nobody answers, each resent until
#       Timer B (2.1 M messages).
#
# The signalling modes pin every tool to one core (taskset -c 0), run the
# tools interleaved RUNS times (default 3) and report the median of each,
# with the load average: the machine may be shared. Captures are kept in
# $BENCH_DIR (default /tmp/natdoc-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${BENCH_DIR:-/tmp/natdoc-bench}
mkdir -p "$dir"
bin="$dir/natdoc"
go build -o "$bin" ./cmd/natdoc
go build -o "$dir/pcapgen" ./internal/pcapgen/cmd/pcapgen

# measure NAME CMD...: wall seconds, CPU seconds (user+system) and peak RSS
# (KiB) via GNU time. natdoc exits 1 when it finds problems: expected.
measure() {
	local name=$1; shift
	local tf="$dir/$name.time"
	/usr/bin/time -f "%e %U %S %M" -o "$tf" "$@" > "$dir/$name.out" 2> "$dir/$name.err" || true
	read -r wall user sys rss < <(tail -n 1 "$tf")
	echo "$wall $(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }') $rss"
}

# median FILE: the line of FILE ("wall cpu rss") with the median wall time.
median() {
	sort -n "$1" | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }'
}

media_mode() {
	local calls=${1:-1000}
	local pcap="$dir/calls-$calls.pcap"
	if [ ! -s "$pcap" ]; then
		"$dir/pcapgen" -calls "$calls" -concurrent 100 -media 48s -one-way-every 10 -o "$pcap"
	fi
	local bytes packets
	bytes=$(stat -L -c %s "$pcap")
	packets=$(capinfos -M -c "$pcap" 2>/dev/null | awk '/Number of packets/ {print $NF}' || true)
	cat "$pcap" > /dev/null # into the page cache, so both tools read from memory

	# natdoc takes well under a second, so one run is at the mercy of
	# whatever else the machine does: take the median of three (by wall
	# time). tshark, at 15-20 s, averages the noise out by itself.
	local load_before nd_walls
	load_before=$(cut -d' ' -f1-3 /proc/loadavg)
	: > "$dir/natdoc.runs"
	for i in 1 2 3; do
		measure natdoc "$bin" analyze --progress=false "$pcap" >> "$dir/natdoc.runs"
	done
	read -r nd_wall nd_cpu nd_rss < <(median "$dir/natdoc.runs")
	nd_walls=$(awk '{print $1}' "$dir/natdoc.runs" | paste -sd' ')
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
}

# signalling_mode MIX CALLS RUNS: generate a SIP-only capture and run
# sngrep, tshark and natdoc (text, JSON) on it, interleaved, on one core.
signalling_mode() {
	local mix=$1 calls=$2 runs=$3
	local pcap="$dir/$mix-$calls.pcap"
	if [ ! -s "$pcap" ]; then
		case $mix in
		signalling) "$dir/pcapgen" -mix signalling -calls "$calls" -concurrent 200 -media 60s -o "$pcap" 2> "$pcap.truth" ;;
		unanswered) "$dir/pcapgen" -mix unanswered -calls "$calls" -rate 100 -o "$pcap" 2> "$pcap.truth" ;;
		esac
	fi
	local bytes packets load_before
	bytes=$(stat -L -c %s "$pcap")
	packets=$(capinfos -M -c "$pcap" 2>/dev/null | awk '/Number of packets/ {print $NF}' || true)
	cat "$pcap" > /dev/null
	local tools=(sngrep tshark natdoc-text natdoc-json)
	for t in "${tools[@]}"; do : > "$dir/$t.runs"; done
	# sngrep keeps 20,000 dialogs unless told otherwise (-l; its capture
	# limit cannot be switched off) and reads no new call past them: on
	# 50,000 calls it did 40 % of the work. Room for twice the calls makes
	# it read every call, as natdoc and tshark do.
	local sngrep_limit=$((calls * 2))
	load_before=$(cut -d' ' -f1-3 /proc/loadavg)
	for ((i = 1; i <= runs; i++)); do
		measure sngrep taskset -c 0 sngrep -N -I "$pcap" -q -l "$sngrep_limit" >> "$dir/sngrep.runs"
		measure natdoc-text taskset -c 0 "$bin" analyze --progress=false "$pcap" >> "$dir/natdoc-text.runs"
		measure tshark taskset -c 0 tshark -n -q -z sip,stat -r "$pcap" >> "$dir/tshark.runs"
		measure natdoc-json taskset -c 0 "$bin" analyze --progress=false --json "$pcap" >> "$dir/natdoc-json.runs"
	done
	printf 'capture: %s (%d bytes, %s packets, %d calls, %s mix)\n' "$pcap" "$bytes" "${packets:-?}" "$calls" "$mix"
	printf 'machine: %s cores (each tool pinned to core 0), load average %s before, %s after\n' \
		"$(nproc)" "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg)"
	printf '%d interleaved runs per tool; the median by wall time is shown\n' "$runs"
	printf '%-12s %9s %9s %10s   %s\n' tool "wall (s)" "CPU (s)" "peak RSS" "all walls (s)"
	for t in "${tools[@]}"; do
		read -r w c r < <(median "$dir/$t.runs")
		printf '%-12s %9s %9s %7d MB   %s\n' "$t" "$w" "$c" $((r / 1024)) "$(awk '{print $1}' "$dir/$t.runs" | paste -sd' ')"
		eval "${t//-/_}_wall=$w"
	done
	for t in natdoc-text natdoc-json; do
		local v=${t//-/_}_wall
		awk -v n="$t" -v s="$sngrep_wall" -v ts="$tshark_wall" -v w="${!v}" \
			'BEGIN { printf "%s: %.1fx faster than sngrep, %.1fx faster than tshark (wall)\n", n, s / w, ts / w }'
	done
	echo "truth:  $(sed 's/^pcapgen: //' "$pcap.truth")"
	echo "natdoc: $(grep -m1 "call(s)" "$dir/natdoc-text.out" || true)"
	# Untimed: how many dialogs sngrep kept (its progress line, not -q).
	echo "sngrep: $(sngrep -N -I "$pcap" -l "$sngrep_limit" 2>&1 | grep -o 'Dialog count: [0-9]*' | tail -n 1 || true) (-l $sngrep_limit)"
}

case ${1:-} in
--signalling) signalling_mode signalling "${2:-50000}" "${3:-3}" ;;
--unanswered) signalling_mode unanswered "${2:-300000}" "${3:-3}" ;;
*) media_mode "$@" ;;
esac
