//go:build linux

package relay

import (
	"errors"
	"net"
	"runtime"
	"sync"
	"time"

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

	mu      sync.Mutex
	byFD    map[int32]*endpoint
	closing []*Session
	done    chan struct{}
}

func startPollers(n int) []*poller {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	var out []*poller
	for range n {
		p, err := newPoller()
		if err != nil {
			break // fall back to goroutines for the rest
		}
		out = append(out, p)
		go p.loop()
	}
	return out
}

func newPoller() (*poller, error) {
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
	return &poller{epfd: epfd, wakefd: wakefd, byFD: make(map[int32]*endpoint), done: make(chan struct{})}, nil
}

// add registers a started session's four sockets.
func (p *poller) add(s *Session) error {
	eps := s.endpoints()
	for _, e := range eps {
		rc, err := e.conn.SyscallConn()
		if err != nil {
			return err
		}
		if err := rc.Control(func(fd uintptr) { e.fd = int(fd) }); err != nil {
			return err
		}
	}
	p.mu.Lock()
	for _, e := range eps {
		p.byFD[int32(e.fd)] = e
	}
	p.mu.Unlock()
	for i, e := range eps {
		// Level-triggered: a socket left with data is reported again.
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(e.fd)}
		if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, e.fd, &ev); err != nil {
			p.mu.Lock()
			for _, e := range eps {
				delete(p.byFD, int32(e.fd))
			}
			p.mu.Unlock()
			for _, e := range eps[:i] {
				unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, e.fd, nil)
			}
			return err
		}
	}
	return nil
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
	var drain [8]byte
	defer func() {
		p.closeSessions()
		unix.Close(p.epfd)
		unix.Close(p.wakefd)
	}()
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		now := time.Now().UnixNano()
		for _, ev := range events[:n] {
			if int(ev.Fd) == p.wakefd {
				unix.Read(p.wakefd, drain[:])
				continue
			}
			p.mu.Lock()
			e := p.byFD[ev.Fd]
			p.mu.Unlock()
			if e != nil {
				e.pollRead(now)
			}
		}
		p.closeSessions()
		select {
		case <-p.done:
			return
		default:
		}
	}
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
			e.conn.Close()
		}
		s.free()
	}
}

// pollRead reads what one ready socket holds (one batch; level-triggered
// epoll brings the loop back for more) and forwards it.
func (e *endpoint) pollRead(now int64) {
	n, err := e.reader.readFD(e.fd)
	if err != nil || n == 0 {
		return
	}
	e.handleBatch(n, now)
}

var _ = net.ErrClosed
