#!/usr/bin/env bash
# Benchmark natdoc stun's discovery time in the lab (root, natlab): a full
# RFC 5780 mapping and filtering discovery plus hairpinning, from behind
# plain masquerade, against coturn and against natdoc's own STUN server;
# and the server's per-request cost. The goal is discovery under 2 s on a
# LAN-like path; the figure is bounded by the 1 s negative-test window
# (stunprobe.negativeWindow) that keeps a lost packet from reading as a
# filter.
#
#   bench/stun.sh [COUNT]     (default 5 discoveries per server kind)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-5}
go test ./diagnose/stunprobe/ -run '^$' -bench 'BenchmarkLabDiscovery' -benchtime "${count}x" | grep -E '^Benchmark|s/discovery'
go test ./diagnose/stunserver/ -run '^$' -bench 'BenchmarkAnswer' -benchmem | grep -E '^Benchmark'
