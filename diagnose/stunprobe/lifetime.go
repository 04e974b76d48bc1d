package stunprobe

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// lifetimeFirstIdle is the first rung of the idle-time ladder. It is not a
// round number on purpose: NAT timeouts are usually round (30 s, 60 s), and
// a check landing exactly on the expiry would be decided by timer jitter.
const lifetimeFirstIdle = 1500 * time.Millisecond

// lifetimeRefinePoints is how many idle times each refining round tries in
// parallel inside the current bracket (a 4-ary rather than binary search:
// each round costs one idle wait, so more points per round means fewer).
const lifetimeRefinePoints = 3

// lifetimeLadder lists the first round's idle times: doubling from
// lifetimeFirstIdle up to longest.
func lifetimeLadder(longest time.Duration) []time.Duration {
	var out []time.Duration
	for d := lifetimeFirstIdle; d <= longest; d *= 2 {
		out = append(out, d)
	}
	return out
}

// refinePoints splits the bracket (alive, dead) into equal parts.
func refinePoints(alive, dead time.Duration) []time.Duration {
	out := make([]time.Duration, 0, lifetimeRefinePoints)
	for i := 1; i <= lifetimeRefinePoints; i++ {
		out = append(out, alive+(dead-alive)*time.Duration(i)/(lifetimeRefinePoints+1))
	}
	return out
}

// lifetime brackets the binding lifetime by RFC 5780 §4.6: each trial
// opens a fresh mapping, leaves it idle, then has a second socket ask the
// server to answer to the first mapping's port (RESPONSE-PORT). A first
// round tries a doubling ladder of idle times in parallel; later rounds
// split the bracket until it is narrow enough.
func (p *probe) lifetime(ctx context.Context, res *Result) *LifetimeResult {
	srv, ok := p.lifetimeServer(res)
	if !ok {
		return &LifetimeResult{Note: "no server answered"}
	}
	out := &LifetimeResult{}
	if alive, _ := p.lifetimeTrial(ctx, srv, 0); !alive {
		out.Note = "the server did not answer to RESPONSE-PORT right away (no RFC 5780 support), so the lifetime cannot be measured"
		return out
	}
	out.Trials = p.lifetimeRound(ctx, srv, lifetimeLadder(p.cfg.LifetimeMax))
	for ctx.Err() == nil {
		alive, dead := lifetimeBracket(out.Trials)
		if dead == 0 || alive == 0 || dead-alive <= max(time.Second, time.Duration(float64(alive)*p.cfg.LifetimeResolution)) {
			break
		}
		out.Trials = append(out.Trials, p.lifetimeRound(ctx, srv, refinePoints(alive, dead))...)
	}
	slices.SortFunc(out.Trials, func(a, b LifetimeTrial) int { return int(a.Idle - b.Idle) })
	out.Min, out.Max = lifetimeBracket(out.Trials)
	if out.Min == 0 && out.Max > 0 {
		out.Note = "the mapping was gone after the shortest idle time tried"
	}
	return out
}

func (p *probe) lifetimeServer(res *Result) (ServerResult, bool) {
	for _, s := range res.Servers {
		if s.Answered() && (s.Addr == res.RFC5780 || !res.RFC5780.IsValid()) {
			return s, true
		}
	}
	return ServerResult{}, false
}

// lifetimeRound runs one trial per idle time in parallel. When a mapping is
// found gone after d, trials with longer idle times are cancelled: they
// cannot narrow the bracket.
func (p *probe) lifetimeRound(ctx context.Context, srv ServerResult, idles []time.Duration) []LifetimeTrial {
	p.cfg.Log.Info("binding lifetime: idle mappings in parallel", "idle", idles)
	type done struct {
		trial LifetimeTrial
		ok    bool
	}
	results := make(chan done, len(idles))
	cancels := make([]context.CancelFunc, len(idles))
	var wg sync.WaitGroup
	for i, idle := range idles {
		tctx, cancel := context.WithCancel(ctx)
		cancels[i] = cancel
		wg.Go(func() {
			alive, ok := p.lifetimeTrial(tctx, srv, idle)
			results <- done{LifetimeTrial{Idle: idle, Alive: alive}, ok}
		})
	}
	go func() { wg.Wait(); close(results) }()
	var trials []LifetimeTrial
	for d := range results {
		if !d.ok {
			continue
		}
		trials = append(trials, d.trial)
		if !d.trial.Alive {
			for i, idle := range idles {
				if idle > d.trial.Idle {
					cancels[i]()
				}
			}
		}
	}
	for _, c := range cancels {
		c()
	}
	return trials
}

// lifetimeTrial reports whether a fresh mapping still lets the server's
// answer in after idle of silence; ok is false when the trial could not
// run (no socket, no first answer, cancelled).
func (p *probe) lifetimeTrial(ctx context.Context, srv ServerResult, idle time.Duration) (alive, ok bool) {
	x, err := p.open(netip.AddrPortFrom(p.unspecified(), 0))
	if err != nil {
		return false, false
	}
	defer x.Close()
	first := ServerResult{Addr: srv.Addr}
	p.ask(ctx, x, &first, knownPath(srv.RTT))
	if !first.Answered() {
		return false, false
	}
	// The idle time counts from the answer (ask returns right after it): it
	// was the last packet through the mapping, so it set the NAT's timer.
	idleTimer := time.NewTimer(idle)
	defer idleTimer.Stop()
	select {
	case <-ctx.Done():
		return false, false
	case <-idleTimer.C:
	}
	y, err := p.open(netip.AddrPortFrom(p.unspecified(), 0))
	if err != nil {
		return false, false
	}
	defer y.Close()
	req, err := NewBindingRequest(ResponsePort(first.Mapped.Port()))
	if err != nil {
		return false, false
	}
	_, err = exchangeOn(ctx, x, y, srv.Addr, req, negativePath(srv.RTT), fromExactly(srv.Addr))
	if ctx.Err() != nil {
		return false, false
	}
	return err == nil, true
}
