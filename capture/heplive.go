package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/natdoc/natdoc/hep"
	"github.com/natdoc/natdoc/internal/sockbuf"
	"github.com/natdoc/natdoc/internal/udptcp"
	"golang.org/x/net/ipv4"
)

// HEPOptions control a capture fed by HEP agents (natdoc capture --hep):
// SIP servers and capture agents send every message they handle, and the
// same pipeline as a live capture judges the calls.
type HEPOptions struct {
	// Duration, Hosts, OnCallEnd, OnCallJudged and Detail work as for a
	// live capture; Interface and WriteFile are not used.
	LiveOptions
	// Listen is the address HEP arrives on, over UDP and over TCP (HEPv3
	// framed by its length).
	Listen string
	// UDP and TCP, when both are set, are used instead of listening on
	// Listen (a test's sockets inside a lab namespace; one alone is an
	// error). ListenHEP closes them.
	UDP net.PacketConn
	TCP net.Listener
	// Listening, when set, is told the address HEP is received on once
	// both sockets are open (the port the kernel chose for Listen's :0).
	Listening func(addr string)
}

// Bounds of the HEP receiver.
const (
	// hepReadBuffer is the UDP socket buffer asked for (past rmem_max when
	// natdoc may): a burst of a busy server's traffic while the pipeline
	// sweeps or the collector runs, about a quarter second at 50,000
	// messages/s. Debian's default limit, 208 KiB, held a few milliseconds.
	hepReadBuffer = 16 << 20
	// maxHEPConns bounds TCP connections from agents.
	maxHEPConns = 256
)

// ListenHEP receives HEP until ctx ends or opt.Duration passes and judges
// the calls in it.
func ListenHEP(ctx context.Context, opt HEPOptions) (*Result, error) {
	s, ctx, stop := newLiveState(ctx, opt.LiveOptions)
	defer stop()
	src, err := newHEPSource(ctx, opt)
	if err != nil {
		return nil, err
	}
	defer src.close()
	rs := &readerStats{}
	src.sink = &rs.anomalies
	err = runPipeline(context.WithoutCancel(ctx), src, rs, s, func() {})
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return s.liveResult("HEP on " + src.addr())
}

// hepSource hands the pipeline one received HEP packet per record. Its
// receivers pass packets in batches (a UDP batch is one recvmmsg on
// Linux), copied into buffers from a fixed pool, so a busy feed costs a
// few system calls and channel operations per batch, not per packet, and
// nothing is allocated per packet once the buffers have grown to the
// sizes seen.
type hepSource struct {
	ctx      context.Context
	deadline time.Time
	udp      net.PacketConn
	tcp      net.Listener
	full     chan *hepBatch
	free     chan *hepBatch
	notes    chan string // receiver troubles, reported as anomalies
	quit     chan struct{}
	wg       sync.WaitGroup
	sink     anomalySink
	cur      *hepBatch // being handed out; next is the index of its next packet
	next     int
	received int64
	timer    *time.Timer
	// lastIdle is when the pipeline last handed on its batch; pending is
	// a record read when a flush was due, returned by the next call.
	lastIdle   time.Time
	pending    Record
	hasPending bool
	// left is how many received batches are still handed out once the
	// capture ends (-1: it has not ended): what came before the end is
	// judged, what comes after is not waited for.
	left int
}

// hepBatch is received packets back to back in buf, ends[i] closing the
// i-th.
type hepBatch struct {
	buf  []byte
	ends []int
}

func (b *hepBatch) add(p []byte) {
	b.buf = append(b.buf, p...)
	b.ends = append(b.ends, len(b.buf))
}

func (b *hepBatch) packet(i int) []byte {
	start := 0
	if i > 0 {
		start = b.ends[i-1]
	}
	return b.buf[start:b.ends[i]]
}

// hepBatches is the number of batches in flight between the receivers and
// the pipeline; hepBatchSize the packets one UDP read takes at most.
const (
	hepBatches   = 64
	hepBatchSize = 64
)

// errHEPSockets: HEPOptions.UDP and TCP are one port's two sockets.
var errHEPSockets = errors.New("hep: UDP and TCP sockets are given together or not at all")

// listenHEP opens UDP and TCP on opt.Listen's port (one port for both,
// also when the kernel picks it), unless opt brings both sockets.
func listenHEP(opt HEPOptions) (net.PacketConn, net.Listener, error) {
	switch {
	case opt.UDP != nil && opt.TCP != nil:
		return opt.UDP, opt.TCP, nil
	case opt.UDP != nil: // ListenHEP closes what it is given
		opt.UDP.Close()
		return nil, nil, errHEPSockets
	case opt.TCP != nil:
		opt.TCP.Close()
		return nil, nil, errHEPSockets
	}
	udp, tcp, err := udptcp.Listen("udp", opt.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("hep: %w", err)
	}
	return udp, tcp, nil
}

func newHEPSource(ctx context.Context, opt HEPOptions) (*hepSource, error) {
	s := &hepSource{ctx: ctx, full: make(chan *hepBatch, hepBatches), free: make(chan *hepBatch, hepBatches),
		notes: make(chan string, 16), quit: make(chan struct{}), timer: time.NewTimer(livePollTimeout), left: -1}
	if opt.Duration > 0 {
		s.deadline = time.Now().Add(opt.Duration)
	}
	var err error
	if s.udp, s.tcp, err = listenHEP(opt); err != nil {
		return nil, err
	}
	if u, ok := s.udp.(*net.UDPConn); ok {
		sockbuf.GrowReadBuffer(u, hepReadBuffer)
	}
	for i := 0; i < hepBatches; i++ {
		s.free <- &hepBatch{buf: make([]byte, 0, 16<<10), ends: make([]int, 0, hepBatchSize)}
	}
	s.wg.Add(2)
	go s.readUDP()
	go s.acceptTCP()
	if opt.Listening != nil {
		opt.Listening(s.addr())
	}
	return s, nil
}

func (s *hepSource) addr() string { return s.udp.LocalAddr().String() }

// close stops the receivers and waits for them.
func (s *hepSource) close() {
	close(s.quit)
	s.udp.Close()
	s.tcp.Close()
	s.wg.Wait()
}

// batch takes an empty batch from the pool; nil when closing.
func (s *hepSource) batch() *hepBatch {
	select {
	case b := <-s.free:
		b.buf, b.ends = b.buf[:0], b.ends[:0]
		return b
	case <-s.quit:
		return nil
	}
}

// deliver hands a filled batch to the pipeline; false when closing.
func (s *hepSource) deliver(b *hepBatch) bool {
	select {
	case s.full <- b:
		return true
	case <-s.quit:
		return false
	}
}

func (s *hepSource) note(msg string) {
	select {
	case s.notes <- msg:
	default: // the pipeline hears of the first ones
	}
}

// readUDP reads datagrams a batch at a time (recvmmsg on Linux).
func (s *hepSource) readUDP() {
	defer s.wg.Done()
	pc := ipv4.NewPacketConn(s.udp)
	msgs := make([]ipv4.Message, hepBatchSize)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 0xffff)}
	}
	for {
		n, err := pc.ReadBatch(msgs, 0)
		if err != nil {
			select {
			case <-s.quit:
				return
			default:
			}
			s.note("HEP over UDP: " + err.Error())
			return
		}
		b := s.batch()
		if b == nil {
			return
		}
		for _, m := range msgs[:n] {
			b.add(m.Buffers[0][:m.N])
		}
		if !s.deliver(b) {
			return
		}
	}
}

func (s *hepSource) acceptTCP() {
	defer s.wg.Done()
	var conns sync.WaitGroup
	defer conns.Wait()
	limit := make(chan struct{}, maxHEPConns)
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return // closed
		}
		select {
		case limit <- struct{}{}:
		default:
			s.note("HEP over TCP: more than 256 agents connected; connection refused")
			c.Close()
			continue
		}
		conns.Add(1)
		go func() {
			defer conns.Done()
			defer func() { <-limit }()
			s.readTCP(c)
		}()
	}
}

// readTCP reads HEPv3 packets framed on one agent's connection; a stream
// that stops being HEP is dropped (there is no way to find the next
// packet).
func (s *hepSource) readTCP(c net.Conn) {
	done := make(chan struct{})
	defer close(done)
	defer c.Close()
	go func() { // unblock the read when the capture stops
		select {
		case <-s.quit:
			c.Close()
		case <-done:
		}
	}()
	r := hep.NewStreamReader(c)
	for {
		b, err := r.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.note(fmt.Sprintf("HEP over TCP from %s: %v; connection dropped", c.RemoteAddr(), err))
			}
			return
		}
		batch := s.batch()
		if batch == nil {
			return
		}
		batch.add(b)
		if !s.deliver(batch) {
			return
		}
	}
}

// Next returns the next received packet as a record, valid until the next
// call; a quiet spell returns errIdle so calls are judged as they end.
func (s *hepSource) Next() (Record, error) {
	if s.hasPending { // its batch is still s.cur
		s.hasPending = false
		return s.pending, nil
	}
	for {
		if s.cur != nil && s.next < len(s.cur.ends) {
			return s.record()
		}
		if s.cur != nil {
			s.free <- s.cur
			s.cur = nil
		}
		if s.ended() {
			if s.left == 0 {
				return Record{}, io.EOF
			}
			s.left--
			s.cur, s.next = <-s.full, 0
			continue
		}
		select {
		case b := <-s.full:
			s.cur, s.next = b, 0
		case msg := <-s.notes:
			s.sink.anomaly("hep-receiver", s.received, 0, msg)
		case <-s.ctx.Done():
		case <-s.timerC():
			s.lastIdle = time.Now()
			return Record{}, errIdle
		}
	}
}

// ended says whether the capture is over (ctx done or Duration passed),
// counting, the first time, the received batches still to hand out.
func (s *hepSource) ended() bool {
	if s.left < 0 && (s.ctx.Err() != nil || (!s.deadline.IsZero() && time.Now().After(s.deadline))) {
		s.left = len(s.full)
	}
	return s.left >= 0
}

// record hands out the current batch's next packet; on a steady trickle
// it first returns errIdle now and then, so calls are still judged.
func (s *hepSource) record() (Record, error) {
	p := s.cur.packet(s.next)
	s.next++
	s.received += int64(len(p))
	now := time.Now()
	rec := Record{Data: p, Time: now, WireLen: len(p), LinkType: linkTypeHEP, Offset: s.received}
	if now.Sub(s.lastIdle) > livePollTimeout {
		s.lastIdle, s.pending, s.hasPending = now, rec, true
		return Record{}, errIdle
	}
	return rec, nil
}

// timerC rearms the idle timer.
func (s *hepSource) timerC() <-chan time.Time {
	s.timer.Reset(livePollTimeout)
	return s.timer.C
}
