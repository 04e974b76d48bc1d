package rtpengine

import (
	"context"
	"errors"
	"hash/fnv"
	"maps"
	"math"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/natdoc/natdoc/internal/ng"
)

// Engine is one rtpengine of a pool and what natdoc saw of it.
type Engine struct {
	Config EngineConfig
	client *ng.Client
	pool   *Pool

	mu       sync.Mutex
	down     bool
	lastErr  error
	active   map[string]bool // Call-IDs anchored here now
	calls    uint64          // calls anchored here in all
	failures uint64          // requests that failed
	stats    ng.EngineStats
	statsAt  time.Time
	outages  []Outage
}

// Outage is a time an engine did not answer, with the calls it had in
// progress then: their media went through it, and nothing can move them.
type Outage struct {
	Start, End time.Time // End zero: still down
	Reason     string
	Calls      []string
}

// Request sends cmd to the engine. A request that gets no reply, or
// finds nothing listening, takes the engine out at once (the next ping
// brings it back).
func (e *Engine) Request(ctx context.Context, cmd map[string]any) (map[string]any, error) {
	r, err := e.client.Request(ctx, cmd)
	if err != nil {
		e.mu.Lock()
		e.failures++
		e.mu.Unlock()
		if errors.Is(err, ng.ErrNoReply) || errors.Is(err, ng.ErrRefused) {
			e.observe(err)
		}
	}
	return r, err
}

// LocalAddr is this host's address toward the engine (where the engine
// reaches a party on this host).
func (e *Engine) LocalAddr() netip.Addr { return e.client.LocalAddr().Addr() }

// Begin records a call anchored here; End its end.
func (e *Engine) Begin(callID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.active[callID] {
		e.active[callID] = true
		e.calls++
	}
}

// End records that a call left the engine.
func (e *Engine) End(callID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.active, callID)
}

// Up reports whether the engine answered its last request or ping.
func (e *Engine) Up() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return !e.down
}

// observe takes the outcome of a ping or request: an error takes the
// engine out (an outage begins, with its calls), an answer brings it back.
func (e *Engine) observe(err error) {
	e.mu.Lock()
	was := !e.down
	e.lastErr = err
	now := time.Now()
	switch {
	case err != nil && was:
		e.down = true
		calls := slices.Sorted(maps.Keys(e.active))
		e.outages = append(e.outages, Outage{Start: now, Reason: err.Error(), Calls: calls})
	case err == nil && !was:
		e.down = false
		if n := len(e.outages); n > 0 && e.outages[n-1].End.IsZero() {
			e.outages[n-1].End = now
		}
	}
	changed := was == (err != nil)
	e.mu.Unlock()
	if changed {
		e.pool.cfg.Log.Warn("rtpengine "+e.Config.Addr.String(), "up", err == nil, "err", err)
		if e.pool.cfg.OnChange != nil {
			e.pool.cfg.OnChange(e, err == nil)
		}
	}
}

func (e *Engine) setStats(st ng.EngineStats) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stats, e.statsAt = st, time.Now()
}

// Status is a snapshot of an engine for the live line and the report.
type Status struct {
	Config EngineConfig
	Up     bool
	// LastError is why it is down (or the last failed request).
	LastError string
	// Active calls now, Calls anchored here in all, Failures of requests.
	Active          int
	Calls, Failures uint64
	// Stats are its own figures as of StatsAt (zero: none yet).
	Stats   ng.EngineStats
	StatsAt time.Time
	Outages []Outage
}

// Status returns the engine's snapshot.
func (e *Engine) Status() Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := Status{Config: e.Config, Up: !e.down, Active: len(e.active), Calls: e.calls, Failures: e.failures,
		Stats: e.stats, StatsAt: e.statsAt, Outages: slices.Clone(e.outages)}
	if e.lastErr != nil {
		s.LastError = e.lastErr.Error()
	}
	return s
}

// score is the engine's weighted rendezvous score for a Call-ID: -w/ln(u)
// with u uniform in (0,1) from a hash of both, so each engine wins a share
// of Call-IDs proportional to its weight, and removing one moves only the
// Call-IDs it won.
func score(callID string, e EngineConfig) float64 {
	h := fnv.New64a()
	h.Write([]byte(callID))
	h.Write([]byte{0})
	h.Write([]byte(e.Addr.String()))
	u := (float64(mix(h.Sum64())>>11) + 0.5) / (1 << 53)
	return -float64(max(e.Weight, 1)) / math.Log(u)
}

// mix is splitmix64's finalizer: FNV's low bits alone spread poorly.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ (x >> 31)
}
