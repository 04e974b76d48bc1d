#!/usr/bin/env bash
# Benchmark natdoc's RTP relay against rtpengine in the same run, on loopback.
#
# natdoc's relay (package relay, what `natdoc serve` anchors media in) runs
# as its own process, bench/cmd/ngrelay, which exposes the relay API through
# the subset of rtpengine's ng control protocol (offer/answer/delete) that the
# load generator uses for both relays. rtpengine runs in user space
# (--table=-1, no kernel module). A second ngrelay runs with
# --kernel-forward (natdoc's opt-in nftables forwarding: "natdoc-kernel").
# The relays are pinned to core 0, the load generator (bench/cmd/rtpload)
# to core 1. A kernel-forwarding relay works in softirq on the sending
# core, so every row also gets the whole machine's busy time per packet
# less the "direct" row's ("added machine µs/pkt").
#
# For every load, fresh calls are set up in each relay (fresh call-ids),
# G.711-like RTP (172-byte packets, 50/s per stream, both directions; a send
# timestamp in the payload) flows for a warm-up and a measurement window, the
# calls are deleted. Measured: delivered pps, loss, added latency p50/p99
# (payload stamp to the generator's kernel receive stamp) and the relay
# process's CPU time (/proc/PID/stat). Loads: 100 and 1,000 calls (10,000 and
# 100,000 pps), then a step-up per relay until its first loss. "direct" is
# the method's floor: the generator's sockets sending to each other.
#
#   bench/relay.sh [--quick] [--profile DIR] [--no-nice] [--rps] [-- RTPLOAD-FLAGS...]
#
# --rps runs everything in a network namespace of its own whose lo steers
# received packets to core 0 (RPS), so the kernel's receive work for every
# packet, and a kernel-forwarding relay's forwarding, runs on the relays'
# core as a NIC's receive work would on a server, instead of on the
# generator's (loopback receives on the sending core). The namespace is
# removed at exit; a tick's burst then crosses cores through the per-core
# backlog, which bench/settings.sh raises for every run.
#
# The system settings a result depends on (socket buffer defaults and
# limits, the backlog, open files; bench/settings.sh says why each) are set
# for the run, printed, and restored at exit.
#
# Relays and generator run at nice -20 (root) so that other users' jobs on
# a shared machine take less of their cores; --no-nice runs them at the
# default priority. The "core busy %" column shows how busy the relays' core
# was in total (every process and interrupt), so contention stays visible.
#
# Bounded: at most a few thousand calls, about 5 minutes (--quick: about 2,
# each load still 2 s of warm-up before 4 s measured);
# everything stops by itself, and on Ctrl-C. Needs root only for the large
# generator socket buffers (SO_RCVBUFFORCE; without root it falls back).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
profile=""
nice=(nice -n -20)
rps=0
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--rps) rps=1 ;;
	--profile) profile=$2; shift ;;
	--no-nice) nice=() ;;
	--) shift; break ;; # the rest goes to rtpload (e.g. -- --loads 1000 --stepup "")
	*) echo "usage: $0 [--quick] [--profile DIR] [--no-nice] [--rps]" >&2; exit 2 ;;
	esac
	shift
done

source bench/settings.sh
dir=${BENCH_DIR:-/tmp/natdoc-bench}/relay
mkdir -p "$dir"
command -v rtpengine >/dev/null || { echo "rtpengine not installed (apt-get install rtpengine-daemon)" >&2; exit 3; }
command -v taskset >/dev/null || { echo "taskset missing (util-linux)" >&2; exit 3; }
[ "$(nproc --all)" -ge 2 ] || { echo "needs 2 cores (relay and generator pinned apart)" >&2; exit 3; }

go build -o "$dir/ngrelay" ./bench/cmd/ngrelay
go build -o "$dir/rtpload" ./bench/cmd/rtpload

# 4 sockets per call in each relay (RTP+RTCP per leg): 3,000 calls take
# 12,000 descriptors (bench_apply_settings raises the open-files limit).

# Addresses of their own in 127/8: nothing else on loopback collides.
ng_natdoc=127.0.8.2:2224
ng_kernel=127.0.8.3:2225
ng_rtpengine=127.0.8.1:2223
pids=()
ns=""
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	[ -z "$ns" ] || ip netns del "$ns"
	bench_restore_settings
}
trap cleanup EXIT INT TERM
bench_apply_settings
in_ns=() # prefix that runs a program in the benchmark's namespace (--rps)
if [ $rps = 1 ]; then
	ns=natdoc-bench-$$
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip netns exec "$ns" sh -c 'echo 1 > /sys/class/net/lo/queues/rx-0/rps_cpus'
	in_ns=(ip netns exec "$ns") # exec's the program: $! stays its PID
fi

"${in_ns[@]}" "${nice[@]}" taskset -c 0 "$dir/ngrelay" --ng "$ng_natdoc" --ports 20000-29999 --max-sessions 2500 ${NGRELAY_FLAGS:-} > "$dir/ngrelay.log" 2>&1 &
natdoc_pid=$!
pids+=("$natdoc_pid")
# The same relay with --kernel-forward: latched streams go into an nftables
# netdev table on lo (natdoc_relay_PID_1, removed when it exits; a killed
# one's is removed at the next start). Its forwarding then happens in
# softirq on the sending core (the generator's): see "added machine µs/pkt".
"${in_ns[@]}" "${nice[@]}" taskset -c 0 "$dir/ngrelay" --ng "$ng_kernel" --ports 50000-59999 --max-sessions 2500 --kernel-forward ${NGRELAY_FLAGS:-} > "$dir/ngrelay-kernel.log" 2>&1 &
kernel_pid=$!
pids+=("$kernel_pid")
# rtpengine: user-space forwarding, no kernel table, no config file,
# logging low (its per-call log lines would be measured otherwise), calls
# freed at delete (its default keeps them 30 s, and the sockets of two
# earlier step-up loads then exhaust the descriptor limit: "Ran out of
# ports" at 2,000 calls).
"${in_ns[@]}" "${nice[@]}" taskset -c 0 rtpengine --config-file=none --foreground --log-stderr --table=-1 \
	--interface=127.0.8.1 --listen-ng="$ng_rtpengine" --port-min=30000 --port-max=49999 \
	--log-level=3 --delete-delay=0 --pidfile="$dir/rtpengine.pid" > "$dir/rtpengine.log" 2>&1 &
rtpengine_pid=$!
pids+=("$rtpengine_pid")
sleep 1
kill -0 "$natdoc_pid" "$kernel_pid" "$rtpengine_pid" || { echo "a relay did not start; see $dir/*.log" >&2; exit 3; }

if [ $quick = 1 ]; then
	args=(--warmup 2s --duration 4s --drain 500ms --loads 100,1000 --stepup 1500,2000,2500)
else
	args=(--warmup 2s --duration 10s --drain 1s --loads 100,1000 --stepup 1200,1400,1600,2000,2500)
fi
[ -n "$profile" ] && { mkdir -p "$profile"; args+=(--profile "$profile"); }

bench_print_settings >&2
echo "relays on core 0, generator on core 1$([ $rps = 1 ] && echo ", loopback receive steered to core 0 (--rps)")" >&2
# timeout: a hung relay must not hold the script; 15 min is three times the
# full run.
timeout --signal=INT 15m "${in_ns[@]}" "${nice[@]}" taskset -c 1 "$dir/rtpload" --relay-cpu 0 \
	--targets "direct;natdoc,$ng_natdoc,$natdoc_pid;natdoc-kernel,$ng_kernel,$kernel_pid;rtpengine,$ng_rtpengine,$rtpengine_pid" \
	--json "$dir/results.json" "${args[@]}" "$@"
echo "load after the run: $(cut -d' ' -f1-3 /proc/loadavg); results in $dir/results.json" >&2
