//go:build linux

package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// TestLabAnalyzeMirror: a phone's host mirrors its traffic to a collector
// as AWS VPC Traffic Mirroring does, every frame in and out of its eth0
// copied (nftables netdev dup) into a real Linux VXLAN device (VNI 7, UDP
// 4789) whose far end is the collector. The collector's capture holds
// nothing but VXLAN; natdoc analyze on it finds the phone's call to the
// echo user, two-way, with the RTP the phone counted each way (and the few
// packets that reached it after it hung up).
func TestLabAnalyzeMirror(t *testing.T) {
	natlab.Require(t)
	lab := natlab.New(t)
	srv := lab.PublicHost("sip", "203.0.113.10")
	carol := lab.PublicHost("carol", "198.51.100.20")
	collector := lab.PublicHost("collector", "203.0.113.40")
	mirrorToVXLAN(t, carol, "203.0.113.40")
	checkEchoCallCaptured(t, srv, carol, func(pcap string) *natlab.Proc {
		return collector.StartTcpdump(t, pcap, "udp", "port", "4789")
	}, 300*time.Millisecond)
}

// checkEchoCallCaptured runs natdoc serve on srv, has the phone on carol
// (198.51.100.20) call its echo user while the capture startDump began
// records, stops the capture flush after the call, and checks natdoc
// analyze on it against what the phone measured (checkCapturedCall).
func checkEchoCallCaptured(t *testing.T, srv, carol *natlab.Host, startDump func(pcap string) *natlab.Proc, flush time.Duration) {
	t.Helper()
	dir := t.TempDir()
	serve := srv.Start(t, os.Args[0], append(helperArgs, "serve", "--listen", "203.0.113.10:5060", "--allow", "0.0.0.0/0", "--tcp=false")...)
	waitLog(t, serve, "listening on")
	pcap := filepath.Join(dir, "capture.pcap")
	dump := startDump(pcap)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	phone := echoCall(t, ctx, carol, filepath.Join(dir, "carol.json"))
	time.Sleep(flush)
	dump.Stop()
	serve.Stop()
	checkCapturedCall(t, pcap, phone)
}

// echoCall has the phone on h (198.51.100.20) call the echo user of the
// server at 203.0.113.10 for two seconds with natdoc call, and returns
// what the phone measured; its report goes to out.
func echoCall(t *testing.T, ctx context.Context, h *natlab.Host, out string) *report.CallTestReport {
	t.Helper()
	if log, err := h.Run(ctx, os.Args[0], append(helperArgs, "call", "--server", "203.0.113.10:5060", "--user", "carol",
		"--local-ip", "198.51.100.20", "--duration", "2s", "--json", "-o", out, "echo")...); err != nil {
		t.Fatalf("natdoc call to echo: %v\n%s", err, log)
	}
	return loadReport(t, out).CallTest
}

// checkCapturedCall: natdoc analyze on pcap finds the phone's one call,
// two-way, with the RTP the phone counted each way.
func checkCapturedCall(t *testing.T, pcap string, phone *report.CallTestReport) {
	t.Helper()
	code, stdout, stderr := run(t, "analyze", "--json", pcap)
	if code != exitOK {
		t.Fatalf("analyze exit %d: %s\n%s", code, stderr, stdout)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Calls) != 1 || rep.Calls[0].CallID != phone.CallID {
		t.Fatalf("analyze found %d calls in the capture, want the phone's %s: %+v", len(rep.Calls), phone.CallID, rep.Calls)
	}
	c := rep.Calls[0]
	pkts := rtpEachWay(c)
	t.Logf("the phone sent %d and received %d RTP packets; the capture shows %d caller→callee, %d callee→caller",
		phone.Sent.Packets, phone.Received.Packets, pkts[0], pkts[1])
	// Every packet the phone sent is captured; of those sent to it, the
	// last few may arrive after it stopped counting at its hang-up (the
	// echo sends until the BYE reaches it).
	const inFlightAtHangUp = 5
	if c.Verdict != report.VerdictTwoWay || pkts[0] != phone.Sent.Packets ||
		pkts[1] < phone.Received.Packets || pkts[1] > phone.Received.Packets+inFlightAtHangUp {
		t.Errorf("analyze: %s (%s), RTP %v; the phone measured two-way, sent %d, received %d",
			c.Verdict, c.Explain, pkts, phone.Sent.Packets, phone.Received.Packets)
	}
}

// mirrorToVXLAN copies every frame h's eth0 sends and receives, but the
// mirror's own VXLAN, to collector in VXLAN (VNI 7, UDP 4789), as a cloud
// traffic mirror does.
func mirrorToVXLAN(t *testing.T, h *natlab.Host, collector string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, cmd := range [][]string{
		{"ip", "link", "add", "mirror0", "type", "vxlan", "id", "7", "remote", collector, "local", h.Addr().String(), "dstport", "4789", "dev", "eth0"},
		{"ip", "link", "set", "mirror0", "up"},
	} {
		out, err := h.Run(ctx, cmd[0], cmd[1:]...)
		if err != nil && strings.Contains(string(out), "Unknown device type") {
			t.Skipf("this kernel has no VXLAN: %s", out)
		}
		if err != nil {
			t.Fatalf("%v: %v\n%s", cmd, err, out)
		}
	}
	h.Nft(t, `add table netdev mirror
add chain netdev mirror in { type filter hook ingress device eth0 priority 0; }
add chain netdev mirror out { type filter hook egress device eth0 priority 0; }
add rule netdev mirror in udp dport != 4789 dup to mirror0
add rule netdev mirror out udp dport != 4789 dup to mirror0`)
}

// rtpEachWay counts a call's RTP packets caller→callee and callee→caller.
func rtpEachWay(c report.Call) [2]uint64 {
	var n [2]uint64
	for _, st := range c.Streams {
		for _, f := range st.Flows {
			switch {
			case f.RTCP || f.UDPTL:
			case f.Direction == "caller->callee":
				n[0] += f.Packets
			case f.Direction == "callee->caller":
				n[1] += f.Packets
			}
		}
	}
	return n
}

// TestLabAnalyzeNFLOG: a phone's host logs its UDP both ways to NFLOG group
// 5 (nftables `log group 5`, as a Linux firewall hands the packets its
// rules match to user space) and tcpdump -i nflog:5 records them (link
// type NFLOG); natdoc analyze on that capture finds the phone's call to the
// echo user two-way with the RTP the phone counted.
func TestLabAnalyzeNFLOG(t *testing.T) {
	natlab.Require(t)
	lab := natlab.New(t)
	srv := lab.PublicHost("sip", "203.0.113.10")
	carol := lab.PublicHost("carol", "198.51.100.20")
	carol.Nft(t, `add table inet nflogcap
add chain inet nflogcap in { type filter hook input priority 0; }
add chain inet nflogcap out { type filter hook output priority 0; }
add rule inet nflogcap in meta l4proto udp log group 5
add rule inet nflogcap out meta l4proto udp log group 5`)
	// The kernel holds logged packets up to a second (nfnetlink_log's flush
	// timeout) before it hands them to tcpdump.
	checkEchoCallCaptured(t, srv, carol, func(pcap string) *natlab.Proc {
		return carol.StartTcpdumpOn(t, "nflog:5", pcap)
	}, 1500*time.Millisecond)
}
