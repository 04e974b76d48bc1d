#!/usr/bin/env bash
# Benchmark `natdoc serve` against Kamailio as SIP registrar and proxy, with
# sipp, in the same run, on loopback.
#
#   bench/signalling.sh [--quick] [--natdoc BIN] [--step SECONDS] [--warm SECONDS] [--no-nice]
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
# "kamailio-rtpe" and "natdoc-rtpe" run "calls" with every call's media
# anchored in the same rtpengine (user space, --table=-1, on the servers'
# core, restarted with each server): Kamailio through its rtpengine module
# (bench/kamailio/kamailio.cfg with -A WITH_RTPENGINE), natdoc serve with
# --media rtpengine=udp:...; an offer, an answer and a delete per call.
# Each rate step lasts --step seconds (30 by default) after a warm-up of
# --warm seconds (5; --quick: 3) at half the rate on the same fresh server,
# not counted: the first seconds of a fresh process (page faults, thread
# pools, Go's heap growing) are not its steady state. The step-up stops at
# the first rate not held. A rate is held only if sipp kept it (wall time
# within 5% + 2 s of the planned), no call failed, and retransmissions stayed
# near zero (at most 0.1% of calls); the UDP RcvbufErrors counter of
# /proc/net/snmp and the per-core backlog drops of /proc/net/softnet_stat
# are reported with each step, since "no failed call" alone hides UDP drops
# that retransmission repaired.
#
# The system settings a result depends on (socket buffer defaults and
# limits, the backlog, open files: bench/settings.sh says why each) are set
# for the run, printed, and restored at exit, so a freshly set-up machine
# and a tuned one measure the same thing.
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
# Servers, rtpengine and sipp run at nice -20 (root) so that other users'
# jobs on a shared machine take less of their cores; --no-nice runs them at
# the default priority. The load average is printed before and after.
#
# Bounded: sipp stops after rate x step calls or its own timeout, servers
# are killed at the end and on Ctrl-C; about 8-10 minutes (--quick: 10 s
# steps, about 5 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
step=30
warm=5
natdoc=""
nice=(nice -n -20)
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1; step=10; warm=3 ;;
	--natdoc) natdoc=$2; shift ;;
	--step) step=$2; shift ;;
	--warm) warm=$2; shift ;;
	--no-nice) nice=() ;;
	*) echo "usage: $0 [--quick] [--natdoc BIN] [--step SECONDS] [--warm SECONDS] [--no-nice]" >&2; exit 2 ;;
	esac
	shift
done
source bench/settings.sh

dir=${BENCH_DIR:-/tmp/natdoc-bench}/signalling
rm -rf "$dir"
mkdir -p "$dir"
for c in sipp kamailio taskset rtpengine; do
	command -v $c >/dev/null || { echo "$c not installed (apt-get install sip-tester kamailio rtpengine-daemon util-linux)" >&2; exit 3; }
done

# ngstat: how many calls the step's rtpengine handled.
go build -o "$dir/ngstat" ./bench/cmd/ngstat
# natdoc: built from this tree unless --natdoc names a binary; the output
# says which.
natdoc_src="this tree"
if [ -z "$natdoc" ]; then
	natdoc=$dir/natdoc
	go build -o "$natdoc" ./cmd/natdoc
else
	natdoc_src=$natdoc
fi
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
rtpe_ip=127.0.12.5
rtpe_ng=$rtpe_ip:2223
for a in $kam_addr $nat_addr $rtpe_ng; do
	if ss -Hulnp "src $a" | grep -q .; then echo "$a/udp is taken" >&2; exit 3; fi
done

# sipp sets its sockets' buffers itself, to 64 KiB unless told (-buff_size):
# a load generator that misses 20 ms of core time would drop the server's
# answers, and the step would fail for the generator's sake.
sipp_buf=(-buff_size 4194304)
server_pid=""
rtpe_pid=""
sipp_pids=()
stop_server() {
	local p
	for p in "$server_pid" "$rtpe_pid"; do
		[ -n "$p" ] || continue
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	server_pid="" rtpe_pid=""
}
stop_sipps() {
	for p in "${sipp_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${sipp_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	sipp_pids=()
}
cleanup() { stop_sipps; stop_server; bench_restore_settings; }
trap cleanup EXIT
trap 'exit 130' INT TERM
bench_apply_settings

# start_rtpengine: a fresh rtpengine on core 0 with the SIP server, user
# space, logging low, calls freed at delete (its default keeps them 30 s).
start_rtpengine() {
	"${nice[@]}" taskset -c 0 rtpengine --config-file=none --foreground --log-stderr --table=-1 --interface=$rtpe_ip \
		--listen-ng=$rtpe_ng --port-min=30000 --port-max=49999 --log-level=3 --delete-delay=0 > "$dir/rtpengine.log" 2>&1 &
	rtpe_pid=$!
	sleep 0.5
	kill -0 "$rtpe_pid" 2>/dev/null || { echo "rtpengine did not start; see $dir/rtpengine.log" >&2; exit 3; }
}

# start_server NAME: an empty server of that kind on core 0 (with a fresh
# rtpengine for the -rtpe kinds).
start_server() {
	local kam_media=() nat_media=()
	if [[ $1 == *-rtpe ]]; then
		start_rtpengine
		kam_media=(-A WITH_RTPENGINE -A "RTPENGINE_SOCK=\"udp:$rtpe_ng\"")
		nat_media=(--media "rtpengine=udp:$rtpe_ng")
	fi
	case $1 in
	kamailio*)
		rm -rf "$dir/kamailio.run" && mkdir -p "$dir/kamailio.run"
		"${nice[@]}" taskset -c 0 kamailio -f "$repo/bench/kamailio/kamailio.cfg" "${kam_media[@]}" -l "udp:$kam_addr" -m 1024 -M 16 \
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
		"${nice[@]}" taskset -c 0 "$natdoc" serve --listen "$nat_addr" --allow 127.0.0.0/8 --tcp=false --fix=$fix \
			--echo=false --keepalive 1h --rtp-ports 40000-49999 "${nat_media[@]}" "${natdoc_limits[@]}" > "$dir/natdoc.out" 2>> "$dir/natdoc.log" &
		server_pid=$!
		target=$nat_addr
		;;
	esac
	sleep 1.5
	kill -0 "$server_pid" 2>/dev/null || { echo "$1 did not start; see $dir/${1%%-*}.log" >&2; tail -5 "$dir/${1%%-*}.log" >&2; exit 3; }
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

# register_callee USER IP TAG: registers a sipp callee at the server from
# the address it will answer on, and starts it answering (for SECONDS).
register_callee() {
	local user=$1 ip=$2 tag=$3 seconds=$4
	timeout 20 "${nice[@]}" taskset -c 1 sipp "$target" "${sipp_buf[@]}" -sf "$repo/bench/sipp/register-uas.xml" -key user "$user" -i "$ip" -p 5070 \
		-m 1 -nostdin -timeout 10s -timeout_error > "$dir/$tag-reg$user.out" 2>&1 ||
		{ echo "registering callee $user at $target failed; see $dir/$tag-reg$user.out" >&2; return 1; }
	"${nice[@]}" taskset -c 1 sipp "${sipp_buf[@]}" -sf "$repo/bench/sipp/uas.xml" -i "$ip" -p 5070 -nostdin -timeout "${seconds}s" \
		-trace_stat -stf "$dir/$tag-$user.csv" -fd 3600 -trace_err -error_file "$dir/$tag-$user.err" > "$dir/$tag-$user.out" 2>&1 &
	sipp_pids+=($!)
}

# warm_up SCENARIO XML CPS TAG: --warm seconds at half the rate on the
# fresh server, not counted: its calls go to a callee of their own, its
# users have a prefix of their own.
warm_up() {
	local scen=$1 xml=$2 cps=$3 tag=$4
	[ "$warm" -gt 0 ] || return 0
	local wcps=$(( (cps + 1) / 2 )) wargs=(-i 127.0.1.2)
	if [ "$scen" = calls ]; then
		register_callee uaswarm 127.0.2.2 "$tag" $((warm + step + 30)) || return 1
		printf 'SEQUENTIAL\n127.0.1.2;uaswarm\n' > "$dir/$tag-warm.csv"
		wargs+=(-inf "$dir/$tag-warm.csv")
		sleep 0.3
	fi
	timeout $((warm + 20)) "${nice[@]}" taskset -c 1 sipp "$target" "${sipp_buf[@]}" -sf "$repo/bench/sipp/$xml.xml" -key prefix "w$cps" -r "$wcps" -m $((wcps * warm)) \
		-l 10000 -nostdin -timeout $((warm + 10))s "${wargs[@]}" > "$dir/$tag-warm.out" 2>&1 || true
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
			register_callee "uas$k" "$ip" "$tag" $((warm + step + 30)) || { stop_sipps; stop_server; return 1; }
			statf+=("$dir/$tag-uas$k.csv")
		done
		sleep 0.5
	fi
	# The spread runs (many sources) start cold: their warm-up would need
	# its own fleet of addresses.
	[ $spread = 1 ] || warm_up "$scen" "$xml" "$cps" "$tag" || { stop_sipps; stop_server; return 1; }
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
	local rb0 bl0 t0 t1 rb1 bl1 c0 c1 e0=0 e1=0
	read -r rb0 bl0 < <(bench_udp_drops)
	c0=$(tree_cpu "$server_pid")
	[ -z "$rtpe_pid" ] || e0=$(tree_cpu "$rtpe_pid")
	t0=$(date +%s.%N)
	timeout $((step + 40)) "${nice[@]}" taskset -c 1 sipp "$target" "${sipp_buf[@]}" "${args[@]}" > "$dir/$tag-uac.out" 2>&1 || true
	t1=$(date +%s.%N)
	c1=$(tree_cpu "$server_pid")
	[ -z "$rtpe_pid" ] || e1=$(tree_cpu "$rtpe_pid")
	read -r rb1 bl1 < <(bench_udp_drops)
	statf+=("$dir/$tag-uac.csv")
	sleep 1 # callees see the last BYEs
	# The engine's own count: every call of the step and the warm-up had
	# its media anchored there.
	local engine_calls=-
	[ -z "$rtpe_pid" ] || engine_calls=$("$dir/ngstat" "$rtpe_ng" 2>> "$dir/rtpengine.log" || echo "?")
	local engine=$rtpe_pid
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
	local achieved cpu ecpu=-
	achieved=$(echo "$ok * $rate / $cps / $wall" | bc -l)
	cpu=$(echo "($c1 - $c0) / $wall" | bc -l)
	[ -z "$engine" ] || ecpu=$(printf '%.0f' "$(echo "($e1 - $e0) / $wall" | bc -l)")
	results+=("$(printf '%-14s %-9s %6d %9.0f %8d %6d %7d %12d %8d %6.0f %8.1f %11s %9s  %s' "$server" "$scen" "$rate" "$achieved" "$ok" "$bad" "$re" \
		$((rb1 - rb0)) $((bl1 - bl0)) "$cpu" "$wall" "$engine_calls" "$ecpu" "$held")")
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
# Media on rtpengine: calls only (REGISTER involves no media); both from
# 625/s, as the engine shares their core.
rates[kamailio-rtpe-calls]="625 1250 1875 2500 3000 3500"
rates[natdoc-rtpe-calls]="625 1250 1875 2500 3000 3500"
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
default_servers="kamailio natdoc natdoc-proxy kamailio-rtpe natdoc-rtpe"
[ ${#natdoc_limits[@]} = 0 ] && default_servers="kamailio natdoc natdoc-spread"
read -r -a servers <<< "${SERVERS:-$default_servers}"
read -r -a scenarios <<< "${SCENARIOS:-register regunreg calls}"

settings=$(bench_print_settings)
echo "$settings" >&2
echo "servers (and rtpengine) on core 0, sipp on core 1, ${nice[*]:-default priority}; natdoc from $natdoc_src; $warm s warm-up + $step s per step" >&2
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
echo "SIP signalling benchmark, sipp on loopback, $warm s warm-up + $step s per step (natdoc from $natdoc_src)"
echo "$settings"
echo
printf '%-14s %-9s %6s %9s %8s %6s %7s %12s %8s %6s %8s %11s %9s  %s\n' server scenario rate achieved ok failed retrans RcvbufErrors backlog "CPU%" wall_s rtpe_calls "rtpe_CPU%" held
printf '%s\n' "${results[@]}"
echo
printf '%-14s %-9s %14s %22s\n' server scenario "held rate /s" "ratio to kamailio(-rtpe)"
for server in "${servers[@]}"; do
	for scen in "${scenarios[@]}"; do
		# Each natdoc row against the Kamailio doing the same job: media on
		# rtpengine against Kamailio with its rtpengine module.
		base=kamailio
		[[ $server == *-rtpe ]] && base=kamailio-rtpe
		k=${best[$base-$scen]:-0}
		[ -n "${best[$server-$scen]:-}" ] || continue
		r=${best[$server-$scen]}
		ratio=-
		[ "$k" -gt 0 ] && ratio=$(printf '%.2f' "$(echo "$r / $k" | bc -l)")
		printf '%-14s %-9s %14s %22s\n' "$server" "$scen" "$r" "$ratio"
	done
done
echo "(rate: REGISTER requests/s for register and regunreg, calls/s for calls; ok and failed count sipp calls"
echo " (one REGISTER, two for regunreg, one INVITE/ACK/BYE); CPU%: the server's CPU time over the step, % of a core."
echo " RcvbufErrors and backlog: UDP packets the kernel dropped during the step (socket buffer full, per-core backlog full)."
echo " rtpe_calls: calls the step's rtpengine handled, warm-up included; rtpe_CPU%: its CPU time over the step (not in CPU%)."
echo " RcvbufErrors count every socket of the machine: on a shared machine other users' drops show there too."
echo " held rate: the highest step held; 0: not even the first step of its list. Target: natdoc at least 0.50 of Kamailio,"
echo " natdoc-rtpe at least 0.50 of kamailio-rtpe, with no failed call.)"
echo "load after the run: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
