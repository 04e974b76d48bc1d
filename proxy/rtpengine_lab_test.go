//go:build linux

package proxy

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/phone"
	"github.com/natdoc/natdoc/report"
)

// TestLabRtpengineFailover: two real rtpengines on hosts of their own.
// The one that has a call in progress is killed mid-call: it is taken
// out, the call it had is reported (media-engine-down), and the next
// calls all go to the other one with two-way audio.
func TestLabRtpengineFailover(t *testing.T) {
	natlab.Require(t)
	lab := natlab.New(t)
	srvHost := lab.PublicHost("sip", serverIP)
	engines := []*natlab.Rtpengine{
		natlab.StartRtpengine(t, lab.PublicHost("rtpe1", "203.0.113.31"), natlab.RtpengineConfig{}),
		natlab.StartRtpengine(t, lab.PublicHost("rtpe2", "203.0.113.32"), natlab.RtpengineConfig{}),
	}
	ls := startEngineServer(t, srvHost, engines[0].NG, engines[1].NG)
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: apdm})
	alice := labPhone(t, r1.LANHost("alice", "192.168.1.10"), "alice", phone.Config{SDPMode: phone.SDPLocal})
	bob := labPhone(t, lab.PublicHost("bob", "198.51.100.20"), "bob", phone.Config{SDPMode: phone.SDPLocal})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	registerAll(ctx, t, alice, bob)
	// The first call, 4 s long; its engine is killed a second into it.
	var wg sync.WaitGroup
	wg.Go(func() { bob.Answer(ctx, 15*time.Second) })
	wg.Go(func() { alice.Call(ctx, "bob", 4*time.Second) })
	var first CallRecord
	waitFor(t, func() bool {
		active, _ := ls.srv.Calls()
		if len(active) == 1 && active[0].Engine != "" {
			first = active[0]
		}
		return first.Engine != ""
	})
	time.Sleep(time.Second)
	// The live line asks the engine for the call's counts (query).
	waitFor(t, func() bool { return strings.Contains(ls.srv.statusLine(), "pkts") })
	t.Logf("live: %s", ls.srv.statusLine())
	victim := slices.IndexFunc(engines, func(e *natlab.Rtpengine) bool { return e.NG.String() == first.Engine })
	survivor := engines[1-victim].NG.String()
	engines[victim].Proc.Kill()
	wg.Wait()
	t.Logf("call %s on %s, its engine killed mid-call", first.CallID, first.Engine)

	for i := range 3 {
		ra, rb := callPair(t, alice, bob, "bob")
		var rec CallRecord
		waitFor(t, func() bool {
			_, ended := ls.srv.Calls()
			i := slices.IndexFunc(ended, func(c CallRecord) bool { return c.CallID == ra.CallID })
			if i >= 0 {
				rec = ended[i]
			}
			return i >= 0
		})
		t.Logf("call %d on %s: alice heard %d, bob heard %d", i+2, rec.Engine, ra.Received.Packets, rb.Received.Packets)
		if rec.Engine != survivor || ra.Verdict != report.VerdictTwoWay || rb.Verdict != report.VerdictTwoWay {
			t.Errorf("call %d after the kill: on %q (%s/%s), want two-way on %s", i+2, rec.Engine, ra.Verdict, rb.Verdict, survivor)
		}
	}
	// The live line shows both engines, the killed one down.
	line := ls.srv.statusLine()
	if !strings.Contains(line, "rtpengine "+first.Engine+" DOWN") || !strings.Contains(line, "rtpengine "+survivor+" up") {
		t.Errorf("status line %q", line)
	}
	fs := EngineFindings(ls.srv.engineStatuses())
	if len(fs) != 1 || fs[0].ID != IDMediaEngineDown || fs[0].Severity != report.SeverityWarning ||
		len(fs[0].Evidence) == 0 || len(fs[0].Evidence[0].Values) != 1 || fs[0].Evidence[0].Values[0].Value != first.CallID {
		t.Fatalf("findings %+v, want media-engine-down naming call %s", fs, first.CallID)
	}
	t.Logf("finding: %s (%s)", fs[0].Title, fs[0].Evidence[0].Text)
}

// TestLabRtpenginePaused: an engine that stops answering (SIGSTOP, as a
// hung or overloaded daemon) gets the INVITE refused with 503 within its
// ng schedule, not left hanging; once it answers pings again, calls work.
func TestLabRtpenginePaused(t *testing.T) {
	natlab.Require(t)
	lab := natlab.New(t)
	srvHost := lab.PublicHost("sip", serverIP)
	eng := natlab.StartRtpengine(t, srvHost, natlab.RtpengineConfig{})
	ls := startEngineServer(t, srvHost, eng.NG)
	alice := labPhone(t, lab.PublicHost("alice", "198.51.100.10"), "alice", phone.Config{SDPMode: phone.SDPLocal})
	bob := labPhone(t, lab.PublicHost("bob", "198.51.100.20"), "bob", phone.Config{SDPMode: phone.SDPLocal})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	registerAll(ctx, t, alice, bob)
	eng.Proc.Pause()
	start := time.Now()
	_, err := alice.Call(ctx, "bob", time.Second)
	took := time.Since(start)
	var de *sipgo.ErrDialogResponse
	if !errors.As(err, &de) || de.Res.StatusCode != 503 || de.Res.GetHeader("Warning") == nil ||
		!strings.Contains(de.Res.GetHeader("Warning").Value(), eng.NG.String()) {
		t.Fatalf("call to a paused engine: %v, want 503 naming the engine", err)
	}
	if took > 3*time.Second {
		t.Errorf("refused after %s, want within the ng schedule (2 s)", took)
	}
	t.Logf("%s after %s: %s", de.Res.StartLine(), took.Round(time.Millisecond), de.Res.GetHeader("Warning").Value())
	eng.Proc.Resume()
	waitFor(t, func() bool { return ls.srv.engineStatuses()[0].Up })
	ra, rb := callPair(t, alice, bob, "bob")
	if ra.Verdict != report.VerdictTwoWay || rb.Verdict != report.VerdictTwoWay {
		t.Errorf("after the engine came back: %s/%s", ra.Verdict, rb.Verdict)
	}
}

// TestLabRtpengineFull: a real rtpengine whose port range holds one call.
// While it runs, a second call is refused with 503 and Retry-After (the
// engine is full, not broken) and the first goes on two-way; once it
// ended the next call works.
func TestLabRtpengineFull(t *testing.T) {
	natlab.Require(t)
	lab := natlab.New(t)
	srvHost := lab.PublicHost("sip", serverIP)
	// One call: an RTP and an RTCP port for each of its two sides.
	eng := natlab.StartRtpengine(t, srvHost, natlab.RtpengineConfig{PortMin: 30000, PortMax: 30003})
	ls := startEngineServer(t, srvHost, eng.NG)
	alice := labPhone(t, lab.PublicHost("alice", "198.51.100.10"), "alice", phone.Config{SDPMode: phone.SDPLocal})
	bob := labPhone(t, lab.PublicHost("bob", "198.51.100.20"), "bob", phone.Config{SDPMode: phone.SDPLocal})
	carolHost := lab.PublicHost("carol", "198.51.100.30")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	registerAll(ctx, t, alice, bob)
	var wg sync.WaitGroup
	var ra, rb *phone.CallResult
	wg.Go(func() { rb, _ = bob.Answer(ctx, 15*time.Second) })
	wg.Go(func() { ra, _ = alice.Call(ctx, "bob", 4*time.Second) })
	waitFor(t, func() bool { active, _ := ls.srv.Calls(); return len(active) == 1 && active[0].Engine != "" })
	refused := rawInvite(t, carolHost, "alice")
	wg.Wait()
	if code := statusCode(refused); code != 503 || !strings.Contains(refused, "\r\nRetry-After: "+retryAfter+"\r\n") ||
		!strings.Contains(refused, "Ran out of ports") {
		t.Errorf("second call answered:\n%s\nwant 503 with Retry-After and the engine's reason", refused)
	}
	if ra == nil || rb == nil || ra.Verdict != report.VerdictTwoWay || rb.Verdict != report.VerdictTwoWay {
		t.Fatalf("the call in progress: %+v / %+v, want two-way", ra, rb)
	}
	if n := ls.srv.Counters.RelayFull.Load(); n != 1 {
		t.Errorf("relay-full counted %d, want 1", n)
	}
	// rtpengine closes a deleted call's sockets in the background (its
	// late port release): the next call waits until they are gone.
	waitFor(t, func() bool { return !portsBound(t, srvHost, "30000", "30003") })
	ra, rb = callPair(t, alice, bob, "bob")
	if ra.Verdict != report.VerdictTwoWay || rb.Verdict != report.VerdictTwoWay {
		t.Errorf("the next call: %s/%s, want two-way", ra.Verdict, rb.Verdict)
	}
}

// portsBound reports whether a UDP socket in host is bound to a port in
// [min, max].
func portsBound(t *testing.T, host *natlab.Host, min, max string) bool {
	t.Helper()
	out, err := host.Run(t.Context(), "ss", "-Hnua", "sport >= :"+min+" and sport <= :"+max)
	if err != nil {
		t.Fatalf("ss: %v: %s", err, out)
	}
	return len(bytes.TrimSpace(out)) > 0
}
