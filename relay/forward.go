package relay

import (
	"errors"
	"net"
	"time"
)

// prepare builds the endpoint's reusable batch state before its goroutine
// starts (the peer's goroutine uses this endpoint's writer).
func (e *endpoint) prepare(batch int) {
	e.reader = newBatchReader(e.conn, batch)
	e.writer = newBatchWriter(e.conn, batch)
	e.out = make([][]byte, batch)
	e.fd = -1 // goroutine mode until a poller takes the socket
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
		e.handleBatch(n, now().UnixNano())
	}
}

// batchCounts accumulates one batch so the shared atomics are touched once
// per batch, not once per packet.
type batchCounts struct {
	packets, bytes, unexpected, noDest, truncated uint64
	lost                                          int64
	lostSet                                       bool
}

func (e *endpoint) handleBatch(n int, now int64) {
	var c batchCounts
	dst := e.peer.dest.Load()
	out := 0
	for i := range n {
		b, src, truncated := e.reader.packet(i)
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
		e.out[out] = b
		out++
	}
	e.publish(&c, now)
	if out == 0 {
		return
	}
	sent, err := e.peer.writer.send(e.peer.fd, e.out[:out], dst)
	e.forwarded.Add(uint64(sent))
	if err != nil {
		e.sendErrors.Add(uint64(out - sent))
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
