//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// startNatdocMirror runs `natdoc mirror` in h and waits until it listens.
func startNatdocMirror(t *testing.T, h *natlab.Host, listen string) *natlab.Proc {
	t.Helper()
	p := h.Start(t, os.Args[0], "-test.run=^TestHelperNatdoc$", "--", "mirror", "--listen", listen)
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := h.Run(context.Background(), "ss", "-Hltn")
		if strings.Contains(string(out), listen) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("natdoc mirror does not listen on %s:\n%s", listen, p.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// natdoc diagnose from a PC behind a router with the kernel SIP ALG, with
// natdoc mirror on a public host: exit 1, the ALG over UDP (not TCP) in
// JSON, and an HTML report with the network picture.
func TestLabDiagnoseCommandSIPALG(t *testing.T) {
	natlab.Require(t)
	lab := natlab.New(t)
	pub := lab.PublicHost("mirror", "203.0.113.20")
	r := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{SIPALG: true}})
	pc := r.LANHost("pc", "192.168.1.10")
	mirror := startNatdocMirror(t, pub, "203.0.113.20:5060")

	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, format := range []string{"json", "html"} {
		out := filepath.Join(dir, "diagnose."+format)
		log, err := pc.Run(ctx, os.Args[0], "-test.run=^TestHelperNatdoc$", "--",
			"diagnose", "--mirror", "203.0.113.20:5060", "--no-upnp", "--no-stun", "--format", format, "-o", out)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != exitProblems {
			t.Fatalf("natdoc diagnose: %v, want exit %d; output:\n%s", err, exitProblems, log)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if format == "html" {
			if !strings.Contains(string(data), "<svg") || !strings.Contains(string(data), "sip-alg-rewrite") {
				t.Errorf("html report without network picture or finding:\n%s", data)
			}
			continue
		}
		var rep report.Report
		if err := json.Unmarshal(data, &rep); err != nil {
			t.Fatalf("json: %v\n%s", err, data)
		}
		var ids []string
		for _, f := range rep.Findings {
			ids = append(ids, string(f.ID)+"/"+f.Subject)
		}
		if !slices.Contains(ids, "sip-alg-rewrite/UDP") || slices.Contains(ids, "sip-alg-rewrite/TCP") {
			t.Errorf("findings %v: want the ALG over UDP only", ids)
		}
		if !strings.HasPrefix(rep.Verdict, "Calls between this network and the internet: ") || rep.Host == nil || len(rep.Checks) == 0 {
			t.Errorf("report:\n%s", data)
		}
	}
	mirror.Stop()
	if !strings.Contains(mirror.Log(), "answering on 203.0.113.20:5060") {
		t.Errorf("mirror log:\n%s", mirror.Log())
	}
}
