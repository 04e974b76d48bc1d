package ng_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/ng"
	"github.com/natdoc/natdoc/internal/ng/ngtest"
	"github.com/natdoc/natdoc/internal/transact"
)

// fastSchedule keeps the no-reply cases short: three sends in 300 ms.
var fastSchedule = transact.Schedule{RTO: 50 * time.Millisecond, Sends: 3, Window: 300 * time.Millisecond}

func newClient(t *testing.T, addr netip.AddrPort) *ng.Client {
	t.Helper()
	c, err := ng.New(addr, ng.Options{Schedule: fastSchedule})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestClientAnswers(t *testing.T) {
	f := ngtest.Start(t, func(cookie string, cmd map[string]any) []byte {
		switch cmd["command"] {
		case "ping":
			return ng.Reply(cookie, map[string]any{"result": "pong"})
		case "offer":
			return ng.Reply(cookie, map[string]any{"result": "ok", "sdp": "v=0 for " + cmd["call-id"].(string)})
		}
		return ng.Reply(cookie, map[string]any{"result": "error", "error-reason": "Unknown call-id"})
	})
	c := newClient(t, f.Addr())
	ctx := t.Context()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	// Concurrent requests each get their own reply.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			id := "call-" + string(rune('a'+i))
			sdp, err := c.Offer(ctx, id, "ft", "v=0")
			if err != nil || sdp != "v=0 for "+id {
				t.Errorf("offer %s: %q %v", id, sdp, err)
			}
		})
	}
	wg.Wait()
	_, err := c.Delete(ctx, "gone", "ft")
	if !errors.Is(err, ng.ErrFailed) || !strings.Contains(err.Error(), "Unknown call-id") || !strings.Contains(err.Error(), "delete") {
		t.Errorf("delete of an unknown call: %v, want ng.ErrFailed with the engine's reason", err)
	}
}

// TestClientBadReplies: an engine that answers garbage, answers late,
// answers nothing, or does not exist; each ends with its own error, and
// within the schedule.
func TestClientBadReplies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(cookie string, cmd map[string]any) []byte
		want   error
		within time.Duration
	}{
		{"garbage after the cookie", func(c string, _ map[string]any) []byte { return []byte(c + " d6:result") }, ng.ErrBencode, 100 * time.Millisecond},
		{"a list, not a dictionary", func(c string, _ map[string]any) []byte { return []byte(c + " l2:oke") }, ng.ErrBencode, 100 * time.Millisecond},
		{"no result key", func(c string, _ map[string]any) []byte { return ng.Reply(c, map[string]any{"sdp": "x"}) }, ng.ErrBencode, 100 * time.Millisecond},
		{"silent", func(string, map[string]any) []byte { return nil }, ng.ErrNoReply, time.Second},
		{"no cookie at all", func(string, map[string]any) []byte { return []byte("garbage") }, ng.ErrNoReply, time.Second},
		{"another request's cookie", func(c string, _ map[string]any) []byte { return ng.Reply(c+"x", map[string]any{"result": "pong"}) }, ng.ErrNoReply, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := ngtest.Start(t, tc.answer)
			c := newClient(t, f.Addr())
			start := time.Now()
			err := c.Ping(t.Context())
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if took := time.Since(start); took > tc.within {
				t.Errorf("took %s, want under %s", took, tc.within)
			}
			t.Logf("%v (malformed %d, stray %d, sent %d)", err, c.Malformed.Load(), c.Stray.Load(), f.Received.Load())
		})
	}
}

func TestClientLateReplyRetransmits(t *testing.T) {
	var n atomic.Int32
	f := ngtest.Start(t, func(c string, _ map[string]any) []byte {
		if n.Add(1) < 3 {
			return nil // the first two sends are lost
		}
		return ng.Reply(c, map[string]any{"result": "pong"})
	})
	c := newClient(t, f.Addr())
	if err := c.Ping(t.Context()); err != nil || f.Received.Load() != 3 {
		t.Fatalf("ping: %v after %d sends, want an answer to the third", err, f.Received.Load())
	}
}

func TestClientRefused(t *testing.T) {
	// A port nobody listens on: the ICMP port unreachable ends the request
	// at once instead of after the schedule.
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	conn.Close()
	c := newClient(t, addr)
	start := time.Now()
	err = c.Ping(t.Context())
	if !errors.Is(err, ng.ErrRefused) {
		t.Fatalf("got %v, want ErrRefused", err)
	}
	if took := time.Since(start); took > 200*time.Millisecond {
		t.Errorf("refusal took %s", took)
	}
}

func TestClientContextEnds(t *testing.T) {
	f := ngtest.Start(t, func(string, map[string]any) []byte { return nil })
	c, err := ng.New(f.Addr(), ng.Options{}) // the default 2 s schedule
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := c.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's deadline", err)
	}
}
