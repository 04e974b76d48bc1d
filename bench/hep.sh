#!/usr/bin/env bash
# natdoc capture --hep under load. bench/cmd/hepload, the HEP agent, sends
# the SIP of complete calls (seven messages each) as HEPv3 over loopback at
# RATE messages/s for SECONDS; natdoc capture --hep, pinned to one core with
# GOMAXPROCS=1, judges them. Prints, from the same run, the sender's rate
# and CPU, what natdoc received and judged, its CPU and peak RSS, and the
# datagrams the kernel dropped for a full socket buffer (RcvbufErrors).
# natdoc prints its text report, so finished calls are kept compact, as in
# production (JSON keeps every call whole).
#
#   bench/hep.sh [RATE] [SECONDS]        (default 50000 10)
#   PROFILE=FILE bench/hep.sh ...        also writes natdoc's CPU profile
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-50000}
secs=${2:-10}
dir=${BENCH_DIR:-/tmp/natdoc-bench}
port=${HEP_PORT:-19060}
mkdir -p "$dir"
go build -o "$dir/natdoc" ./cmd/natdoc
go build -o "$dir/hepload" ./bench/cmd/hepload

# rcvbuf_errors reads the UDP RcvbufErrors counter by its header name.
rcvbuf_errors() {
	awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1 } else print $c }' /proc/net/snmp
}
# Every call ends at once, and each waits 30 s after its BYE for trailing
# media: all the calls of the run are in progress at its end. --max-calls
# is set to follow them all (the default, 50,000, is about 7 s of 50,000
# messages/s).
max_calls=$((rate * secs / 7 + 1000))
drops_before=$(rcvbuf_errors)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
GOMAXPROCS=1 taskset -c 1 /usr/bin/time -f "%e %U %S %M" -o "$dir/hep-natdoc.time" \
	"$dir/natdoc" capture --hep "127.0.0.1:$port" --duration "$((secs + 4))s" --max-calls "$max_calls" --no-color ${PROFILE:+--cpuprofile "$PROFILE"} > "$dir/hep-natdoc.txt" 2> /dev/null &
natdoc=$!
sleep 1
taskset -c 0 /usr/bin/time -f "%e %U %S %M" -o "$dir/hep-load.time" \
	"$dir/hepload" -to "127.0.0.1:$port" -rate "$rate" -duration "${secs}s" > "$dir/hep-load.json"
wait $natdoc || true # exit 1 when calls have problems: expected
drops=$(($(rcvbuf_errors) - drops_before))

read -r _ l_user l_sys _ < <(tail -n 1 "$dir/hep-load.time")
read -r _ n_user n_sys n_rss < <(tail -n 1 "$dir/hep-natdoc.time")
python3 - "$dir/hep-load.json" "$dir/hep-natdoc.txt" "$l_user" "$l_sys" "$n_user" "$n_sys" "$n_rss" "$drops" "$secs" <<'PY'
import json, re, sys
load, text = json.load(open(sys.argv[1])), open(sys.argv[2]).read()
l_cpu, n_cpu = float(sys.argv[3]) + float(sys.argv[4]), float(sys.argv[5]) + float(sys.argv[6])
rss, drops, secs = int(sys.argv[7]), int(sys.argv[8]), float(sys.argv[9])
# The text report: "decoded: ..., sip N" and "N call(s): ..." or "K of N
# call(s) had ...".
m = re.search(r"decoded:.*?\bsip (\d+)", text)
sip = int(m.group(1)) if m else 0
m = re.search(r"(\d+) call\(s\)", text)
calls = int(m.group(1)) if m else 0
print(f"hepload  sent {load['messages']:>9,} SIP messages in {load['seconds']:.2f} s: {load['rate']:>9,.0f}/s, CPU {l_cpu:.2f} s ({100*l_cpu/load['seconds']:.0f}% of a core)")
print(f"natdoc   read {sip:>9,} SIP messages ({100*sip/max(1,load['messages']):.2f}%), {calls:,} calls judged; "
      f"CPU {n_cpu:.2f} s ({100*n_cpu/secs:.0f}% of one core over the {secs:.0f} s of load), peak RSS {rss//1024} MB")
m = re.search(r"anomaly (\d+) × calls-not-followed", text)
if m:
    print(f"natdoc   {int(m.group(1)):,} calls not followed (more in progress than --max-calls)")
print(f"kernel   {drops:,} UDP datagrams dropped for a full socket buffer (RcvbufErrors)")
print(f"natdoc   {sip/secs:,.0f} SIP messages/s judged on one core (GOMAXPROCS=1, taskset)")
PY
printf 'machine: %s cores, load average %s before, %s after\n' "$(nproc)" "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg)"
