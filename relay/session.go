package relay

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/natdoc/natdoc/internal/rtpseq"
)

// CloseReason says why a session ended.
type CloseReason string

const (
	CloseNone   CloseReason = ""
	CloseByUser CloseReason = "closed" // Session.Close (BYE, CANCEL, shutdown)
	CloseIdle   CloseReason = "idle"   // no packet for Config.IdleTimeout
	CloseError  CloseReason = "error"  // a socket failed
)

// Session is one relayed call: leg A faces the caller, leg B the callee.
// Media received on A's ports goes out of B's ports to the callee, and back.
type Session struct {
	CallID string
	A, B   *Leg

	r       *Relay
	created time.Time

	mu        sync.Mutex // guards started and the close decision
	started   bool
	poller    *poller // nil: one goroutine per socket
	closeOnce sync.Once
	freeOnce  sync.Once
	reason    atomic.Value // CloseReason
	idleSide  atomic.Value // string: which side fell silent (CloseIdle)
	done      chan struct{}
	released  chan struct{}
	wg        sync.WaitGroup

	// Kernel forwarding (Config.KernelForward): touched once a socket
	// latched (the forwarder may install rules), used once a rule was in,
	// kernelDone closed after the last read of its counters.
	kernelTouched, kernelUsed atomic.Bool
	kernelDone                chan struct{}
	kernelOnce                sync.Once
}

func newSession(r *Relay, callID string) *Session {
	s := &Session{CallID: callID, r: r, created: r.cfg.Now(), done: make(chan struct{}), released: make(chan struct{}), kernelDone: make(chan struct{})}
	s.A = &Leg{Name: "A", s: s}
	s.B = &Leg{Name: "B", s: s}
	s.A.rtp.init(s.A, true)
	s.A.rtcp.init(s.A, false)
	s.B.rtp.init(s.B, true)
	s.B.rtcp.init(s.B, false)
	// Media received from a party on one leg leaves through the same kind of
	// socket on the other leg, so each party sees packets from the address it
	// was given in SDP (RFC 4961 symmetric RTP toward the phones too).
	s.A.rtp.peer, s.B.rtp.peer = &s.B.rtp, &s.A.rtp
	s.A.rtcp.peer, s.B.rtcp.peer = &s.B.rtcp, &s.A.rtcp
	return s
}

func (s *Session) endpoints() []*endpoint {
	return []*endpoint{&s.A.rtp, &s.A.rtcp, &s.B.rtp, &s.B.rtcp}
}

// start launches one forwarding goroutine per socket, and one that returns
// the ports once they all ended.
func (s *Session) start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return // closed before it started: closeWith freed it
	default:
	}
	s.started = true
	if p := s.r.pickPoller(); p != nil {
		// One event loop serves many sessions (Linux epoll): no goroutine
		// wakes per packet.
		if err := p.add(s); err == nil {
			s.poller = p
			return
		}
	}
	for _, e := range s.endpoints() {
		e.prepare(s.r.cfg.Batch)
	}
	for _, e := range s.endpoints() {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := e.forward(s.r.cfg.Now); err != nil {
				s.closeWith(CloseError)
			}
		}()
	}
	go func() {
		<-s.done
		s.wg.Wait()
		s.free()
	}()
}

// Close stops forwarding and frees the session's ports (once its goroutines
// ended; Wait waits for that). Safe to call more than once.
func (s *Session) Close() { s.closeWith(CloseByUser) }

func (s *Session) closeWith(reason CloseReason) {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.reason.Store(reason)
		close(s.done)
		if s.poller != nil {
			s.poller.remove(s) // the loop closes the sockets and frees the ports
			return
		}
		for _, e := range s.endpoints() {
			if e.conn != nil {
				e.conn.Close()
			}
		}
		// A session that failed during Allocate never started: release now.
		if !s.started {
			s.free()
		}
	})
}

// free returns the ports to the pool, once (with kernel forwarding, after
// the session's rules are gone, so a port is never reused while a rule for
// it is still in).
func (s *Session) free() {
	s.freeOnce.Do(func() {
		s.r.release(s, func() { close(s.released) })
	})
}

// kernelFinal: the session's kernel counters were read for the last time.
func (s *Session) kernelFinal() { s.kernelOnce.Do(func() { close(s.kernelDone) }) }

// Done is closed when the session stops forwarding (Close or idle timeout).
func (s *Session) Done() <-chan struct{} { return s.done }

// Wait blocks until the session's ports are back in the pool.
func (s *Session) Wait() { <-s.released }

// Reason is why the session ended, or "" while it runs.
func (s *Session) Reason() CloseReason {
	if r, ok := s.reason.Load().(CloseReason); ok {
		return r
	}
	return CloseNone
}

// LastActivity is the time of the latest packet on any of the session's
// sockets, or its creation time when none arrived yet.
func (s *Session) LastActivity() time.Time {
	last := s.created.UnixNano()
	for _, e := range s.endpoints() {
		if t := e.last.Load(); t > last {
			last = t
		}
	}
	return time.Unix(0, last)
}

// Sides that fell silent, for SessionStats.Idle.
const (
	IdleBoth = "both" // no packet on any socket: the call is gone
	IdleA    = "A"    // the caller's media stopped, the callee's did not
	IdleB    = "B"
)

// idle says which side of the session is gone ("" while it lives): both,
// when no socket had a packet for timeout (also a call whose media never
// started), or a leg whose party sent media and then nothing for timeout
// although the other party still sends (its phone crashed, lost its
// network or its NAT binding). A phone on hold still sends RTCP every
// few seconds (RFC 3550 §6.2), so its leg stays alive.
func (s *Session) idle(now time.Time, timeout time.Duration) string {
	if now.Sub(s.LastActivity()) > timeout {
		return IdleBoth
	}
	for _, l := range []*Leg{s.A, s.B} {
		if last, ok := l.lastActivity(); ok && now.Sub(last) > timeout {
			return l.Name
		}
	}
	return ""
}

// lastActivity is the time of the leg's party's latest accepted packet,
// RTP or RTCP; ok is false when it sent none yet.
func (l *Leg) lastActivity() (time.Time, bool) {
	last := max(l.rtp.last.Load(), l.rtcp.last.Load())
	return time.Unix(0, last), last != 0
}

// SessionStats is a snapshot of a session's counters.
type SessionStats struct {
	CallID  string      `json:"call_id"`
	Created time.Time   `json:"created"`
	Reason  CloseReason `json:"closed,omitempty"`
	// Idle names the side that fell silent when Reason is CloseIdle
	// (IdleBoth, IdleA or IdleB).
	Idle string   `json:"idle,omitempty"`
	A    LegStats `json:"a"`
	B    LegStats `json:"b"`
}

// Stats returns a snapshot of the session's counters. With kernel
// forwarding the kernel's share is as of its last read (at most
// kernelCounterInterval old); for a closed session Stats waits (briefly)
// for the final read.
func (s *Session) Stats() SessionStats {
	select {
	case <-s.done:
		if s.kernelUsed.Load() {
			select {
			case <-s.kernelDone:
			case <-time.After(kernelFinalWait):
			}
		}
	default:
	}
	st := SessionStats{CallID: s.CallID, Created: s.created, Reason: s.Reason(), A: s.A.Stats(), B: s.B.Stats()}
	st.Idle, _ = s.idleSide.Load().(string)
	return st
}

// Leg is the relay's side facing one party: an RTP port and RTCP port+1.
type Leg struct {
	Name string
	s    *Session
	base int

	rtp, rtcp endpoint
	expect    atomic.Pointer[netip.Addr]
}

// Port is the leg's RTP port (RTCP is Port+1): put it in the SDP sent to
// this leg's party.
func (l *Leg) Port() int { return l.base }

// Addr is the leg's RTP address as bound (the unspecified address when the
// relay binds all interfaces; SDP needs the address the party can reach).
func (l *Leg) Addr() netip.AddrPort {
	return netip.AddrPortFrom(l.s.r.cfg.Bind, uint16(l.base))
}

// Expect names the IP the party's signalling came from: only packets from
// it may latch (unless Config.LatchAnySource).
func (l *Leg) Expect(ip netip.Addr) {
	ip = ip.Unmap()
	l.expect.Store(&ip)
}

// SetSDPAddr records where the party's SDP asked to receive RTP (and RTCP;
// an invalid rtcp means RTP port+1, RFC 3550 §11). Media goes there until
// the party's own packets show its real address.
func (l *Leg) SetSDPAddr(rtp, rtcp netip.AddrPort) {
	if !rtp.IsValid() || rtp.Port() == 0 || rtp.Addr().IsUnspecified() {
		// Port 0 or c=0.0.0.0 (RFC 3264 §8.4 hold): nothing to send to.
		l.rtp.setSDP(netip.AddrPort{})
		l.rtcp.setSDP(netip.AddrPort{})
		return
	}
	if !rtcp.IsValid() && rtp.Port() < 65535 {
		rtcp = netip.AddrPortFrom(rtp.Addr(), rtp.Port()+1)
	}
	l.rtp.setSDP(rtp)
	l.rtcp.setSDP(rtcp)
}

// LegStats is a snapshot of one leg: what its party sent to the relay.
type LegStats struct {
	Leg      string         `json:"leg"`
	Port     int            `json:"port"`
	Expected netip.Addr     `json:"expected,omitzero"`
	SDPAddr  netip.AddrPort `json:"sdp_addr,omitzero"`
	// Latched is the party's real RTP source, learned from its packets.
	Latched     netip.AddrPort `json:"latched,omitzero"`
	LatchedRTCP netip.AddrPort `json:"latched_rtcp,omitzero"`
	RTP         StreamStats    `json:"rtp"`
	RTCP        StreamStats    `json:"rtcp"`
}

// StreamStats counts the packets one party sent to one of its leg's sockets.
type StreamStats struct {
	Packets   uint64 `json:"packets"`   // accepted from the party
	Bytes     uint64 `json:"bytes"`     // payload bytes accepted
	Forwarded uint64 `json:"forwarded"` // sent on to the other party
	// Unexpected: from a source that may not latch or that is not the
	// latched one; dropped (the relay is no open reflector).
	Unexpected uint64 `json:"unexpected,omitempty"`
	// NoDestination: accepted while the other party's address was unknown.
	NoDestination uint64 `json:"no_destination,omitempty"`
	Truncated     uint64 `json:"truncated,omitempty"`
	SendErrors    uint64 `json:"send_errors,omitempty"`
	// Lost is RTP packets missing by sequence number (RFC 3550 A.3).
	Lost int64     `json:"lost"`
	Last time.Time `json:"last,omitzero"`
	// Kernel is how many of Packets (and of Forwarded) the kernel forwarded
	// (Config.KernelForward). Those pass no sequence check: when it is not
	// zero, Lost covers only the packets user space saw (LossNotMeasured).
	Kernel          uint64 `json:"kernel,omitempty"`
	LossNotMeasured bool   `json:"loss_not_measured,omitempty"`
}

// Stats returns the leg's counters.
func (l *Leg) Stats() LegStats {
	st := LegStats{Leg: l.Name, Port: l.base, RTP: l.rtp.stats(), RTCP: l.rtcp.stats()}
	if p := l.expect.Load(); p != nil {
		st.Expected = *p
	}
	if p := l.rtp.sdp.Load(); p != nil {
		st.SDPAddr = *p
	}
	if p := l.rtp.latchedPub.Load(); p != nil {
		st.Latched = *p
	}
	if p := l.rtcp.latchedPub.Load(); p != nil {
		st.LatchedRTCP = *p
	}
	return st
}

// endpoint is one socket of a leg with its latching state and counters.
type endpoint struct {
	leg   *Leg
	isRTP bool
	conn  *net.UDPConn
	peer  *endpoint // the same kind of socket on the other leg

	// dest is where packets for this endpoint's party go: the latched
	// source, else the SDP address. Read by the peer's goroutine.
	dest       atomic.Pointer[destination]
	sdp        atomic.Pointer[netip.AddrPort]
	latchedPub atomic.Pointer[netip.AddrPort]

	// Owned by this endpoint's forwarding goroutine (goroutine mode) or
	// by its event loop.
	reader      *batchReader // goroutine mode
	fd          int          // the loop's descriptor of the socket (event-loop mode)
	more        bool         // queued in the loop's poller.more
	writer      *batchWriter // goroutine mode
	out         [][]byte     // goroutine mode
	latched     netip.AddrPort
	lastLatched int64
	seq         rtpseq.Tracker

	packets, bytes, forwarded, unexpected, noDest, truncated, sendErrors atomic.Uint64
	lost                                                                 atomic.Int64
	last                                                                 atomic.Int64 // unix nanoseconds

	// Written by the kernel forwarder from nft's counters.
	kernelPackets, kernelBytes atomic.Uint64
	kernelSeen                 atomic.Int64 // unix nanoseconds of the last read that saw the counter grow
}

func (e *endpoint) init(l *Leg, isRTP bool) { e.leg, e.isRTP = l, isRTP }

// port is the socket's port: the leg's base for RTP, base+1 for RTCP.
func (e *endpoint) port() int {
	if e.isRTP {
		return e.leg.base
	}
	return e.leg.base + 1
}

func (e *endpoint) setSDP(a netip.AddrPort) {
	if !a.IsValid() {
		e.sdp.Store(nil)
		if e.latchedPub.Load() == nil {
			e.dest.Store(nil)
		}
		return
	}
	a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	e.sdp.Store(&a)
	if e.latchedPub.Load() == nil {
		e.dest.Store(e.newDestination(a))
	}
}

func (e *endpoint) stats() StreamStats {
	st := StreamStats{
		Packets: e.packets.Load(), Bytes: e.bytes.Load(), Forwarded: e.forwarded.Load(),
		Unexpected: e.unexpected.Load(), NoDestination: e.noDest.Load(), Truncated: e.truncated.Load(),
		SendErrors: e.sendErrors.Load(), Lost: e.lost.Load(),
	}
	if k := e.kernelPackets.Load(); k > 0 {
		st.Kernel, st.LossNotMeasured = k, true
		st.Packets += k
		st.Forwarded += k
		st.Bytes += e.kernelBytes.Load()
	}
	if t := e.last.Load(); t != 0 {
		st.Last = time.Unix(0, t)
	}
	return st
}

// accept applies the latching rule to one packet's source and reports
// whether to forward it.
func (e *endpoint) accept(src netip.AddrPort, now int64) bool {
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	if e.latched.IsValid() && src == e.latched {
		e.lastLatched = now
		return true
	}
	if !e.mayLatch(src.Addr()) {
		return false
	}
	// A stream forwarded in the kernel is alive as far as its counter
	// shows (read every kernelCounterInterval).
	if e.latched.IsValid() && now-max(e.lastLatched, e.kernelSeen.Load()) < int64(relatchSilence) {
		// Another port of the expected IP while the latched one is alive:
		// keep the first (a second phone behind the same NAT, or spoofing).
		return false
	}
	e.latched, e.lastLatched = src, now
	pub := src
	e.latchedPub.Store(&pub)
	e.dest.Store(e.newDestination(src)) // once per latch, not per packet
	if k := e.leg.s.r.kfwd; k != nil {
		k.latched(e.leg.s) // the kernel may take the stream (or its new source) over
	}
	return true
}

// newDestination encodes a for this endpoint's socket family.
func (e *endpoint) newDestination(a netip.AddrPort) *destination {
	bind := e.leg.s.r.cfg.Bind
	return newDestination(a, bind.Is6() && !bind.Is4In6())
}

func (e *endpoint) mayLatch(ip netip.Addr) bool {
	if e.leg.s.r.cfg.LatchAnySource {
		return true
	}
	want := e.leg.expect.Load()
	return want != nil && *want == ip
}
