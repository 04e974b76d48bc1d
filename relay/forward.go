package relay

import (
	"errors"
	"net"
	"time"
)

// prepare builds the endpoint's reusable batch state before its goroutine
// starts (the peer's goroutine uses this endpoint's writer). Goroutine mode
// only: an event loop reads and writes one socket at a time, so its sockets
// share the loop's buffers instead (Batch x 1,500 bytes per socket would be
// 190 KB a session, and cold in the cache at every packet).
func (e *endpoint) prepare(batch int) {
	e.reader = newBatchReader(e.conn, batch)
	e.writer = newBatchWriter(e.conn, batch)
	e.out = make([][]byte, batch)
}

// forward is the hot loop: read a batch from this endpoint's party, keep
// what passes the latching rule, send it out of the peer's socket to the
// other party. It returns nil when the socket was closed.
func (e *endpoint) forward(now func() time.Time) error {
	for {
		n, err := e.reader.read()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			if isTransient(err) {
				continue
			}
			return err
		}
		out, dst := e.filter(e.reader, n, now().UnixNano(), e.out)
		if len(out) > 0 {
			sent, err := e.peer.writer.write(out, dst)
			e.countSent(len(out), sent, err)
		}
	}
}

// batchCounts accumulates one batch so the shared atomics are touched once
// per batch, not once per packet.
type batchCounts struct {
	packets, bytes, unexpected, noDest, truncated uint64
	lost                                          int64
	lostSet                                       bool
}

// filter applies the latching rule and the counters to the n datagrams rd
// holds and returns those to forward (in out's storage) and where to. The
// caller sends them out of the peer's socket and reports with countSent.
func (e *endpoint) filter(rd *batchReader, n int, now int64, out [][]byte) ([][]byte, *destination) {
	var c batchCounts
	dst := e.peer.dest.Load()
	k := 0
	for i := range n {
		b, src, truncated := rd.packet(i)
		switch {
		case truncated:
			c.truncated++
			continue
		case !e.accept(src, now):
			c.unexpected++
			continue
		}
		c.packets++
		c.bytes += uint64(len(b))
		if e.isRTP && len(b) >= 12 && b[0]>>6 == 2 {
			c.lost, c.lostSet = e.seq.Add(uint16(b[2])<<8|uint16(b[3])), true
		}
		if dst == nil {
			c.noDest++
			continue
		}
		out[k] = b
		k++
	}
	e.publish(&c, now)
	return out[:k], dst
}

// countSent records the outcome of sending want packets.
func (e *endpoint) countSent(want, sent int, err error) {
	e.forwarded.Add(uint64(sent))
	if err != nil {
		e.sendErrors.Add(uint64(want - sent))
	}
}

func (e *endpoint) publish(c *batchCounts, now int64) {
	if c.packets > 0 {
		e.packets.Add(c.packets)
		e.bytes.Add(c.bytes)
		// Only accepted packets keep a session alive: a stranger spraying
		// the port must not hold it open.
		e.last.Store(now)
	}
	if c.unexpected > 0 {
		e.unexpected.Add(c.unexpected)
	}
	if c.noDest > 0 {
		e.noDest.Add(c.noDest)
	}
	if c.truncated > 0 {
		e.truncated.Add(c.truncated)
	}
	if c.lostSet {
		e.lost.Store(c.lost)
	}
}
