package main

import (
	"encoding/json"
	"fmt"
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
	port := 34900 + time.Now().Nanosecond()%50*2
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
