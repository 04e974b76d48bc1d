#!/usr/bin/env bash
# Soak `natdoc serve`: 10,000 calls with audio through its proxy and relay,
# then prove that every call ended once and nothing leaked. On loopback.
#
#   bench/soak.sh [--calls N] [--quick] [--natdoc BIN]
#
# The sipp scenarios of bench/sipp/soak (also run, a few hundred calls, by
# `go test ./proxy -run SoakMixed`), against three sipp callees registered
# with the server: "answer" (answers, echoes every RTP packet with
# -rtp_echo, takes re-INVITEs), "ring" (rings until cancelled) and
# "noanswer" (rings 3 s, then 480). Callers, all at once, N calls in all
# (default 10,000; --quick 1,000), in these shares:
#   50% short calls, 2 s of PCMU both ways     (rate N/400 per second)
#   10% long calls, 40 s                       (N/2000 per second)
#   15% calls re-INVITEd after 5 s, 10 s long  (N*0.15/200 per second)
#   12.5% cancelled after 1 s of ringing, 12.5% never answered
# so the load lasts about 200 s at N/200 calls per second with, at 10,000
# calls, about 300 in progress at once and some 30,000 RTP packets per
# second through the relay (sipp streams 20 ms packets with rtp_stream).
#
# Checks, after a warm-up of 100 short calls and again after the load,
# each time once the server is quiet (no call in progress, every relay
# port free, 40 s for finished SIP transactions to expire, RFC 3261 Timer
# J) and the Go runtime has collected garbage since (it does so at least
# every 2 minutes): goroutines, open files and the live heap as of that
# collection from serve's --metrics, threads and resident memory from
# /proc/PID. Then serve is stopped; its metrics and its summary (--json)
# must count every call started and ended once, by kind: bye, cancelled,
# rejected (the 480s). Each sipp caller must report all its calls
# successful. The script exits 1 when a check fails.
#
# natdoc serve's protection limits are lifted (--rate-limit, --max-calls)
# since all callers share one address. Bounded: every sipp stops after its
# -m calls or its own timeout; servers and sipps are stopped at the end and
# on Ctrl-C. About 8 minutes (--quick: about 4).
set -euo pipefail
cd "$(dirname "$0")/.."

calls=10000
natdoc=""
while [ $# -gt 0 ]; do
	case $1 in
	--calls) calls=$2; shift ;;
	--quick) calls=1000 ;;
	--natdoc) natdoc=$2; shift ;;
	*) echo "usage: $0 [--calls N] [--quick] [--natdoc BIN]" >&2; exit 2 ;;
	esac
	shift
done
for c in sipp jq bc curl; do
	command -v $c >/dev/null || { echo "$c not installed (apt-get install sip-tester jq bc curl)" >&2; exit 3; }
done

dir=${BENCH_DIR:-/tmp/natdoc-bench}/soak
rm -rf "$dir"
mkdir -p "$dir"
repo=$PWD
if [ -z "$natdoc" ]; then
	natdoc=$dir/natdoc
	go build -o "$natdoc" ./cmd/natdoc
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cd "$dir"
# One second of G.711 u-law silence, looped by rtp_stream.
head -c 8000 /dev/zero | tr '\0' '\377' > soak-audio.ulaw

server=127.0.9.4:5060 metrics=127.0.9.4:9464 callee_ip=127.0.9.5 caller_ip=127.0.9.6
rtp_lo=40000 rtp_hi=49999
pairs=$(( (rtp_hi - rtp_lo + 1) / 2 ))
if ss -Hulnp "src $server" | grep -q .; then echo "$server/udp is taken" >&2; exit 3; fi
if ss -Htlnp "src $metrics" | grep -q .; then echo "$metrics/tcp is taken" >&2; exit 3; fi

serve_pid="" watch_pid="" pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ -n "$watch_pid" ]; then kill "$watch_pid" 2>/dev/null || true; wait "$watch_pid" 2>/dev/null || true; fi
	if [ -n "$serve_pid" ]; then kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$natdoc" serve --listen "$server" --allow 127.0.0.0/8 --tcp=false --echo=false --mirror=false --rtp-ports "$rtp_lo-$rtp_hi" \
	--rate-limit 1000000 --max-calls 100000 --quiet --metrics "$metrics" --json -o serve.json > serve.out 2> serve.err &
serve_pid=$!
sleep 1.5
kill -0 "$serve_pid" 2>/dev/null || { echo "natdoc serve did not start; see $dir/serve.err" >&2; exit 3; }

# scrape: serve's metrics now, in scrape.txt. metric NAME: one value of it
# (NAME with its labels, as the scrape writes them; 0 when absent).
scrape() { curl -sf "http://$metrics/metrics" > scrape.txt; }
metric() { awk -v n="$1" 'index($0, n " ") == 1 { v = $NF } END { printf "%.0f\n", v }' scrape.txt; }

sc=$repo/bench/sipp/soak
# callee USER PORT SCENARIO MEDIA-PORT PAUSE-MS
callee() {
	sipp "$server" -sf "$repo/bench/sipp/register-uas.xml" -key user "$1" -i $callee_ip -p "$2" -m 1 -nostdin -timeout 10s -timeout_error \
		> "reg-$1.out" 2>&1 || { echo "registering $1 failed; see $dir/reg-$1.out" >&2; exit 3; }
	sipp -sf "$sc/$3.xml" -i $callee_ip -p "$2" -mi $callee_ip -mp "$4" -rtp_echo -d "$5" -nostdin -timeout 3600s \
		-trace_err -error_file "callee-$1.err" > "callee-$1.out" 2>&1 &
	pids+=($!)
}
callee answer 5070 uas-answer 7000 0
callee ring 5071 uas-ring 7010 0
callee noanswer 5072 uas-noanswer 7020 3000
sleep 0.5

# caller NAME SCENARIO CALLEE CALLS RATE PAUSE-MS PORT: one sipp caller in
# the background; its statistics go to NAME.csv.
callers=()
caller() {
	[ "$4" -gt 0 ] || return 0
	sipp "$server" -sf "$sc/$2.xml" -key callee "$3" -i $caller_ip -p "$7" -mi $caller_ip -d "$6" -r "$5" -rp 1000 -m "$4" -l 5000 \
		-nostdin -timeout 900s -timeout_error -trace_stat -stf "$1.csv" -fd 5 -trace_err -error_file "$1.err" > "$1.out" 2>&1 &
	pids+=($!)
	callers+=("$1:$4:$!")
}

# quiet: wait until no call is in progress and every relay port is free,
# then 40 s more (finished SIP transactions expire, Timer J).
quiet() {
	local deadline=$((SECONDS + 300))
	while [ $SECONDS -lt $deadline ]; do
		scrape
		if [ "$(metric natdoc_calls_active)" = 0 ] && [ "$(metric natdoc_relay_sessions)" = 0 ] &&
			[ "$(metric natdoc_relay_ports_free)" = $((2 * pairs)) ]; then
			sleep 40
			return 0
		fi
		sleep 2
	done
	echo "the server did not become quiet within 300 s" >&2
	return 1
}

# sample: one line of figures once the runtime collected garbage after
# now: open files, threads, RSS kB, goroutines, live heap bytes.
sample() {
	local since deadline=$((SECONDS + 150))
	since=$(date +%s)
	scrape
	while [ "$(metric go_memstats_last_gc_time_seconds)" -lt "$since" ]; do
		[ $SECONDS -lt $deadline ] || { echo "no garbage collection within 150 s" >&2; return 1; }
		sleep 5
		scrape
	done
	echo "$(metric process_open_fds) $(awk '/^Threads:/ {print $2}' "/proc/$serve_pid/status")" \
		"$(awk '/^VmRSS:/ {print $2}' "/proc/$serve_pid/status") $(metric go_goroutines) $(metric go_gc_heap_live_bytes)"
}

# watch_active: the calls in progress every 2 s, in active.log, while the
# load runs.
watch_active() {
	while :; do
		{ curl -sf "http://$metrics/metrics" || true; } | awk '$1 == "natdoc_calls_active" { print $2 }' >> active.log
		sleep 2
	done
}

wait_callers() {
	local bad=0 c name n pid ok failed
	for c in "${callers[@]}"; do
		IFS=: read -r name n pid <<< "$c"
		wait "$pid" || true
		ok=$(awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next } { v = $0 } END { split(v, f, ";"); print f[col["SuccessfulCall(C)"]] + 0, f[col["FailedCall(C)"]] + 0 }' "$name.csv")
		read -r ok failed <<< "$ok"
		echo "  $name: $ok of $n calls successful, $failed failed" >&2
		[ "$ok" -eq "$n" ] && [ "$failed" -eq 0 ] || bad=1
	done
	callers=()
	return $bad
}

fail=0
echo "warm-up: 100 short calls" >&2
caller warmup uac-talk answer 100 20 1000 5080
wait_callers || fail=1
quiet
read -r fd0 th0 rss0 go0 heap0 < <(sample)

n_short=$((calls / 2)) n_long=$((calls / 10)) n_reinv=$((calls * 15 / 100))
n_cancel=$((calls / 8)) n_noans=$((calls - n_short - n_long - n_reinv - calls / 8))
rate() { echo "scale=2; r = $1 / 200; if (r < 0.5) r = 0.5; r" | bc; }
echo "load: $calls calls over about 200 s" >&2
t0=$SECONDS
caller short uac-talk answer $n_short "$(rate $n_short)" 2000 5081
caller long uac-talk answer $n_long "$(rate $n_long)" 40000 5082
caller reinvite uac-reinvite answer $n_reinv "$(rate $n_reinv)" 5000 5083
caller cancel uac-cancel ring $n_cancel "$(rate $n_cancel)" 1000 5084
caller noanswer uac-noanswer noanswer $n_noans "$(rate $n_noans)" 0 5085
watch_active &
watch_pid=$!
wait_callers || fail=1
load_s=$((SECONDS - t0))
kill "$watch_pid"
wait "$watch_pid" 2>/dev/null || true
watch_pid=""
quiet
read -r fd1 th1 rss1 go1 heap1 < <(sample)
peak=$(sort -n active.log | tail -n 1)
scrape
m_started=$(metric natdoc_calls_started_total)
m_ended=$(awk '/^natdoc_calls_ended_total/ { s += $NF } END { printf "%.0f\n", s }' scrape.txt)
kill "$serve_pid"
wait "$serve_pid" || true
serve_pid=""

total=$((calls + 100))
counter() { jq -r --arg k "$1" '.serve.counters[]? | select(.key == $k) | .value' serve.json; }
started=$(counter "calls started") ended=$(counter "calls ended")
bye=$(counter "ended: bye") cancelled=$(counter "ended: cancelled") rejected=$(counter "ended: rejected")
want_bye=$((100 + n_short + n_long + n_reinv))

check() { # NAME OK-EXPRESSION DETAIL
	local verdict=ok
	[ "$(echo "$2" | bc)" = 1 ] || { verdict=FAILED; fail=1; }
	printf '  %-34s %-8s %s\n' "$1" "$verdict" "$3"
}
echo
echo "natdoc serve soak: $total calls ($calls after a warm-up of 100) in ${load_s} s, $(echo "scale=1; $calls / $load_s" | bc) calls/s, peak $peak calls at once"
check "every call started and ended once" "${started:-0} == $total && ${ended:-0} == $total" "started ${started:-?}, ended ${ended:-?}, want $total"
check "the metrics count the same" "$m_started == $total && $m_ended == $total" "started $m_started, ended $m_ended"
check "ended by kind" "${bye:-0} == $want_bye && ${cancelled:-0} == $n_cancel && ${rejected:-0} == $n_noans" "bye ${bye:-0}/$want_bye, cancelled ${cancelled:-0}/$n_cancel, rejected ${rejected:-0}/$n_noans"
check "open files back (relay ports freed)" "$fd1 <= $fd0" "$fd0 after warm-up, $fd1 after the load"
check "goroutines back" "$go1 <= $go0 + 5" "$go0 -> $go1"
# The summary keeps the last 1,000 calls' records, 2 to 2.5 KB each.
check "live heap back" "$heap1 <= $heap0 + 1000 * 2560 + 1048576" "$((heap0 / 1024)) KiB -> $((heap1 / 1024)) KiB"
check "threads" "$th1 <= $th0 + 4" "$th0 -> $th1"
printf '  %-34s %-8s %s\n' "resident memory" "-" "$rss0 kB -> $rss1 kB"
echo "(figures once quiet: no call in progress, all $((2 * pairs)) relay ports free, 40 s after the last call, then a collection; files in $dir)"
exit $fail
