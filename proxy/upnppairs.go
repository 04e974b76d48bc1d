package proxy

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/natdoc/natdoc/diagnose/igd"
	"github.com/natdoc/natdoc/relay"
)

// The RTP pairs the router forwards follow the relay's calls (serve
// --upnp with the built-in relay): a few spare pairs are forwarded ahead
// so most INVITEs need no router round trip, more as the spare runs low,
// and pairs idle beyond the spare go back. Grow below upnpSpareLow, up to
// upnpSparePairs; give back only above upnpSparePairs and only what idled
// for the idle-release time: the gap keeps a call starting and ending
// from adding and removing a mapping each time.
const (
	// upnpSparePairs: forwarded pairs kept free. A call with one party
	// outside the LAN takes one, with both two: four let two to four
	// INVITEs arriving together go out at once, for eight mappings, a
	// quarter of the 32-entry tables of small routers.
	upnpSparePairs = 4
	// upnpSpareLow: below this many free, more are forwarded in the
	// background, while the next call still finds one without waiting.
	upnpSpareLow = 2
	// upnpGrowWait: how long an INVITE that finds no forwarded pair free
	// waits for the router. A LAN router answers a SOAP request in tens of
	// milliseconds and a pair takes four; a slow one takes a second. Past
	// it the call gets 503 with Retry-After and the growth goes on.
	upnpGrowWait = 2 * time.Second
	// upnpCheckEvery: how often idle pairs are looked for, at most (at
	// least twice per idle-release time, so a pair goes back within 1.5
	// of it); growth does not wait for it (calls wake it).
	upnpCheckEvery = 5 * time.Second
	// upnpRouterTimeout bounds one round of growth or release: a search
	// of the ranges the rules allow takes up to ~100 requests.
	upnpRouterTimeout = time.Minute
)

// pairRouter is the router's side: igd.Forwarding.
type pairRouter interface {
	AddPairs(ctx context.Context, n int) ([]uint16, error)
	ReleasePairs(ctx context.Context, bases ...uint16) error
	Stats() igd.PairStats
	SkipBusy(busy func(base uint16) bool)
}

// pairDemand keeps the router's forwarded RTP pairs in step with the
// relay: every pair forwarded is given to the relay (AddForwarded), every
// pair given back is taken from it first (RemoveForwarded).
type pairDemand struct {
	fw     pairRouter
	rl     *relay.Relay
	idle   time.Duration
	every  time.Duration // how often idle pairs are looked for
	log    *slog.Logger
	notify func(string)
	event  func(kind, detail string)

	kick chan struct{}
	stop context.CancelFunc
	done chan struct{}

	mu sync.Mutex
	// want: pairs INVITEs wait for; round is closed when the next round
	// of balance ends (the one that saw want).
	want      int
	round     chan struct{}
	toldLimit igd.LimitCause
}

// startPairDemand hands the pairs forwarded at start to the relay and
// keeps them in step until stop.
func startPairDemand(fw pairRouter, bases []uint16, rl *relay.Relay, o *Options) (*pairDemand, error) {
	idle := cmp.Or(o.UPnP.IdleRelease, DefaultUPnPIdleRelease)
	d := &pairDemand{fw: fw, rl: rl, idle: idle, every: min(upnpCheckEvery, idle/2),
		log: o.Log, notify: o.Notify, kick: make(chan struct{}, 1), done: make(chan struct{}), round: make(chan struct{})}
	d.event = func(kind, detail string) {
		if o.OnEvent != nil {
			o.OnEvent(Event{Time: time.Now(), Kind: kind, Detail: detail})
		}
	}
	for _, b := range bases {
		if err := rl.AddForwarded(int(b)); err != nil {
			return nil, err
		}
	}
	// A pair a LAN leg holds, forwarded, would serve nobody outside until
	// its call ends; one about to be forwarded is kept from LAN legs.
	fw.SkipBusy(func(b uint16) bool { return rl.HoldForForwarding(int(b)) })
	d.tellLimit()
	ctx, cancel := context.WithCancel(context.Background())
	d.stop = cancel
	d.nudge() // the start may have forwarded fewer than the spare
	go d.run(ctx)
	return d, nil
}

// close stops the balancing; the pairs stay forwarded until the
// Forwarding closes.
func (d *pairDemand) close() {
	d.stop()
	<-d.done
}

func (d *pairDemand) run(ctx context.Context) {
	defer close(d.done)
	t := time.NewTicker(d.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			d.mu.Lock()
			close(d.round) // nobody waits for a round that never comes
			d.mu.Unlock()
			return
		case <-d.kick:
		case <-t.C:
		}
		d.balance(ctx)
	}
}

// nudge wakes the balancing (a call took pairs; the spare may be low).
func (d *pairDemand) nudge() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// need waits, up to upnpGrowWait, until n forwarded pairs are free for a
// call's legs facing outside; false when the router gave none in time.
func (d *pairDemand) need(ctx context.Context, n int) bool {
	if d.rl.FreeForwarded() >= n {
		return true
	}
	d.mu.Lock()
	d.want += n
	ch := d.round
	d.mu.Unlock()
	d.nudge()
	t := time.NewTimer(upnpGrowWait)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
	}
	return d.rl.FreeForwarded() >= n
}

// balance grows the forwarded pairs to the spare plus what INVITEs wait
// for when fewer than upnpSpareLow are free, and gives back idle ones
// beyond the spare.
func (d *pairDemand) balance(ctx context.Context) {
	d.mu.Lock()
	done, want := d.round, d.want
	d.round, d.want = make(chan struct{}), 0
	d.mu.Unlock()
	defer close(done)
	ctx, cancel := context.WithTimeout(ctx, upnpRouterTimeout)
	defer cancel()
	switch free := d.rl.FreeForwarded(); {
	case free < upnpSpareLow || want > free:
		d.grow(ctx, upnpSparePairs+want-free)
	case free > upnpSparePairs:
		d.shrink(ctx, free-upnpSparePairs)
	}
}

func (d *pairDemand) grow(ctx context.Context, n int) {
	bases, err := d.fw.AddPairs(ctx, n)
	for _, b := range bases {
		if err := d.rl.AddForwarded(int(b)); err != nil {
			d.log.Warn("upnp: forwarded pair the relay cannot take", "pair", b, "err", err)
		}
	}
	if len(bases) > 0 {
		d.event("upnp-forward", fmt.Sprintf("the router forwards %s more (%s)", pairCount(len(bases)), d.summary()))
	}
	if err != nil && ctx.Err() == nil {
		d.log.Warn("upnp: forwarding more RTP pairs", "err", err)
	}
	d.tellLimit()
}

// shrink gives back up to extra pairs idle for the idle-release time,
// taken from the relay before the router stops forwarding them.
func (d *pairDemand) shrink(ctx context.Context, extra int) {
	var gone []uint16
	for _, b := range d.rl.IdleForwarded(d.idle) {
		if len(gone) == extra {
			break
		}
		if d.rl.RemoveForwarded(b) {
			gone = append(gone, uint16(b))
		}
	}
	if len(gone) == 0 {
		return
	}
	if err := d.fw.ReleasePairs(ctx, gone...); err != nil {
		d.log.Warn("upnp: releasing idle RTP pairs (natdoc removes them on exit)", "err", err)
	}
	d.event("upnp-release", fmt.Sprintf("%s idle for %s given back to the router (%s)", pairCount(len(gone)), d.idle, d.summary()))
}

func (d *pairDemand) summary() string {
	st := d.fw.Stats()
	return fmt.Sprintf("%d forwarded, %d free", st.Held, d.rl.FreeForwarded())
}

// tellLimit says once per cause that the router forwards no more pairs.
func (d *pairDemand) tellLimit() {
	l := d.fw.Stats().Limit
	d.mu.Lock()
	defer d.mu.Unlock()
	if l == nil || l.Cause == d.toldLimit {
		return
	}
	d.toldLimit = l.Cause
	d.notify(fmt.Sprintf("no more RTP pairs are forwarded (%s, %s held): calls beyond them are refused (503) until some end; to carry more, forward the RTP range by hand",
		l.Cause, pairCount(l.At)))
}

func pairCount(n int) string { return count(n, "RTP pair") }
