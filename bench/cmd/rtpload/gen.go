//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Packet layout: a 12-byte RTP header (RFC 3550 §5.1, PT 0 PCMU), then the
// generator's probe fields at the start of the 160-byte G.711 payload.
const (
	packetSize  = 172
	offMagic    = 12 // "NDLG"
	offRun      = 16 // run tag: packets of an earlier measurement are not counted
	offStream   = 20
	offSeq      = 24
	offSentNano = 28 // wall clock, as the kernel's SO_TIMESTAMPNS receive stamp
	magic       = 0x4e444c47
)

// Generator tuning, each with its reason.
const (
	// packetInterval: G.711 with 20 ms packetization, 50 packets/s.
	packetInterval = 20 * time.Millisecond
	// tick: the sender's pacing step (a timerfd, because Go's timers sleep
	// about a millisecond at the least). Streams are spread over the
	// interval's ticks so the relay sees a steady flow, not 20 ms bursts.
	tick = 250 * time.Microsecond
	// sendBatch: packets per sendmmsg. Each is timestamped just before the
	// call; a small batch keeps the stamp close to the packet's real send.
	sendBatch = 16
	// recvBatch: packets per recvmmsg.
	recvBatch = 64
	// socketBuffer: generator sockets take 100,000s of packets/s; a drop
	// in the generator must not be blamed on the relay.
	socketBuffer = 64 << 20
)

// stream is one direction of one call: sent from socket src to dst,
// received on the socket at the other end.
type stream struct {
	src  int // index into gen.conns
	dst  unix.RawSockaddrInet4
	pkt  []byte
	sent atomic.Uint64 // in the measurement window
	recv atomic.Uint64 // in the measurement window
}

// gen is one measurement's traffic: its sockets, streams and results.
type gen struct {
	run      uint32
	conns    []*net.UDPConn
	streams  []*stream
	winFirst uint32 // first sequence number inside the measurement window
	winLast  uint32 // one past the last
	rounds   uint32 // packets per stream in total

	maxLag  atomic.Int64 // worst lateness of a tick, ns
	stale   atomic.Uint64
	hists   []*histogram // one per receiving socket
	rxWG    sync.WaitGroup
	sendErr atomic.Value
}

func newGen(run uint32, pairs int) (*gen, error) {
	g := &gen{run: run}
	for range 2 * pairs {
		c, err := listenTuned()
		if err != nil {
			g.close()
			return nil, err
		}
		g.conns = append(g.conns, c)
		g.hists = append(g.hists, newHistogram())
	}
	return g, nil
}

// listenTuned opens a loopback socket with large buffers and kernel
// receive timestamps.
func listenTuned() (*net.UDPConn, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("generator socket: %w", err)
	}
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	var serr error
	rc.Control(func(fd uintptr) {
		// FORCE variants: root may exceed net.core.rmem_max.
		if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, socketBuffer); err != nil {
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, socketBuffer)
		}
		if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, socketBuffer); err != nil {
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, socketBuffer)
		}
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	})
	if serr != nil {
		c.Close()
		return nil, fmt.Errorf("generator socket: SO_TIMESTAMPNS: %w", serr)
	}
	return c, nil
}

func (g *gen) close() {
	for _, c := range g.conns {
		c.Close()
	}
}

func (g *gen) addr(i int) netip.AddrPort { return g.conns[i].LocalAddr().(*net.UDPAddr).AddrPort() }

// addStream registers a stream sent from socket src to dst.
func (g *gen) addStream(src int, dst netip.AddrPort) {
	id := uint32(len(g.streams))
	p := make([]byte, packetSize)
	p[0], p[1] = 0x80, 0 // RTP version 2, PT 0
	binary.BigEndian.PutUint32(p[8:], id+1)
	binary.BigEndian.PutUint32(p[offMagic:], magic)
	binary.BigEndian.PutUint32(p[offRun:], g.run)
	binary.BigEndian.PutUint32(p[offStream:], id)
	for i := offSentNano + 8; i < packetSize; i++ {
		p[i] = 0xff // PCMU silence
	}
	s := &stream{src: src, pkt: p, dst: unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: dst.Addr().As4()}}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&s.dst.Port))[:], dst.Port())
	g.streams = append(g.streams, s)
}

// startReceivers reads every socket until it is closed.
func (g *gen) startReceivers() {
	for i, c := range g.conns {
		g.rxWG.Add(1)
		go func() {
			defer g.rxWG.Done()
			g.receive(c, g.hists[i])
		}()
	}
}

// receive counts the window's packets per stream and their latency from the
// sender's stamp to the kernel's receive stamp (so the generator's own
// scheduling delay is not counted against the relay).
func (g *gen) receive(c *net.UDPConn, h *histogram) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	type mmsghdr struct {
		hdr unix.Msghdr
		n   uint32
	}
	hdrs := make([]mmsghdr, recvBatch)
	iovs := make([]unix.Iovec, recvBatch)
	bufs := make([][]byte, recvBatch)
	ctrl := make([][]byte, recvBatch)
	for i := range hdrs {
		bufs[i] = make([]byte, 2048)
		ctrl[i] = make([]byte, 64)
		iovs[i].Base = &bufs[i][0]
		iovs[i].SetLen(len(bufs[i]))
		hdrs[i].hdr.Iov = &iovs[i]
		hdrs[i].hdr.SetIovlen(1)
		hdrs[i].hdr.Control = &ctrl[i][0]
	}
	var n int
	read := func(fd uintptr) bool {
		r, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&hdrs[0])), recvBatch, unix.MSG_DONTWAIT, 0, 0)
		if errno == unix.EAGAIN || errno == unix.EINTR {
			return false
		}
		n = int(r)
		if errno != 0 {
			n = 0
		}
		return true
	}
	for {
		for i := range hdrs {
			hdrs[i].hdr.SetControllen(len(ctrl[i]))
			hdrs[i].hdr.Flags = 0
		}
		if err := rc.Read(read); err != nil {
			return // closed
		}
		for i := range n {
			g.account(bufs[i][:hdrs[i].n], ctrl[i][:hdrs[i].hdr.Controllen], h)
		}
	}
}

func (g *gen) account(p, ctrl []byte, h *histogram) {
	if len(p) < offSentNano+8 || binary.BigEndian.Uint32(p[offMagic:]) != magic || binary.BigEndian.Uint32(p[offRun:]) != g.run {
		g.stale.Add(1)
		return
	}
	id := binary.BigEndian.Uint32(p[offStream:])
	seq := binary.BigEndian.Uint32(p[offSeq:])
	if int(id) >= len(g.streams) {
		g.stale.Add(1)
		return
	}
	if seq < g.winFirst || seq >= g.winLast {
		return
	}
	g.streams[id].recv.Add(1)
	rx := kernelStamp(ctrl)
	if rx == 0 {
		rx = time.Now().UnixNano()
	}
	h.add(rx - int64(binary.BigEndian.Uint64(p[offSentNano:])))
}

// kernelStamp finds SCM_TIMESTAMPNS (a struct timespec) in a control
// message buffer; 0 if absent.
func kernelStamp(ctrl []byte) int64 {
	for len(ctrl) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&ctrl[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(ctrl) {
			return 0
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && l >= unix.CmsgLen(16) {
			ts := (*unix.Timespec)(unsafe.Pointer(&ctrl[unix.CmsgLen(0)]))
			return ts.Nano()
		}
		next := unix.CmsgSpace(l - unix.SizeofCmsghdr)
		if next > len(ctrl) {
			return 0
		}
		ctrl = ctrl[next:]
	}
	return 0
}

// send paces every stream at one packet per packetInterval for rounds
// intervals, the streams spread evenly over the interval's ticks. It returns
// when all packets are sent. onWindow is called at the start and the end of
// the measurement window (for CPU readings and profiles).
func (g *gen) send(onWindow func(start bool)) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tfd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("timerfd: %w", err)
	}
	defer unix.Close(tfd)
	spec := unix.NsecToTimespec(int64(tick))
	if err := unix.TimerfdSettime(tfd, 0, &unix.ItimerSpec{Interval: spec, Value: spec}, nil); err != nil {
		return fmt.Errorf("timerfd: %w", err)
	}
	ticksPer := int(packetInterval / tick)
	slots := g.slots(ticksPer)
	senders := make([]*batchSender, len(g.conns))
	for i, c := range g.conns {
		if senders[i], err = newBatchSender(c); err != nil {
			return err
		}
	}
	start := time.Now()
	var expirations [8]byte
	total := int(g.rounds) * ticksPer
	for k := 0; k < total; {
		due := int(time.Since(start) / tick)
		if due < k {
			unix.Read(tfd, expirations[:]) // blocks until the next tick
			continue
		}
		if lag := time.Since(start) - time.Duration(k)*tick; lag > time.Duration(g.maxLag.Load()) {
			g.maxLag.Store(int64(lag))
		}
		for ; k <= due && k < total; k++ {
			seq := uint32(k / ticksPer)
			if k%ticksPer == 0 && seq == g.winFirst {
				onWindow(true)
			}
			if k%ticksPer == 0 && seq == g.winLast {
				onWindow(false)
			}
			for sock, ids := range slots[k%ticksPer] {
				if err := senders[sock].send(g, ids, seq); err != nil {
					return err
				}
			}
		}
	}
	if g.winLast >= g.rounds {
		onWindow(false)
	}
	return nil
}

// slots groups stream ids by tick within the interval, then by socket.
func (g *gen) slots(ticksPer int) [][][]uint32 {
	out := make([][][]uint32, ticksPer)
	for t := range out {
		out[t] = make([][]uint32, len(g.conns))
	}
	for id, s := range g.streams {
		t := id % ticksPer
		out[t][s.src] = append(out[t][s.src], uint32(id))
	}
	return out
}

// batchSender sends from one socket with sendmmsg, each message to its
// own stream's destination.
type batchSender struct {
	rc   syscall.RawConn
	hdrs []mmsghdrOut
	iovs []unix.Iovec
	n    int
	err  syscall.Errno
	fn   func(fd uintptr) bool
	off  int
}

type mmsghdrOut struct {
	hdr unix.Msghdr
	n   uint32
}

func newBatchSender(c *net.UDPConn) (*batchSender, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	b := &batchSender{rc: rc, hdrs: make([]mmsghdrOut, sendBatch), iovs: make([]unix.Iovec, sendBatch)}
	b.fn = func(fd uintptr) bool {
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[b.off])), uintptr(b.n-b.off), unix.MSG_DONTWAIT, 0, 0)
		if errno == unix.EAGAIN {
			return false // socket buffer full: wait until writable
		}
		if errno == 0 {
			b.off += int(r)
			return b.off >= b.n
		}
		b.err = errno
		return true
	}
	return b, nil
}

func (b *batchSender) send(g *gen, ids []uint32, seq uint32) error {
	inWindow := seq >= g.winFirst && seq < g.winLast
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), sendBatch)]
		ids = ids[len(chunk):]
		now := time.Now().UnixNano()
		for i, id := range chunk {
			s := g.streams[id]
			binary.BigEndian.PutUint16(s.pkt[2:], uint16(seq))
			binary.BigEndian.PutUint32(s.pkt[4:], seq*160) // 8 kHz clock, 20 ms
			binary.BigEndian.PutUint32(s.pkt[offSeq:], seq)
			binary.BigEndian.PutUint64(s.pkt[offSentNano:], uint64(now))
			b.iovs[i].Base = &s.pkt[0]
			b.iovs[i].SetLen(len(s.pkt))
			b.hdrs[i].hdr.Iov = &b.iovs[i]
			b.hdrs[i].hdr.SetIovlen(1)
			b.hdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&s.dst))
			b.hdrs[i].hdr.Namelen = unix.SizeofSockaddrInet4
			if inWindow {
				s.sent.Add(1)
			}
		}
		b.n, b.off, b.err = len(chunk), 0, 0
		if err := b.rc.Write(b.fn); err != nil {
			return err
		}
		if b.err != 0 && !errors.Is(b.err, unix.ECONNREFUSED) {
			return fmt.Errorf("sendmmsg: %w", b.err)
		}
	}
	return nil
}
