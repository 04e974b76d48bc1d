#!/bin/sh
# Signalling benchmark: natdoc serve against Kamailio (plain registrar +
# record_route + lookup + t_relay, bench/sip/kamailio.cfg), driven by sipp
# on loopback. The server is pinned to CPU 0, sipp to CPU 1.
#
#   bench/sip.sh                      REGISTER at 5000/s, calls at 1250/s, 30 s each
#   REG_RATE=10000 CALL_RATE=2500 DURATION=30 bench/sip.sh
#
# A rate counts as held only if sipp reached it with no failed calls and
# retransmissions near zero (UDP drops hide behind "0 failed"); the table
# shows all three, and RcvbufErrors from /proc/net/snmp.
set -eu
cd "$(dirname "$0")/.."
REG_RATE=${REG_RATE:-5000}
CALL_RATE=${CALL_RATE:-1250}
DURATION=${DURATION:-30}
TARGETS=${TARGETS:-natdoc kamailio}
OUT=$(mktemp -d)
trap 'kill $(cat "$OUT"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$OUT"' EXIT
go build -o "$OUT/natdoc" ./cmd/natdoc
SIPDIR=$(pwd)/bench/sip

rcvbuf_errors() { awk '/^Udp:/ { if (h) { print $6; exit } h=1 }' /proc/net/snmp; }

start_server() { # target
	if [ "$1" = natdoc ]; then
		taskset -c 0 "$OUT/natdoc" serve --listen 127.0.0.1:5070 --fix=false --allow 127.0.0.0/8 --tcp=false --echo=false \
			--rate-limit 1000000 --max-registrations 2000000 --max-calls 100000 --keepalive 1h --quiet >"$OUT/server.log" 2>&1 &
	else
		taskset -c 0 kamailio -f "$SIPDIR/kamailio.cfg" -m 2048 -M 64 -DD -E >"$OUT/server.log" 2>&1 &
	fi
	echo $! >"$OUT/server.pid"
	sleep 2
}

stop_server() { [ -n "${DEBUG:-}" ] && tail -5 "$OUT/server.log"; kill "$(cat "$OUT/server.pid")" 2>/dev/null || true; wait 2>/dev/null || true; rm -f "$OUT/server.pid"; sleep 1; }

# run_sipp NAME RATE ARGS...: runs sipp for DURATION seconds at RATE, prints
# "name target rate achieved successful failed retransmissions rcvbuf_errors"
run_sipp() {
	name=$1 rate=$2; shift 2
	before=$(rcvbuf_errors)
	(cd "$OUT" && taskset -c 1 sipp 127.0.0.1:5070 -i 127.0.0.1 -r "$rate" -m $((rate * DURATION)) -l 19000 \
		-trace_stat -stf "$OUT/$name.csv" -fd 1 -nostdin -timeout $((DURATION + 30))s "$@" >/dev/null 2>&1 || true)
	after=$(rcvbuf_errors)
	python3 - "$OUT/$name.csv" "$name" "$TARGET" "$rate" $((after - before)) <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter=';'))
last = rows[-1]
elapsed = last['ElapsedTime(C)'].split(':')
secs = int(elapsed[0])*3600 + int(elapsed[1])*60 + float(elapsed[2])
ok = int(last['SuccessfulCall(C)']); failed = int(last['FailedCall(C)']); retr = int(last['Retransmissions(C)'])
print("%-9s %-9s rate %6s achieved %8.0f/s successful %8d failed %6d retransmissions %6d rcvbuf_errors %s" %
      (sys.argv[2], sys.argv[3], sys.argv[4], ok / secs if secs else 0, ok, failed, retr, sys.argv[5]))
PY
}

for TARGET in $TARGETS; do
	start_server "$TARGET"
	run_sipp register "$REG_RATE" -sf "$SIPDIR/register.xml"
	stop_server
	start_server "$TARGET"
	# Register "uas" from the port the UAS will answer on: natdoc sends to
	# where a REGISTER came from (its NAT handling), Kamailio to the Contact.
	(cd "$OUT" && sipp 127.0.0.1:5070 -sf "$SIPDIR/uas-register.xml" -i 127.0.0.1 -p 5090 -key uasaddr 127.0.0.1:5090 -m 1 -nostdin >/dev/null 2>&1 || true)
	taskset -c 1 sipp -sf "$SIPDIR/uas.xml" -i 127.0.0.1 -p 5090 -nostdin -l 19000 >/dev/null 2>&1 &
	echo $! >"$OUT/uas.pid"
	sleep 0.5
	run_sipp calls "$CALL_RATE" -sf "$SIPDIR/uac.xml" -p 5092
	kill "$(cat "$OUT/uas.pid")" 2>/dev/null || true
	rm -f "$OUT/uas.pid"
	stop_server
done
