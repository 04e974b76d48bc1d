package main

import (
	"bytes"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/report"
)

func TestServeAndCallUsage(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--listen", "nonsense"},
		{"serve", "--listen", "0.0.0.0:5060"}, // every interface without --public-addr
		{"serve", "--listen", "127.0.0.1:5060", "--rtp-ports", "10-20"},
		{"serve", "--listen", "127.0.0.1:5060", "--allow", "not-a-cidr"},
		{"serve", "--listen", "127.0.0.1:5060", "--users", "/nonexistent/users"},
		{"serve", "--listen", "127.0.0.1:5060", "--media", "rtpengine"},
		{"serve", "--listen", "127.0.0.1:5060", "--media", "rtpengine=127.0.0.1:2223"}, // no udp:
		{"serve", "--listen", "127.0.0.1:5060", "--media", "rtpengine=udp:127.0.0.1:2223,weight=0"},
		{"serve", "--listen", "127.0.0.1:5060", "--media", "builtin", "--media", "rtpengine=udp:127.0.0.1:2223"},
		{"serve", "--listen", "127.0.0.1:5060", "--media", "rtpengine=udp:127.0.0.1:2223", "--kernel-forward"},
		{"serve", "--listen", "127.0.0.1:5060", "--media", "rtpengine=udp:127.0.0.1:2223", "--fix=false"},
		{"serve", "--listen", "127.0.0.1:5060", "--media", "kernel"},
		{"call", "bob"},                        // no --server
		{"call", "--server", "127.0.0.1:5060"}, // neither target nor --answer
		{"call", "--server", "127.0.0.1:5060", "--answer", "bob"},
		{"call", "--server", "127.0.0.1:5060", "--sdp-addr", "stun", "bob"}, // no --stun
		{"call", "--server", "127.0.0.1:5060", "--sdp-addr", "bogus", "bob"},
	} {
		if code, _, stderr := run(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, exitUsage, stderr)
		}
	}
}

// TestServeRefusesOpenPublic: a public main address without --users or
// --allow is refused before anything listens for long.
func TestServeRefusesOpenPublic(t *testing.T) {
	code, _, stderr := run(t, "serve", "--listen", "127.0.0.1:0", "--public-addr", "203.0.113.5", "--tcp=false")
	if code != exitUsage || !strings.Contains(stderr, "--users") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

// TestServeNoEngineAnswers: with --media rtpengine and nothing listening
// there, serve does not start, and says why.
func TestServeNoEngineAnswers(t *testing.T) {
	probe, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	engine := probe.LocalAddr().String()
	probe.Close()
	code, _, stderr := run(t, "serve", "--listen", "127.0.0.1:0", "--tcp=false", "--media", "rtpengine=udp:"+engine)
	if code != exitCannotRun || !strings.Contains(stderr, "no engine answers") || !strings.Contains(stderr, "refused") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

// TestCallEchoOverLoopback runs serve and call as commands on 127.0.0.x.
func TestCallEchoOverLoopback(t *testing.T) {
	// A port the kernel picks, read back from serve's stderr: other
	// worktrees run this test at the same time on this machine, and a
	// port found free and closed again may be taken before serve binds.
	serveErr := &lineWatch{}
	done := make(chan string)
	go func() {
		var out bytes.Buffer
		Main([]string{"serve", "--listen", "127.0.0.1:0", "--rtp-ports", "28000-28999", "--duration", "4s", "--json", "--tcp=false"},
			strings.NewReader(""), &out, serveErr)
		done <- out.String()
	}()
	addr, _, _ := strings.Cut(serveErr.wait(t, "natdoc serve: listening on udp "), " ")
	waitUDP(t, addr)
	code, out, stderr := run(t, "call", "--server", addr, "--local-ip", "127.0.0.2", "--duration", "1s", "--json", "echo")
	if code != exitOK {
		t.Fatalf("call exit %d: %s %s", code, out, stderr)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.CallTest == nil || rep.CallTest.Verdict != report.VerdictTwoWay {
		t.Fatalf("call report %v: %s", err, out)
	}
	var srep report.Report
	if err := json.Unmarshal([]byte(<-done), &srep); err != nil || srep.Serve == nil || len(srep.Serve.Calls) != 1 {
		t.Fatalf("serve report %v %+v", err, srep.Serve)
	}
}

// waitUDP waits until something answers on addr: a SIP OPTIONS gets a
// response once serve is up.
func waitUDP(t *testing.T, addr string) {
	t.Helper()
	for range 100 {
		if sipAlive(addr) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing answers SIP on %s", addr)
}

// TestSplitPublicAddr: --public-addr takes an IP or name, with the outside
// SIP port a router forwards when one is written; a bare IPv6 address has
// none.
func TestSplitPublicAddr(t *testing.T) {
	for _, tc := range []struct {
		in, host string
		port     int
		bad      bool
	}{
		{"203.0.113.1", "203.0.113.1", 0, false},
		{"voip.example.net:5080", "voip.example.net", 5080, false},
		{"203.0.113.1:5080", "203.0.113.1", 5080, false},
		{"2001:db8::1", "2001:db8::1", 0, false},
		{"[2001:db8::1]:5080", "2001:db8::1", 5080, false},
		{"voip.example.net:0", "", 0, true},
		{"voip.example.net:sip", "", 0, true},
		{":5080", "", 0, true},
	} {
		host, port, err := splitPublicAddr(tc.in)
		if (err != nil) != tc.bad || host != tc.host || port != tc.port {
			t.Errorf("splitPublicAddr(%q) = %q, %d, %v", tc.in, host, port, err)
		}
	}
}
