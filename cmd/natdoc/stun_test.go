package main

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/report"
)

func TestStunUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"stun", "host:port:x"},
		{"stun", "example.net:0"},
		{"stun", "--local-port", "70000"},
		{"stun", "--lifetime", "--lifetime-max", "1s", "127.0.0.1"},
		{"stun-server", "--listen", "nonsense"},
		{"stun-server", "--listen", "0.0.0.0:3478", "--alternate", "127.0.0.2:3479"},
		{"stun-server", "--rate", "0"},
	} {
		if code, _, errOut := run(t, args...); code != exitUsage {
			t.Errorf("natdoc %v: exit %d, want %d (stderr %q)", args, code, exitUsage, errOut)
		}
	}
}

// natdoc stun-server and natdoc stun against each other on loopback: the
// whole command path, --json included. No NAT on loopback, so no problem.
func TestStunCommandsOnLoopback(t *testing.T) {
	port := freePortPair(t)
	primary := fmt.Sprintf("127.0.0.1:%d", port)
	serverDone := make(chan string)
	go func() {
		code, out, errOut := run(t, "stun-server", "--json", "--listen", primary, "--alternate", fmt.Sprintf("127.0.0.2:%d", port+1), "--duration", "4s")
		serverDone <- fmt.Sprintf("exit %d\n%s\n%s", code, out, errOut)
	}()
	time.Sleep(200 * time.Millisecond) // let the server bind
	code, out, errOut := run(t, "stun", "--json", primary)
	if code != exitOK {
		t.Errorf("natdoc stun: exit %d, stderr %s\n%s", code, errOut, out)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.NAT == nil {
		t.Fatalf("not a report with a NAT section: %v\n%s", err, out)
	}
	if rep.NAT.Mapping != report.BehaviourNoNAT || rep.NAT.Filtering != report.BehaviourEndpointIndependent || len(rep.NAT.FilteringTests) != 2 {
		t.Errorf("NAT section %+v", rep.NAT)
	}
	server := <-serverDone
	if !strings.HasPrefix(server, "exit 0") || !strings.Contains(server, `"answered"`) {
		t.Errorf("stun-server run:\n%s", server)
	}
}

// freePortPair finds P such that UDP P and P+1 are free on both 127.0.0.1
// and 127.0.0.2 (the RFC 5780 server binds all four), rather than guessing
// a port that a concurrent test or benchmark may hold.
func freePortPair(t *testing.T) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		probe, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := probe.LocalAddr().(*net.UDPAddr).Port
		probe.Close()
		if port >= 65535 {
			continue
		}
		free := true
		var held []net.PacketConn
		for _, addr := range []string{"127.0.0.1", "127.0.0.2"} {
			for _, p := range []int{port, port + 1} {
				c, err := net.ListenPacket("udp4", fmt.Sprintf("%s:%d", addr, p))
				if err != nil {
					free = false
					continue
				}
				held = append(held, c)
			}
		}
		for _, c := range held {
			c.Close()
		}
		if free {
			return port
		}
	}
	t.Fatal("no free UDP port pair on 127.0.0.1 and 127.0.0.2")
	return 0
}
