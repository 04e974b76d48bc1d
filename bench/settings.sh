# bench/settings.sh: the system settings the benchmarks depend on, set for
# a run and restored at its exit, and printed, so that a result does not
# depend on what was left configured on the machine. Sourced by
# bench/signalling.sh and bench/relay.sh (root: sysctl -w).
#
# Why each one:
# - net.core.rmem_default/wmem_default: the buffer every UDP socket starts
#   with (sipp's, Kamailio's, rtpengine's, the generator's). Debian's
#   212,992 bytes hold about 400 SIP requests: a 20 ms scheduling hiccup at
#   10,000 requests/s overflows it (RcvbufErrors) and the lost requests are
#   retransmitted 500 ms later, so a step fails for a reason that is the
#   machine's, not the server's.
# - net.core.rmem_max/wmem_max: the most a socket may ask for with
#   SO_RCVBUF (natdoc serve asks for 4 MiB; Kamailio probes up to its
#   maxbuffer; sipp sets 64 KiB, doubled by the kernel, unless given
#   -buff_size, which signalling.sh gives it).
# - net.core.netdev_max_backlog: loopback delivers every packet through the
#   per-core backlog; 1,000 (the default) drops a burst of a 20 ms tick at
#   50,000 packets/s.
# - open files (ulimit -n): sipp keeps a socket per call with -t ui, a relay
#   four per call.
bench_sysctls=(
	net.core.rmem_max=16777216
	net.core.wmem_max=16777216
	net.core.rmem_default=4194304
	net.core.wmem_default=4194304
	net.core.netdev_max_backlog=10000
)
declare -A bench_sysctl_was=()

# bench_apply_settings sets every sysctl above (remembering the old value)
# and raises the open-files limit to the hard limit.
bench_apply_settings() {
	local kv k
	for kv in "${bench_sysctls[@]}"; do
		k=${kv%%=*}
		bench_sysctl_was[$k]=$(sysctl -n "$k")
		sysctl -q -w "$kv" || { echo "cannot set $kv (run as root)" >&2; exit 3; }
	done
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
}

# bench_restore_settings puts every sysctl back as it was (an EXIT trap).
bench_restore_settings() {
	local k
	for k in "${!bench_sysctl_was[@]}"; do
		sysctl -q -w "$k=${bench_sysctl_was[$k]}" || true
	done
	bench_sysctl_was=()
}

# bench_print_settings prints what the run depends on, on one block.
bench_print_settings() {
	local kv k was
	echo "machine: $(nproc --all) cores, kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min)"
	for kv in "${bench_sysctls[@]}"; do
		k=${kv%%=*}
		was=${bench_sysctl_was[$k]:-}
		echo "  $k = $(sysctl -n "$k")${was:+ (was $was; restored at exit)}"
	done
	echo "  net.ipv4.udp_mem = $(sysctl -n net.ipv4.udp_mem | tr '\t' ' ') (pages: min pressure max)"
	echo "  open files: $(ulimit -n) (hard limit $(ulimit -Hn))"
	local gov=/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor
	[ -r $gov ] && echo "  cpu frequency governor: $(cat $gov)"
	return 0
}

# bench_udp_drops prints the UDP receive-buffer drops (RcvbufErrors, all
# namespaces' loopback here) and the per-core backlog drops
# (/proc/net/softnet_stat, column 2), both counters since boot.
bench_udp_drops() {
	local rcvbuf backlog=0 processed dropped rest
	rcvbuf=$(awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1 } else print $c }' /proc/net/snmp)
	while read -r processed dropped rest; do
		backlog=$((backlog + 16#$dropped))
	done < /proc/net/softnet_stat
	echo "$rcvbuf $backlog"
}
