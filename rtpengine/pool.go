package rtpengine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/natdoc/natdoc/internal/ng"
	"github.com/natdoc/natdoc/internal/transact"
)

// Pool defaults, each with its reason.
const (
	// DefaultPingInterval: a dead engine is noticed within about two
	// seconds plus the ping's own schedule, well inside a caller's
	// patience, at one tiny datagram per second per engine.
	DefaultPingInterval = time.Second
	// DefaultStatsInterval: the engine's statistics reply is some KiB;
	// every few seconds is enough for a live status.
	DefaultStatsInterval = 5 * time.Second
)

// ErrNoEngine: no engine is alive to take a call.
var ErrNoEngine = errors.New("rtpengine: no engine answers")

// Config configures a Pool.
type Config struct {
	Engines []EngineConfig
	// PingInterval and StatsInterval: how often each engine is pinged and
	// asked for its statistics (defaults above).
	PingInterval, StatsInterval time.Duration
	// Dial opens an engine's socket (test seam; default net.DialUDP).
	Dial func(netip.AddrPort) (*net.UDPConn, error)
	// Schedule of each request (default ng.DefaultSchedule).
	Schedule transact.Schedule
	Log      *slog.Logger
	// OnChange is told when an engine goes down or comes back.
	OnChange func(e *Engine, up bool)
}

// Pool is the set of engines calls are spread over.
type Pool struct {
	cfg     Config
	engines []*Engine
	stop    context.CancelFunc
	done    chan struct{}
}

// New connects to every engine, pings them once (an engine that does not
// answer starts as down) and keeps checking them until Close. It fails
// only when no engine answers.
func New(ctx context.Context, cfg Config) (*Pool, error) {
	if len(cfg.Engines) == 0 {
		return nil, errors.New("rtpengine: no engine given")
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.StatsInterval <= 0 {
		cfg.StatsInterval = DefaultStatsInterval
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	p := &Pool{cfg: cfg, done: make(chan struct{})}
	for _, ec := range cfg.Engines {
		c, err := ng.New(ec.Addr, ng.Options{Dial: cfg.Dial, Schedule: cfg.Schedule})
		if err != nil {
			p.closeClients()
			return nil, fmt.Errorf("rtpengine: %w", err)
		}
		p.engines = append(p.engines, &Engine{Config: ec, client: c, pool: p, active: map[string]bool{}})
	}
	p.check(ctx, true)
	if len(p.live()) == 0 {
		errs := make([]error, 0, len(p.engines))
		for _, e := range p.engines {
			errs = append(errs, e.lastErr)
		}
		p.closeClients()
		return nil, fmt.Errorf("%w: %w", ErrNoEngine, errors.Join(errs...))
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.stop = cancel
	go p.loop(lctx)
	return p, nil
}

// Engines are the pool's engines in the order given.
func (p *Pool) Engines() []*Engine { return p.engines }

// Close stops the checks and closes the engines' sockets; calls still in
// an engine stay there.
func (p *Pool) Close() {
	if p.stop != nil {
		p.stop()
		<-p.done
	}
	p.closeClients()
}

func (p *Pool) closeClients() {
	for _, e := range p.engines {
		e.client.Close()
	}
}

// loop pings every engine each PingInterval and asks for statistics each
// StatsInterval.
func (p *Pool) loop(ctx context.Context) {
	defer close(p.done)
	t := time.NewTicker(p.cfg.PingInterval)
	defer t.Stop()
	lastStats := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		stats := time.Since(lastStats) >= p.cfg.StatsInterval
		if stats {
			lastStats = time.Now()
		}
		p.check(ctx, stats)
	}
}

// Check pings every engine now and asks for its statistics (the
// figures of a report at the end of a run).
func (p *Pool) Check(ctx context.Context) { p.check(ctx, true) }

// check pings every engine at once (and asks for statistics when stats),
// and marks each up or down by its answer.
func (p *Pool) check(ctx context.Context, stats bool) {
	var wg sync.WaitGroup
	for _, e := range p.engines {
		wg.Go(func() {
			err := e.client.Ping(ctx)
			if ctx.Err() == nil {
				e.observe(err)
			}
			if err == nil && stats {
				// Figures only: an engine that does not give them still
				// relays.
				if st, err := e.client.Statistics(ctx); err == nil {
					e.setStats(st)
				}
			}
		})
	}
	wg.Wait()
}

// live is the engines up now.
func (p *Pool) live() []*Engine {
	var out []*Engine
	for _, e := range p.engines {
		if e.Up() {
			out = append(out, e)
		}
	}
	return out
}

// Order ranks the live engines for a call: by weighted rendezvous hash
// of the Call-ID, so every message of a call (and every natdoc process
// sharing the engines) picks the same first engine while it lives.
func (p *Pool) Order(callID string) []*Engine {
	live := p.live()
	slices.SortStableFunc(live, func(a, b *Engine) int {
		sa, sb := score(callID, a.Config), score(callID, b.Config)
		switch {
		case sa > sb:
			return -1
		case sa < sb:
			return 1
		}
		return 0
	})
	return live
}
