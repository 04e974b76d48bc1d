#!/usr/bin/env bash
# Benchmark `natdoc serve` against Kamailio as SIP registrar and proxy, with
# sipp, in the same run, on loopback.
#
#   bench/signalling.sh [--quick] [--natdoc BIN] [--step SECONDS]
#
# natdoc is built from this tree's ./cmd/natdoc, or given as --natdoc BIN.
#
# Kamailio: a plain registrar + proxy (bench/kamailio/kamailio.cfg: usrloc
# in memory, record_route, lookup, t_relay; -m 1024, debug=0). natdoc serve:
# --allow 127.0.0.0/8 (the sipp users are trusted without digest auth), fix
# mode as by default (every call gets a relay session) and, as
# "natdoc-proxy", --fix=false (a proxy only, Kamailio's job), keepalive pings set
# to an hour so none fall inside the run. Each server is pinned to core 0 and
# sipp to core 1, each server restarted (empty state) for each scenario.
#
# Scenarios (bench/sipp/): "register", REGISTER with a new user each, kept
# (register.xml); "regunreg", a new user registers and unregisters (two
# REGISTERs, register-unregister.xml): the same work without the table
# growing, because natdoc serve bounds its bindings at 10,000 (no flag) and
# "register" at thousands per second only meets that bound after seconds;
# "calls", INVITE/200/ACK, 200 ms, BYE/200 through the proxy, honouring
# Record-Route (uac.xml, uas.xml).
# Each rate step lasts --step seconds (30 by default); the step-up stops at
# the first rate not held. A rate is held only if sipp kept it (wall time
# within 5% + 2 s of the planned), no call failed, and retransmissions stayed
# near zero (at most 0.1% of calls); the UDP RcvbufErrors counter of
# /proc/net/snmp is reported with each step, since "no failed call" alone
# hides UDP drops that retransmission repaired.
#
# natdoc serve's protection limits (200 requests/s per source IP, 10,000
# registrations, 2,000 calls in progress, an event line per call) are lifted
# with its flags (--rate-limit, --max-registrations, --max-calls, --quiet)
# where the binary has them, since Kamailio's plain config has no such
# limits either. Without those flags, sipp from one address meets the
# per-source limit at once; "natdoc-spread" then spreads the callers over
# many source addresses (sipp -t ui) and callee instances, to measure the
# server as a fleet of phones would load it ("kamailio-spread" checks that
# harness: sipp -t ui with 200 sockets, or 34 callee processes on one core,
# could not hold 2,500 calls/s even against Kamailio here).
#
# Bounded: sipp stops after rate x step calls or its own timeout, servers
# are killed at the end and on Ctrl-C; about 8-10 minutes (--quick: 10 s
# steps, about 3 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
step=30
natdoc=""
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1; step=10 ;;
	--natdoc) natdoc=$2; shift ;;
	--step) step=$2; shift ;;
	*) echo "usage: $0 [--quick] [--natdoc BIN] [--step SECONDS]" >&2; exit 2 ;;
	esac
	shift
done

dir=${BENCH_DIR:-/tmp/natdoc-bench}/signalling
rm -rf "$dir"
mkdir -p "$dir"
for c in sipp kamailio taskset; do
	command -v $c >/dev/null || { echo "$c not installed (apt-get install sip-tester kamailio util-linux)" >&2; exit 3; }
done

# natdoc: built from this tree unless --natdoc names a binary; the output
# says which.
natdoc_src="this tree"
if [ -z "$natdoc" ]; then
	natdoc=$dir/natdoc
	go build -o "$natdoc" ./cmd/natdoc
else
	natdoc_src=$natdoc
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# sipp writes files of its own (statistics, errors) into the current
# directory when it aborts: keep them out of the source tree.
repo=$PWD
cd "$dir"

# natdoc serve's protection limits are for phones on the internet: 200
# requests/s per source IP, 10,000 registrations, 2,000 calls, an event
# line per call. The benchmark lifts them with serve's flags, as Kamailio's
# config has none; a --natdoc binary built before those flags existed keeps
# them, and then only the spread run (many source addresses) can load it.
natdoc_limits=()
if "$natdoc" serve --help 2>&1 | grep -q -- --rate-limit; then
	natdoc_limits=(--rate-limit 1000000 --max-registrations 2000000 --max-calls 100000 --quiet)
fi

# Addresses of their own in 127/8, so nothing else on this loopback
# (other tests, other benchmarks) collides with them.
kam_addr=127.0.9.1:5060
nat_addr=127.0.9.2:5060
for a in $kam_addr $nat_addr; do
	if ss -Hulnp "src $a" | grep -q .; then echo "$a/udp is taken" >&2; exit 3; fi
done

server_pid=""
sipp_pids=()
stop_server() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
		server_pid=""
	fi
}
stop_sipps() {
	for p in "${sipp_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${sipp_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	sipp_pids=()
}
cleanup() { stop_sipps; stop_server; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server NAME: an empty server of that kind on core 0.
start_server() {
	case $1 in
	kamailio*)
		rm -rf "$dir/kamailio.run" && mkdir -p "$dir/kamailio.run"
		taskset -c 0 kamailio -f "$repo/bench/kamailio/kamailio.cfg" -l "udp:$kam_addr" -m 1024 -M 16 \
			-DD -E -w "$dir/kamailio.run" -P "$dir/kamailio.run/pid" > "$dir/kamailio.log" 2>&1 &
		server_pid=$!
		target=$kam_addr
		;;
	natdoc*)
		# natdoc-proxy: --fix=false, a proxy without media anchoring, the
		# same job as Kamailio's config; natdoc: fix mode, every call also
		# gets a relay session (four sockets) and its SDP rewritten.
		fix=true
		[[ $1 == natdoc-proxy* ]] && fix=false
		taskset -c 0 "$natdoc" serve --listen "$nat_addr" --allow 127.0.0.0/8 --tcp=false --fix=$fix \
			--echo=false --keepalive 1h --rtp-ports 40000-49999 "${natdoc_limits[@]}" > "$dir/natdoc.out" 2>> "$dir/natdoc.log" &
		server_pid=$!
		target=$nat_addr
		;;
	esac
	sleep 1.5
	kill -0 "$server_pid" 2>/dev/null || { echo "$1 did not start; see $dir/${1%%-*}.log" >&2; tail -5 "$dir/${1%%-*}.log" >&2; exit 3; }
}

rcvbuf_errors() {
	awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1 } else print $c }' /proc/net/snmp
}

# stats FILE...: successful, failed, retransmissions summed over the final
# line of sipp statistics files (-trace_stat; columns by name).
stats() {
	awk -F';' '
		FNR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		{ last[FILENAME] = $0 }
		END {
			for (f in last) {
				n = split(last[f], v, ";")
				ok += v[col["SuccessfulCall(C)"]]; bad += v[col["FailedCall(C)"]]; re += v[col["Retransmissions(C)"]]
			}
			printf "%d %d %d\n", ok, bad, re
		}' "$@"
}

# Source addresses for the spread runs: 127.1.0.1-127.1.0.200, one per line,
# with the callee each caller calls (round robin over the callee instances).
make_injection() { # FILE SOURCES CALLEES
	{
		echo SEQUENTIAL
		for i in $(seq 1 "$2"); do echo "127.1.0.$i;uas$(( (i - 1) % $3 + 1 ))"; done
	} > "$1"
}

results=()
# tree_cpu PID: CPU ticks (USER_HZ, 100/s) of PID and its children
# (Kamailio forks its workers), from /proc/PID/stat fields 14 and 15.
tree_cpu() {
	local t=0 p
	for p in "$1" $(pgrep -P "$1" || true); do
		[ -r "/proc/$p/stat" ] || continue
		t=$((t + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat")))
	done
	echo $t
}

# run_step SERVER SCENARIO RATE: one step; appends a result line and
# returns 0 if the rate was held. RATE is REGISTER requests/s for register
# and regunreg (two per sipp call), calls/s for calls.
run_step() {
	local server=$1 scen=$2 rate=$3
	local cps=$rate xml=register
	case $scen in
	regunreg) cps=$((rate / 2)); xml=register-unregister ;;
	calls) xml=uac ;;
	esac
	local calls=$((cps * step)) tag="$server-$scen-$rate"
	local spread=0 callees=1 sources=1
	[[ $server == *-spread ]] && spread=1
	if [ $spread = 1 ]; then
		# At most 150 messages/s from any address, below natdoc's 200: a
		# caller sends one per REGISTER, three per call (INVITE, ACK, BYE),
		# a callee two per call (the 200s). Not more sources than needed:
		# sipp -t ui with 200 sockets could not hold 2,500 calls/s even
		# against Kamailio here.
		if [ "$scen" = calls ]; then
			sources=$(( (rate * 3 + 149) / 150 ))
			callees=$(( (rate * 2 + 149) / 150 ))
		else
			sources=$(( (rate + 149) / 150 ))
		fi
		sources=${SPREAD_SOURCES:-$sources}
		callees=${SPREAD_CALLEES:-$callees}
	fi
	start_server "$server"
	local statf=()
	# Callees: each registered from the address it will answer on.
	if [ "$scen" = calls ]; then
		for k in $(seq 1 $callees); do
			local ip=127.0.3.$k
			[ $spread = 0 ] && ip=127.0.2.1
			timeout 20 taskset -c 1 sipp "$target" -sf "$repo/bench/sipp/register-uas.xml" -key user "uas$k" -i "$ip" -p 5070 \
				-m 1 -nostdin -timeout 10s -timeout_error > "$dir/$tag-reguas$k.out" 2>&1 ||
				{ echo "registering callee uas$k at $server failed" >&2; stop_server; return 1; }
			taskset -c 1 sipp -sf "$repo/bench/sipp/uas.xml" -i "$ip" -p 5070 -nostdin -timeout $((step + 30))s \
				-trace_stat -stf "$dir/$tag-uas$k.csv" -fd 3600 -trace_err -error_file "$dir/$tag-uas$k.err" > "$dir/$tag-uas$k.out" 2>&1 &
			sipp_pids+=($!)
			statf+=("$dir/$tag-uas$k.csv")
		done
		sleep 0.5
	fi
	# -timeout: a step that is not held ends 10 s after its planned length.
	local args=(-sf "$repo/bench/sipp/$xml.xml" -key prefix "$rate"
		-r "$cps" -m "$calls" -l 10000 -nostdin -timeout $((step + 10))s
		-trace_stat -stf "$dir/$tag-uac.csv" -fd 3600 -trace_err -error_file "$dir/$tag-uac.err")
	# The injection file gives each call its source address (field 0, used
	# with -t ui) and its callee (field 1, [field1] in uac.xml).
	if [ $spread = 1 ]; then
		make_injection "$dir/$tag.csv" "$sources" "$callees"
		args+=(-t ui -max_socket 1000 -inf "$dir/$tag.csv" -ip_field 0)
	else
		printf 'SEQUENTIAL\n127.0.1.1;uas1\n' > "$dir/$tag.csv"
		args+=(-i 127.0.1.1 -inf "$dir/$tag.csv")
	fi
	local rb0 t0 t1 rb1 c0 c1
	rb0=$(rcvbuf_errors)
	c0=$(tree_cpu "$server_pid")
	t0=$(date +%s.%N)
	timeout $((step + 40)) taskset -c 1 sipp "$target" "${args[@]}" > "$dir/$tag-uac.out" 2>&1 || true
	t1=$(date +%s.%N)
	c1=$(tree_cpu "$server_pid")
	rb1=$(rcvbuf_errors)
	statf+=("$dir/$tag-uac.csv")
	sleep 1 # callees see the last BYEs
	stop_sipps
	stop_server
	local ok bad re wall held=no
	[ -s "$dir/$tag-uac.csv" ] || { echo "sipp wrote no statistics for $tag; see $dir/$tag-uac.out" >&2; return 1; }
	read -r ok bad re < <(stats "${statf[@]}")
	# The callees count the same calls again: success is the caller's.
	ok=$(stats "$dir/$tag-uac.csv" | cut -d' ' -f1)
	wall=$(echo "$t1 - $t0" | bc -l)
	if [ "$ok" -eq "$calls" ] && [ "$bad" -eq 0 ] && [ "$re" -le $((calls / 1000)) ] &&
		[ "$(echo "$wall <= $step * 1.05 + 2" | bc -l)" = 1 ]; then
		held=yes
	fi
	local achieved cpu
	achieved=$(echo "$ok * $rate / $cps / $wall" | bc -l)
	cpu=$(echo "($c1 - $c0) / $wall" | bc -l)
	results+=("$(printf '%-14s %-9s %6d %9.0f %8d %6d %7d %12d %6.0f %8.1f  %s' "$server" "$scen" "$rate" "$achieved" "$ok" "$bad" "$re" $((rb1 - rb0)) "$cpu" "$wall" "$held")")
	echo "${results[-1]}" >&2
	[ $held = yes ]
}

# Rates per server and scenario (REGISTER/s or calls/s); each list stops at
# its first rate not held. natdoc from one source address meets its 200
# requests/s per source limit, one step shows it. natdoc-spread "register"
# meets the 10,000-binding bound within seconds, one step shows it;
# "regunreg" measures its REGISTER throughput. Quick mode: 10 s steps.
declare -A rates
for server in kamailio natdoc kamailio-spread natdoc-spread; do
	rates[$server-register]="5000 10000 15000"
	rates[$server-regunreg]="5000 10000 15000"
	rates[$server-calls]="1250 2500 3000 3500"
done
# natdoc starts one step lower: below the target (half of Kamailio's) too.
# Calls step by 625/s around the target so the ratio is not a coarse 0.5.
rates[natdoc-register]="2500 5000 10000 15000"
rates[natdoc-regunreg]="2500 5000 10000 15000"
rates[natdoc-calls]="625 1250 1875 2500 3000 3500"
rates[natdoc-proxy-calls]="1250 2500 3000 3500 4000 5000"
if [ ${#natdoc_limits[@]} = 0 ]; then
	# No flags to lift the limits: from one address natdoc meets the
	# per-source limit at once, and "register" the binding bound.
	rates[natdoc-register]="1000"
	rates[natdoc-regunreg]=""
	rates[natdoc-calls]="250"
	rates[natdoc-spread-register]="2500"
	rates[natdoc-spread-regunreg]="2500 5000 10000 15000"
	rates[natdoc-spread-calls]="625 1250 2500 3500"
fi
if [ $quick = 1 ]; then
	for k in "${!rates[@]}"; do rates[$k]=$(echo "${rates[$k]}" | cut -d' ' -f1-2); done
fi
# Overrides for a partial run, e.g. SERVERS="natdoc-spread" SCENARIOS="calls"
# RATES="1250"; SPREAD_SOURCES and SPREAD_CALLEES fix the spread counts.
# kamailio-spread (not in the default run) checks the spread harness itself.
default_servers="kamailio natdoc natdoc-proxy"
[ ${#natdoc_limits[@]} = 0 ] && default_servers="kamailio natdoc natdoc-spread"
read -r -a servers <<< "${SERVERS:-$default_servers}"
read -r -a scenarios <<< "${SCENARIOS:-register regunreg calls}"

echo "load before the run: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min); servers on core 0, sipp on core 1; natdoc from $natdoc_src; $step s per step" >&2
declare -A best
for server in "${servers[@]}"; do
	for scen in "${scenarios[@]}"; do
		list=${RATES:-${rates[$server-$scen]:-}}
		[ -n "$list" ] || continue
		best[$server-$scen]=0
		for rate in $list; do
			run_step "$server" "$scen" "$rate" || break
			best[$server-$scen]=$rate
		done
	done
done

echo
echo "SIP signalling benchmark, sipp on loopback, $step s per step (natdoc from $natdoc_src)"
echo
printf '%-14s %-9s %6s %9s %8s %6s %7s %12s %6s %8s  %s\n' server scenario rate achieved ok failed retrans RcvbufErrors "CPU%" wall_s held
printf '%s\n' "${results[@]}"
echo
printf '%-14s %-9s %14s %22s\n' server scenario "held rate /s" "ratio to kamailio"
for server in "${servers[@]}"; do
	for scen in "${scenarios[@]}"; do
		k=${best[kamailio-$scen]:-0}
		[ -n "${best[$server-$scen]:-}" ] || continue
		r=${best[$server-$scen]}
		ratio=-
		[ "$k" -gt 0 ] && ratio=$(printf '%.2f' "$(echo "$r / $k" | bc -l)")
		printf '%-14s %-9s %14s %22s\n' "$server" "$scen" "$r" "$ratio"
	done
done
echo "(rate: REGISTER requests/s for register and regunreg, calls/s for calls; ok and failed count sipp calls"
echo " (one REGISTER, two for regunreg, one INVITE/ACK/BYE); CPU%: the server's CPU time over the step, % of a core."
echo " held rate: the highest step held; 0: not even the first step of its list. Target: natdoc at least 0.50 of Kamailio.)"
echo "load after the run: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
