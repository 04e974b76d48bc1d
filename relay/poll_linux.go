//go:build linux

package relay

import (
	"errors"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxEvents is how many ready sockets one epoll_wait returns.
const maxEvents = 256

// poller is an epoll event loop serving the sockets of many sessions. With
// thousands of calls each socket carries one packet every 20 ms, so a
// goroutine per socket means a scheduler wake-up per packet; one loop
// reading every ready socket in turn does not. All reads, writes and closes
// of its sockets happen on its goroutine, so a descriptor is never used
// after it was closed.
type poller struct {
	epfd   int
	wakefd int

	// Batch state shared by all the loop's sockets: it serves one socket at
	// a time, and a batch leaves before the next socket is read.
	rd  *batchReader
	wr  *batchWriter
	out [][]byte

	// more: sockets whose last read filled a whole batch, so they may hold
	// more; with edge-triggered epoll nothing reports them again. Served
	// once per round, after the round's ready sockets (no socket starves
	// the others). Loop goroutine only.
	more, moreNext []int32

	mu      sync.Mutex
	byFD    map[int32]*endpoint
	closing []*Session
	done    chan struct{}
}

func startPollers(n, batch int) []*poller {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	var out []*poller
	for range n {
		p, err := newPoller(batch)
		if err != nil {
			break // fall back to goroutines for the rest
		}
		out = append(out, p)
		go p.loop()
	}
	return out
}

func newPoller(batch int) (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, err
	}
	return &poller{
		epfd: epfd, wakefd: wakefd,
		rd: newBatchReader(nil, batch), wr: newBatchWriter(nil, batch), out: make([][]byte, batch),
		byFD: make(map[int32]*endpoint), done: make(chan struct{}),
	}, nil
}

// add takes over a started session's four sockets.
//
// The loop works on duplicates of the descriptors and closes the
// net.UDPConns once the duplicates are registered: a UDPConn's descriptor
// sits in the runtime's own epoll set (edge-triggered, readable and
// writable), so every packet received and every send completion would also
// wake that set and hand the scheduler events nobody waits for. Only the
// duplicate remains, in this loop's epoll set.
func (p *poller) add(s *Session) error {
	eps := s.endpoints()
	fds := make([]int, 0, len(eps))
	undo := func() {
		for _, fd := range fds {
			unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil)
			unix.Close(fd)
		}
	}
	for _, e := range eps {
		fd, err := dupConnFD(e.conn)
		if err != nil {
			undo()
			return err
		}
		// Edge-triggered: a socket is reported when a datagram arrives, not
		// at every epoll_wait while it holds one (level-triggered would poll
		// each served socket a second time). serve keeps what it could not
		// read in one batch for the next round.
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(fd)}
		if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			unix.Close(fd)
			undo()
			return err
		}
		fds = append(fds, fd)
	}
	p.mu.Lock()
	for i, e := range eps {
		e.fd = fds[i]
		p.byFD[int32(e.fd)] = e
	}
	p.mu.Unlock()
	for _, e := range eps {
		e.conn.Close() // the duplicate keeps the socket and its port
	}
	return nil
}

// dupConnFD returns a close-on-exec duplicate of c's descriptor.
func dupConnFD(c *net.UDPConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	dup, derr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) { dup, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	return dup, derr
}

// remove asks the loop to close a session's sockets and free its ports.
func (p *poller) remove(s *Session) {
	p.mu.Lock()
	p.closing = append(p.closing, s)
	p.mu.Unlock()
	p.wake()
}

func (p *poller) wake() {
	var one = [8]byte{1}
	unix.Write(p.wakefd, one[:])
}

func (p *poller) stop() {
	close(p.done)
	p.wake()
}

func (p *poller) loop() {
	events := make([]unix.EpollEvent, maxEvents)
	ready := make([]*endpoint, maxEvents)
	w := p.newWaiter(events)
	defer func() {
		p.closeSessions()
		w.close()
		unix.Close(p.wakefd)
	}()
	for {
		n, err := w.wait(len(p.more) > 0)
		if err != nil {
			return
		}
		p.handle(events[:n], ready)
		p.serveMore(ready)
		p.closeSessions()
		select {
		case <-p.done:
			return
		default:
		}
	}
}

// handle serves one epoll_wait's ready sockets. The endpoints are looked
// up under one lock per round, not one per socket.
func (p *poller) handle(events []unix.EpollEvent, ready []*endpoint) {
	var drain [8]byte
	ready = ready[:len(events)]
	p.mu.Lock()
	for i, ev := range events {
		ready[i] = p.byFD[ev.Fd] // nil for the wake-up eventfd
	}
	p.mu.Unlock()
	now := time.Now().UnixNano()
	for i, e := range ready {
		if e != nil {
			p.serve(e, now)
		} else if int(events[i].Fd) == p.wakefd {
			unix.Read(p.wakefd, drain[:])
		}
		ready[i] = nil
	}
}

// serveMore gives each socket left with a full batch one more read.
func (p *poller) serveMore(ready []*endpoint) {
	more := p.more
	p.more, p.moreNext = p.moreNext[:0], more // serve appends to p.more
	for len(more) > 0 {
		chunk := more[:min(len(more), cap(ready))] // ready's storage: no allocation
		more = more[len(chunk):]
		ready = ready[:0]
		p.mu.Lock()
		for _, fd := range chunk {
			// A socket closed since has no entry; a descriptor number reused
			// by a new session meanwhile costs one extra read of that socket,
			// served as its own.
			if e := p.byFD[fd]; e != nil {
				ready = append(ready, e)
			}
		}
		p.mu.Unlock()
		now := time.Now().UnixNano()
		for i, e := range ready {
			e.more = false
			p.serve(e, now)
			ready[i] = nil
		}
	}
}

// waiter waits for the poller's epoll descriptor to report ready sockets.
//
// It does not block in epoll_wait(2) itself: a goroutine blocked in a
// system call keeps its thread, sysmon retakes its P after 20 µs and keeps
// waking every 20 µs while that goes on, and the return pays the
// exitsyscall slow path; on this VM (PVM guest) those context switches were
// 14% of the relay's profile at 100k packets/s. Instead the epoll descriptor
// (itself pollable, epoll(7)) sits in Go's netpoller: the goroutine parks
// until the runtime's own epoll reports it readable, then takes the ready
// sockets with a non-blocking epoll_wait, as many rounds as stay ready.
type waiter struct {
	f      *os.File // owns epfd once the runtime poller took it
	rc     syscall.RawConn
	epfd   int
	events []unix.EpollEvent
	n      int
	errno  syscall.Errno
	waitFn func(fd uintptr) bool // bound once
}

func (p *poller) newWaiter(events []unix.EpollEvent) *waiter {
	w := &waiter{epfd: p.epfd, events: events}
	w.waitFn = w.poll
	if err := unix.SetNonblock(p.epfd, true); err == nil {
		// f owns epfd from here on (close closes it).
		w.f = os.NewFile(uintptr(p.epfd), "relay-epoll")
		// A deadline can be set only on what the runtime poller watches;
		// otherwise wait falls back to a blocking epoll_wait.
		if w.f.SetReadDeadline(time.Time{}) == nil {
			w.rc, _ = w.f.SyscallConn()
		}
	}
	return w
}

// poll takes what is ready now: epoll_pwait with timeout 0, which never
// blocks, so RawSyscall6 (no entersyscall/exitsyscall). epoll_pwait rather
// than epoll_wait: arm64 has only the former.
func (w *waiter) poll(fd uintptr) bool {
	n, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&w.events[0])), uintptr(len(w.events)), 0, 0, 0)
	w.n, w.errno = int(n), errno
	if errno == unix.EINTR {
		w.n, w.errno = 0, 0
	}
	return w.n > 0 || w.errno != 0
}

// wait returns the number of ready events in w.events; with busy, it
// does not wait (sockets have data left from the last round).
func (w *waiter) wait(busy bool) (int, error) {
	if busy {
		w.poll(uintptr(w.epfd))
		if w.errno != 0 {
			return 0, w.errno
		}
		return w.n, nil
	}
	if w.rc != nil {
		if err := w.rc.Read(w.waitFn); err != nil {
			return 0, err
		}
		if w.errno != 0 {
			return 0, w.errno
		}
		return w.n, nil
	}
	for {
		n, err := unix.EpollWait(w.epfd, w.events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return n, err
	}
}

func (w *waiter) close() {
	if w.f != nil {
		w.f.Close()
		return
	}
	unix.Close(w.epfd)
}

// closeSessions closes what remove queued; only the loop touches the
// descriptors, so none is read after its close.
func (p *poller) closeSessions() {
	p.mu.Lock()
	closing := p.closing
	p.closing = nil
	for _, s := range closing {
		for _, e := range s.endpoints() {
			delete(p.byFD, int32(e.fd))
		}
	}
	p.mu.Unlock()
	for _, s := range closing {
		for _, e := range s.endpoints() {
			unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, e.fd, nil)
			unix.Close(e.fd)
		}
		s.free()
	}
}

// serve reads what one ready socket holds (one batch; a full one brings
// the socket back next round) and forwards it out of the peer's socket.
func (p *poller) serve(e *endpoint, now int64) {
	n, err := p.rd.readFD(e.fd)
	if (n == len(p.rd.hdrs) || (err != nil && isTransient(err))) && !e.more {
		// Edge-triggered: nobody reports what is left; read it next round
		// (once, however often the socket shows up in this one).
		e.more = true
		p.more = append(p.more, int32(e.fd))
	}
	if err != nil || n == 0 {
		return
	}
	out, dst := e.filter(p.rd, n, now, p.out)
	if len(out) == 0 {
		return
	}
	sent, err := p.wr.writeFD(e.peer.fd, out, dst)
	e.countSent(len(out), sent, err)
}
