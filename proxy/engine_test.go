package proxy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/natdoc/natdoc/internal/ng"
	"github.com/natdoc/natdoc/internal/ng/ngtest"
	"github.com/natdoc/natdoc/rtpengine"
)

// An engine that answers its pings but answers offers badly: the INVITE
// is refused with a status that says why, in time, and never forwarded.
// (The engines that work are real rtpengines, in the lab tests.)

func TestEngineFailureRefusesInvite(t *testing.T) {
	for _, tc := range []struct {
		name    string
		offer   func(cookie string) []byte
		code    int
		warning string
		within  time.Duration
	}{
		{"engine refuses", func(c string) []byte {
			return ng.Reply(c, map[string]any{"result": "error", "error-reason": "Error rewriting SDP"})
		}, 500, "Error rewriting SDP", time.Second},
		// Full, not broken: 503 with Retry-After (checked below).
		{"engine out of ports", func(c string) []byte {
			return ng.Reply(c, map[string]any{"result": "error", "error-reason": "Ran out of ports"})
		}, 503, "Ran out of ports", time.Second},
		{"garbage reply", func(c string) []byte { return []byte(c + " d6:resul") }, 500, "bencode", time.Second},
		{"reply without SDP", func(c string) []byte { return ng.Reply(c, map[string]any{"result": "ok"}) }, 500, "without sdp", time.Second},
		{"no reply", func(string) []byte { return nil }, 503, "no reply", 4 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			engine := ngtest.Start(t, ngtest.Pong(func(cookie string, _ map[string]any) []byte { return tc.offer(cookie) }))
			pool, err := rtpengine.New(t.Context(), rtpengine.Config{Engines: []rtpengine.EngineConfig{{Addr: engine.Addr(), Weight: 1}}, PingInterval: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			ts := startServer(t, Config{Fix: true, Engines: pool}, 0)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			alice, _ := registeredPhones(ctx, t, ts.addr)
			start := time.Now()
			_, err = alice.Call(ctx, "bob", time.Second)
			took := time.Since(start)
			var de *sipgo.ErrDialogResponse
			if !errors.As(err, &de) {
				t.Fatalf("call: %v, want a refusal", err)
			}
			warning := de.Res.GetHeader("Warning")
			if de.Res.StatusCode != tc.code || warning == nil || !strings.Contains(warning.Value(), tc.warning) {
				t.Errorf("refused with %s, Warning %v; want %d with %q", de.Res.StartLine(), warning, tc.code, tc.warning)
			}
			if took > tc.within {
				t.Errorf("refused after %s, want within %s", took, tc.within)
			}
			full := tc.warning == "Ran out of ports"
			if retry := de.Res.GetHeader("Retry-After"); (retry != nil) != full || full && retry.Value() != retryAfter {
				t.Errorf("Retry-After %v; want it (%s s) only when the engine is full", retry, retryAfter)
			}
			t.Logf("%s after %s: Warning: %s", de.Res.StartLine(), took.Round(time.Millisecond), warning.Value())
			waitFor(t, func() bool { _, ended := ts.srv.Calls(); return len(ended) == 1 })
			if _, ended := ts.srv.Calls(); !strings.HasPrefix(ended[0].EndReason, "media:") {
				t.Errorf("the call's record: %+v", ended[0])
			}
		})
	}
}
