package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults, each with its reason.
const (
	// DefaultPortMin and DefaultPortMax: the RTP range most PBXes use
	// (10000-20000), so port forwards users already have fit.
	DefaultPortMin = 10000
	DefaultPortMax = 20000
	// DefaultIdleTimeout: a phone on hold may send no RTP but still sends
	// RTCP every 5 s (RFC 3550 §6.2); 60 s of silence on all four sockets
	// means the call is gone (BYE lost, phone crashed).
	DefaultIdleTimeout = 60 * time.Second
	// DefaultBatch: packets per recvmmsg/sendmmsg. 32 amortises the system
	// call at 100k packets/s without holding packets back (a batch returns
	// as soon as one packet is there).
	DefaultBatch = 32
	// DefaultMaxSessions bounds state: a flood of INVITEs cannot take every
	// port of the range.
	DefaultMaxSessions = 2000
	// relatchSilence: a latched source silent this long may be replaced by
	// a new one from the expected IP (the NAT rebinding after a timeout gives
	// the phone a new public port).
	relatchSilence = 2 * time.Second
	// maxPacket: the largest datagram read; RTP over Ethernet stays far
	// below, anything longer is truncated and counted as dropped.
	maxPacket = 1500
	// janitorInterval: how often idle sessions are looked for.
	janitorInterval = time.Second
)

// Sentinel errors callers branch on.
var (
	ErrNoPorts      = errors.New("relay: no free port pair in range")
	ErrTooManyCalls = errors.New("relay: session limit reached")
	ErrClosed       = errors.New("relay: closed")
	// ErrNoForwardedPorts: a leg facing outside found no free pair the
	// router forwards (Config.RouterForwards).
	ErrNoForwardedPorts = errors.New("relay: no free port pair the router forwards")
)

// Config configures a Relay. The zero value is usable: all interfaces,
// ports 10000-20000, 60 s idle timeout.
type Config struct {
	// Bind is the local address the media sockets bind to. Invalid means
	// 0.0.0.0 (IPv4, all interfaces).
	Bind netip.Addr
	// PortMin and PortMax bound the ports used (inclusive). RTP ports are
	// even, RTCP is RTP+1.
	PortMin, PortMax int
	// RouterForwards: a router forwards only some pairs to this host
	// (natdoc serve --upnp), given with AddForwarded, perhaps outside
	// PortMin-PortMax. Legs facing outside take only those; legs facing
	// the LAN take the range's other pairs first.
	RouterForwards bool
	// IdleTimeout closes sessions that received no packet for this long.
	IdleTimeout time.Duration
	// LatchAnySource latches onto the first source whatever its IP. Off by
	// default: only the IP the party's signalling came from may latch.
	LatchAnySource bool
	// Batch is the number of packets per batched read and write.
	Batch int
	// MaxSessions bounds concurrent sessions.
	MaxSessions int
	// Now is a test seam for the clock.
	Now func() time.Time
	// ListenUDP opens the media sockets (test seam, e.g. a socket inside a
	// network namespace); nil means net.ListenUDP.
	ListenUDP func(network, addr string) (*net.UDPConn, error)
	// Goroutines forces one goroutine per socket instead of the epoll
	// event loops (Linux); other systems always use goroutines.
	Goroutines bool
	// Pollers is the number of event loops; 0 means GOMAXPROCS.
	Pollers int

	// KernelForward moves each stream into the kernel once both its ends
	// latched: an nftables netdev ingress rule rewrites and forwards its
	// packets (Linux, root, nft installed; IPv4 and IPv6). Where that cannot run the
	// relay logs one warning and forwards in user space
	// (KernelForwarding says why).
	KernelForward bool
	// NftCommand and IPCommand run nft and ip (test seam: a relay inside a
	// network namespace runs them through `ip netns exec NS`); nil means
	// ["nft"] and ["ip"].
	NftCommand, IPCommand []string
	// Log receives the relay's few log lines (kernel forwarding's warning,
	// stale tables removed); nil means slog.Default().
	Log *slog.Logger
	// OnRelease, when set, is called once per session with its final
	// counters, after its ports went back to the pool and it left
	// Sessions (natdoc serve --metrics keeps closed sessions' totals).
	OnRelease func(SessionStats)
}

func (c *Config) withDefaults() Config {
	out := *c
	if !out.Bind.IsValid() {
		out.Bind = netip.IPv4Unspecified()
	}
	if out.PortMin == 0 && out.PortMax == 0 {
		out.PortMin, out.PortMax = DefaultPortMin, DefaultPortMax
	}
	if out.IdleTimeout <= 0 {
		out.IdleTimeout = DefaultIdleTimeout
	}
	if out.Batch <= 0 {
		out.Batch = DefaultBatch
	}
	if out.MaxSessions <= 0 {
		out.MaxSessions = DefaultMaxSessions
	}
	if out.Now == nil {
		out.Now = time.Now
	}
	if out.Log == nil {
		out.Log = slog.Default()
	}
	return out
}

// Relay allocates sessions from a port range and forwards their media.
type Relay struct {
	cfg   Config
	ports *portPool

	pollers  []*poller
	nextPoll atomic.Uint32

	kfwd    *kernelForwarder // nil: user space only
	kfwdErr error            // why kernel forwarding asked for is off

	mu       sync.Mutex
	sessions map[*Session]struct{}
	closed   bool
	done     chan struct{}
	wg       sync.WaitGroup // janitor
}

// New validates cfg and starts a relay. Close it to free every port.
func New(cfg Config) (*Relay, error) {
	c := cfg.withDefaults()
	if c.PortMin < 1 || c.PortMax > 65535 || c.PortMax-c.PortMin < 3 {
		return nil, fmt.Errorf("relay: port range %d-%d: need at least two port pairs within 1-65535", c.PortMin, c.PortMax)
	}
	r := &Relay{
		cfg:      c,
		ports:    newPortPool(c.PortMin, c.PortMax, c.RouterForwards),
		sessions: make(map[*Session]struct{}),
		done:     make(chan struct{}),
	}
	if !c.Goroutines {
		r.pollers = startPollers(c.Pollers, c.Batch)
	}
	if c.KernelForward {
		if r.kfwd, r.kfwdErr = startKernelForwarder(r); r.kfwdErr != nil {
			c.Log.Warn("relay: kernel forwarding is off, forwarding in user space", "err", r.kfwdErr)
		}
	} else {
		removeStaleKernelTables(c)
	}
	r.wg.Add(1)
	go r.janitor()
	return r, nil
}

// Config returns the effective configuration (defaults filled in).
func (r *Relay) Config() Config { return r.cfg }

// KernelForwarding reports whether streams move into the kernel; when
// Config.KernelForward asked for it but it could not start, err says why.
func (r *Relay) KernelForwarding() (on bool, err error) { return r.kfwd != nil, r.kfwdErr }

// Allocate opens a session for callID: two legs (A faces the caller, B the
// callee), each an RTP/RTCP port pair, forwarding from the moment it returns.
func (r *Relay) Allocate(ctx context.Context, callID string) (*Session, error) {
	return r.AllocateReach(ctx, callID, ReachAny, ReachAny)
}

// AllocateReach is Allocate with each leg's pair chosen for who sends to
// it: a and b are the reach of the caller's and the callee's leg. With
// RouterForwards, a leg facing outside gets only a forwarded pair
// (ErrNoForwardedPorts when none is free).
func (r *Relay) AllocateReach(ctx context.Context, callID string, a, b Reach) (*Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	if len(r.sessions) >= r.cfg.MaxSessions {
		r.mu.Unlock()
		return nil, ErrTooManyCalls
	}
	s := newSession(r, callID)
	r.sessions[s] = struct{}{}
	r.mu.Unlock()

	for i, leg := range []*Leg{s.A, s.B} {
		if err := r.openLeg(leg, [2]Reach{a, b}[i]); err != nil {
			s.Close()
			return nil, fmt.Errorf("relay: allocate %q: %w", callID, err)
		}
	}
	s.start()
	return s, nil
}

// openLeg binds an RTP/RTCP pair from the pool, skipping ports something
// else holds.
func (r *Relay) openLeg(l *Leg, reach Reach) error {
	for range r.ports.size() {
		base, ok := r.ports.take(reach, r.cfg.Now())
		if !ok {
			if reach == ReachOutside && r.cfg.RouterForwards {
				return ErrNoForwardedPorts
			}
			return ErrNoPorts
		}
		rtp, err := r.listen(base)
		if err != nil {
			r.ports.put(base, r.cfg.Now())
			r.ports.markForeign(base)
			continue
		}
		rtcp, err := r.listen(base + 1)
		if err != nil {
			rtp.Close()
			r.ports.put(base, r.cfg.Now())
			r.ports.markForeign(base)
			continue
		}
		l.base = base
		l.rtp.conn, l.rtcp.conn = rtp, rtcp
		return nil
	}
	return ErrNoPorts
}

func (r *Relay) listen(port int) (*net.UDPConn, error) {
	network := "udp4"
	if r.cfg.Bind.Is6() && !r.cfg.Bind.Is4In6() {
		network = "udp6"
	}
	addr := net.JoinHostPort(r.cfg.Bind.String(), strconv.Itoa(port))
	if r.cfg.ListenUDP != nil {
		return r.cfg.ListenUDP(network, addr)
	}
	pc, err := (&net.ListenConfig{}).ListenPacket(context.Background(), network, addr)
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}

// release is called by a session once all its goroutines ended; done runs
// once its ports are back (with kernel forwarding, after its rules went).
func (r *Relay) release(s *Session, done func()) {
	free := func() {
		for _, l := range []*Leg{s.A, s.B} {
			if l.base != 0 {
				r.ports.put(l.base, r.cfg.Now())
			}
		}
		r.mu.Lock()
		delete(r.sessions, s)
		r.mu.Unlock()
		s.kernelFinal()
		if r.cfg.OnRelease != nil {
			r.cfg.OnRelease(s.Stats())
		}
		done()
	}
	if r.kfwd != nil && r.kfwd.forget(s, free) {
		return
	}
	free()
}

// Sessions returns the sessions open now.
func (r *Relay) Sessions() []*Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Session, 0, len(r.sessions))
	for s := range r.sessions {
		out = append(out, s)
	}
	return out
}

// FreePairs is the number of port pairs available for new legs.
func (r *Relay) FreePairs() int { return r.ports.free() }

// FreeForwarded is the number of free pairs the router forwards.
func (r *Relay) FreeForwarded() int { return r.ports.freeForwarded() }

// AddForwarded tells the relay that the router now forwards the pair at
// base (even) and base+1 to this host: legs facing outside may take it.
func (r *Relay) AddForwarded(base int) error { return r.ports.forward(base, r.cfg.Now()) }

// forwardingHold bounds HoldForForwarding: past it a pair the router was
// asked for, but never forwarded (AddForwarded), goes back to LAN legs.
// One round of asking a router takes well under it.
const forwardingHold = time.Minute

// HoldForForwarding is asked before the router is asked to forward the
// pair at base: busy when a leg holds it now (forwarding it would serve
// nobody outside until that call ends); otherwise no leg facing the LAN
// takes it until AddForwarded, or forwardingHold passes. Without the hold
// a call starting meanwhile could take the pair for its LAN leg, and the
// router would forward a pair nobody outside can use.
func (r *Relay) HoldForForwarding(base int) (busy bool) {
	return r.ports.holdForForwarding(base, r.cfg.Now().Add(forwardingHold))
}

// RemoveForwarded takes the pair at base off the forwarded ones before the
// router stops forwarding it; false when a leg holds it now.
func (r *Relay) RemoveForwarded(base int) bool { return r.ports.unforward(base) }

// IdleForwarded lists the free forwarded pairs no leg held for at least
// idle, longest idle first.
func (r *Relay) IdleForwarded(idle time.Duration) []int {
	return r.ports.idleForwarded(r.cfg.Now().Add(-idle))
}

// Close ends every session, waits for their goroutines and frees every port.
func (r *Relay) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.done)
	all := make([]*Session, 0, len(r.sessions))
	for s := range r.sessions {
		all = append(all, s)
	}
	r.mu.Unlock()
	for _, s := range all {
		s.Close()
	}
	for _, s := range all {
		s.Wait()
	}
	r.wg.Wait()
	for _, p := range r.pollers {
		p.stop()
	}
	if r.kfwd != nil {
		r.kfwd.close()
	}
	return nil
}

// pickPoller spreads sessions over the event loops; nil without them.
func (r *Relay) pickPoller() *poller {
	if len(r.pollers) == 0 {
		return nil
	}
	return r.pollers[int(r.nextPoll.Add(1))%len(r.pollers)]
}

// janitor closes sessions idle longer than IdleTimeout, and those one of
// whose parties sent media and then fell silent that long.
func (r *Relay) janitor() {
	defer r.wg.Done()
	t := time.NewTicker(janitorInterval)
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return
		case <-t.C:
			now := r.cfg.Now()
			for _, s := range r.Sessions() {
				if gone := s.idle(now, r.cfg.IdleTimeout); gone != "" {
					s.idleSide.Store(gone)
					s.closeWith(CloseIdle)
				}
			}
		}
	}
}
