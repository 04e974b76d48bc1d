package stunprobe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/stun/v3"

	"github.com/natdoc/natdoc/internal/transact"
)

// ErrTimeout: no acceptable answer arrived within the retransmission
// window. It is an observation (the server or the NAT dropped it), not a
// failure of the probe.
var ErrTimeout = errors.New("no answer")

// maxDatagram is the read buffer: STUN over UDP fits in one path MTU
// (RFC 5389 §7.1 keeps messages under 576 bytes unless the MTU is known);
// anything longer is truncated and then rejected by the length check.
const maxDatagram = 1500

// readErrorPause is how long a socket's reader waits after a read error
// before reading again: long enough not to spin, far below any RTO.
const readErrorPause = 5 * time.Millisecond

// arrival is one datagram that decoded as STUN on a probe socket.
type arrival struct {
	From netip.AddrPort
	Msg  *stun.Message
	At   time.Time
}

// socket is one UDP socket of the probe, with one reader that hands each
// STUN message to the transaction waiting for its ID. Messages nobody waits
// for, or that fail the checks, are counted as anomalies, never believed.
type socket struct {
	conn      *net.UDPConn
	local     netip.AddrPort
	anomalies *anomalies

	mu      sync.Mutex
	pending map[[stun.TransactionIDSize]byte]chan arrival
	closed  chan struct{}
	done    chan struct{}
}

func newSocket(conn *net.UDPConn, an *anomalies) *socket {
	s := &socket{
		conn:      conn,
		local:     conn.LocalAddr().(*net.UDPAddr).AddrPort(),
		anomalies: an,
		pending:   make(map[[stun.TransactionIDSize]byte]chan arrival),
		closed:    make(chan struct{}),
		done:      make(chan struct{}),
	}
	go s.readLoop()
	return s
}

func (s *socket) Close() {
	select {
	case <-s.closed:
		return
	default:
	}
	close(s.closed)
	s.conn.Close()
	<-s.done
}

func (s *socket) readLoop() {
	defer close(s.done)
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			select {
			case <-s.closed:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Other read errors (an ICMP error reported on some systems)
			// are transient: the waiting transaction retransmits. The
			// pause keeps a persistent error from spinning a core.
			time.Sleep(readErrorPause)
			continue
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		m, err := DecodeMessage(buf[:n])
		if err != nil {
			s.anomalies.add(anomalyKind(err), fmt.Sprintf("%d bytes from %s: %v", n, from, err))
			continue
		}
		s.mu.Lock()
		ch, ok := s.pending[m.TransactionID]
		s.mu.Unlock()
		if !ok {
			// Retransmitted requests make late duplicate answers normal.
			s.anomalies.add("unmatched-transaction", "from "+from.String())
			continue
		}
		select {
		case ch <- arrival{From: from, Msg: m, At: time.Now()}:
		default: // the waiter already has an unread arrival; duplicates add nothing
		}
	}
}

func anomalyKind(err error) string {
	switch {
	case errors.Is(err, ErrBadFingerprint):
		return "bad-fingerprint"
	case errors.Is(err, ErrNotBinding):
		return "not-binding"
	default:
		return "malformed"
	}
}

// register makes the socket deliver messages with tid to the returned
// channel until the returned func is called.
func (s *socket) register(tid [stun.TransactionIDSize]byte) (<-chan arrival, func()) {
	ch := make(chan arrival, 4)
	s.mu.Lock()
	s.pending[tid] = ch
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		delete(s.pending, tid)
		s.mu.Unlock()
	}
}

// verdictFunc judges an arrival: nil accepts it; an error rejects it (it is
// counted as an anomaly and the transaction keeps waiting).
type verdictFunc func(arrival) error

// fromExactly accepts answers only from the address the request went to
// (RFC 5389 §7.3.3 leaves this to the client; a NAT or attacker on the path
// could otherwise inject a mapped address).
func fromExactly(dst netip.AddrPort) verdictFunc {
	return func(a arrival) error {
		if a.From != dst {
			return fmt.Errorf("answer from %s to a request sent to %s", a.From, dst)
		}
		return nil
	}
}

// exchange is one transaction's outcome.
type exchange struct {
	Arrival arrival
	Sent    int           // datagrams sent, retransmissions included
	RTT     time.Duration // from the last send before the answer
}

// exchangeOn sends req to dst on s (or on via, when the answer is expected
// on another socket, as with RESPONSE-PORT) following the schedule, and
// waits on s for an answer judge accepts.
func exchangeOn(ctx context.Context, s, via *socket, dst netip.AddrPort, req *stun.Message, sched transact.Schedule, judge verdictFunc) (exchange, error) {
	if via == nil {
		via = s
	}
	ch, unregister := s.register(req.TransactionID)
	defer unregister()
	send := func() error {
		_, err := via.conn.WriteToUDPAddrPort(req.Raw, dst)
		return err
	}
	a, st, err := transact.Run(ctx, sched, send, ch, func(a arrival) (arrival, bool) {
		if err := judge(a); err != nil {
			s.anomalies.add("unexpected-source", err.Error())
			return a, false
		}
		return a, true
	})
	ex := exchange{Sent: st.Sends}
	switch {
	case ctx.Err() != nil:
		return ex, ctx.Err()
	case errors.Is(err, transact.ErrNoAnswer):
		return ex, fmt.Errorf("stun: %s after %d tries in %s: %w", dst, ex.Sent, sched.GiveUp(), ErrTimeout)
	case err != nil:
		return ex, fmt.Errorf("stun: %s: %w", dst, err)
	}
	ex.Arrival, ex.RTT = a, a.At.Sub(st.Last)
	return ex, nil
}
