package transact

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"
)

// maxDatagram is the read buffer of UDP: every protocol natdoc exchanges
// this way (STUN, PCP, SIP OPTIONS answers) fits one IP datagram.
const maxDatagram = 65535

// readErrorPause keeps a socket with a persistent read error (an ICMP
// error reported on some systems) from spinning a core; far below any RTO.
const readErrorPause = 5 * time.Millisecond

// Datagram is one datagram read during an exchange.
type Datagram struct {
	// On is the socket it arrived on: 0 the sending socket, i for also[i-1].
	On   int
	From netip.AddrPort // IPv4-mapped addresses unmapped
	Data []byte
	At   time.Time
}

// UDP runs one exchange on plain sockets: req goes from conn to dst by s,
// and every datagram read on conn or on the also sockets is offered to
// accept, whose first answer ends the exchange. The sockets' read
// deadlines are cleared again before UDP returns, so conn can be used
// afterwards (the RTP socket after its STUN Binding).
func UDP[T any](ctx context.Context, s Schedule, conn *net.UDPConn, dst netip.AddrPort, req []byte,
	accept func(Datagram) (T, bool), also ...*net.UDPConn) (T, Stats, error) {
	ctx, cancel := context.WithCancel(ctx)
	arrivals := make(chan Datagram, 8)
	var readers sync.WaitGroup
	for i, c := range append([]*net.UDPConn{conn}, also...) {
		readers.Go(func() { readInto(ctx, c, i, arrivals) })
	}
	defer func() {
		cancel()
		readers.Wait()
		for _, c := range append([]*net.UDPConn{conn}, also...) {
			_ = c.SetReadDeadline(time.Time{})
		}
	}()
	send := func() error {
		_, err := conn.WriteToUDPAddrPort(req, dst)
		return err
	}
	return Run(ctx, s, send, arrivals, accept)
}

// readInto reads c until ctx ends, handing each datagram to out.
func readInto(ctx context.Context, c *net.UDPConn, on int, out chan<- Datagram) {
	_ = c.SetReadDeadline(time.Time{}) // an earlier exchange may have left one
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(readErrorPause)
			continue
		}
		d := Datagram{On: on, From: netip.AddrPortFrom(from.Addr().Unmap(), from.Port()),
			Data: append([]byte(nil), buf[:n]...), At: time.Now()}
		select {
		case out <- d:
		case <-ctx.Done():
			return
		}
	}
}
