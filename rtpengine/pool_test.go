package rtpengine

import (
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/ng"
	"github.com/natdoc/natdoc/internal/ng/ngtest"
	"github.com/natdoc/natdoc/internal/transact"
)

// fakeEngine answers ping and statistics on loopback until silenced.
type fakeEngine struct {
	*ngtest.Engine
	silent atomic.Bool
}

func startFake(t *testing.T) *fakeEngine {
	t.Helper()
	f := &fakeEngine{}
	f.Engine = ngtest.Start(t, func(cookie string, cmd map[string]any) []byte {
		if cmd == nil || f.silent.Load() {
			return nil
		}
		reply := map[string]any{"result": "ok"}
		switch cmd["command"] {
		case "ping":
			reply["result"] = "pong"
		case "statistics":
			reply["statistics"] = map[string]any{"currentstatistics": map[string]any{"sessionsown": int64(7)}}
		}
		return ng.Reply(cookie, reply)
	})
	return f
}

func (f *fakeEngine) addr() netip.AddrPort { return f.Addr() }

var fastSchedule = transact.Schedule{RTO: 30 * time.Millisecond, Sends: 2, Window: 100 * time.Millisecond}

func TestPoolHealth(t *testing.T) {
	a, b := startFake(t), startFake(t)
	changes := make(chan string, 8)
	p, err := New(t.Context(), Config{Engines: []EngineConfig{{Addr: a.addr(), Weight: 1}, {Addr: b.addr(), Weight: 1}},
		PingInterval: 50 * time.Millisecond, StatsInterval: 50 * time.Millisecond, Schedule: fastSchedule,
		OnChange: func(e *Engine, up bool) { changes <- fmt.Sprintf("%v up=%v", e.Config.Addr, up) }})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ea, eb := p.Engines()[0], p.Engines()[1]
	ea.Begin("call-1")
	ea.Begin("call-2")
	ea.End("call-2")
	a.silent.Store(true)
	if got, want := <-changes, fmt.Sprintf("%v up=false", a.addr()); got != want {
		t.Fatalf("change %q, want %q", got, want)
	}
	for range 20 {
		if o := p.Order("call-3"); len(o) != 1 || o[0] != eb {
			t.Fatalf("new calls go to %d engines, want only the live one", len(o))
		}
	}
	st := ea.Status()
	if st.Up || len(st.Outages) != 1 || len(st.Outages[0].Calls) != 1 || st.Outages[0].Calls[0] != "call-1" || st.Calls != 2 {
		t.Errorf("down engine's status %+v: want one outage with call-1 in progress, 2 calls in all", st)
	}
	a.silent.Store(false)
	if got, want := <-changes, fmt.Sprintf("%v up=true", a.addr()); got != want {
		t.Fatalf("change %q, want %q", got, want)
	}
	if st := ea.Status(); !st.Up || st.Outages[0].End.IsZero() || st.Stats.Sessions != 7 {
		t.Errorf("engine back: %+v", st)
	}
}

func TestPoolNoEngineAnswers(t *testing.T) {
	a := startFake(t)
	a.silent.Store(true)
	_, err := New(t.Context(), Config{Engines: []EngineConfig{{Addr: a.addr(), Weight: 1}}, Schedule: fastSchedule})
	if !errors.Is(err, ErrNoEngine) || !errors.Is(err, ng.ErrNoReply) {
		t.Fatalf("got %v, want ErrNoEngine with the engine's no-reply", err)
	}
}

// TestRequestFailureTakesEngineOut: a request without reply takes the
// engine out before the next ping.
func TestRequestFailureTakesEngineOut(t *testing.T) {
	a := startFake(t)
	p, err := New(t.Context(), Config{Engines: []EngineConfig{{Addr: a.addr(), Weight: 1}}, PingInterval: time.Hour, Schedule: fastSchedule})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	a.silent.Store(true)
	e := p.Engines()[0]
	if _, err := e.Request(t.Context(), map[string]any{"command": "offer"}); !errors.Is(err, ng.ErrNoReply) {
		t.Fatalf("got %v", err)
	}
	if e.Up() || len(p.Order("x")) != 0 || e.Status().Failures != 1 {
		t.Errorf("engine still up after a request without reply: %+v", e.Status())
	}
}

// TestScoreSharesByWeight: weights 1, 2 and 5 win about 1/8, 2/8 and 5/8
// of Call-IDs, and an engine taken out moves only the Call-IDs it had.
func TestScoreSharesByWeight(t *testing.T) {
	engines := []EngineConfig{
		{Addr: netip.MustParseAddrPort("10.0.0.1:2223"), Weight: 1},
		{Addr: netip.MustParseAddrPort("10.0.0.2:2223"), Weight: 2},
		{Addr: netip.MustParseAddrPort("10.0.0.3:2223"), Weight: 5},
	}
	first := func(id string, es []EngineConfig) int {
		best, bs := -1, 0.0
		for i, e := range es {
			if s := score(id, e); best < 0 || s > bs {
				best, bs = i, s
			}
		}
		return best
	}
	const n = 40000
	wins := make([]int, 3)
	moved := 0
	for i := range n {
		id := fmt.Sprintf("%x@host-%d", i*7919, i)
		w := first(id, engines)
		wins[w]++
		if w2 := first(id, engines[:2]); w != 2 && w2 != w {
			moved++
		}
	}
	for i, want := range []float64{1.0 / 8, 2.0 / 8, 5.0 / 8} {
		if got := float64(wins[i]) / n; got < want*0.93 || got > want*1.07 {
			t.Errorf("engine %d (weight %d) won %.3f of calls, want %.3f", i, engines[i].Weight, got, want)
		}
	}
	if moved != 0 {
		t.Errorf("%d calls of the remaining engines moved when the third left", moved)
	}
}
