package proxy

import (
	"bufio"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/natdoc/natdoc/diagnose/sipalg"
)

// natdoc serve is also the mirror natdoc diagnose's SIP ALG and
// port-forwarding checks talk to (--mirror HOST:PORT), so one public host
// runs one program. A mirror request (Request-URI sip:mirror@...) is
// answered before authentication, since it carries no credentials, and
// never reaches the registrar or the proxy: it registers nothing, starts no
// call and takes no relay port. The mirror's own per-source rate limit
// applies to it.

// mirrorUDP answers a mirror request that arrived on the SIP socket and
// reports whether data was one.
func (s *Server) mirrorUDP(p sipTransportProps, data []byte) bool {
	if s.cfg.Mirror == nil || !strings.EqualFold(p.transport, "udp") || !sipalg.IsMirrorRequest(data) {
		return false
	}
	s.Counters.Mirror.Add(1)
	ua, ok := p.remote.(*net.UDPAddr)
	if !ok {
		return true
	}
	from := netip.AddrPortFrom(ua.AddrPort().Addr().Unmap(), ua.AddrPort().Port())
	if resp := s.cfg.Mirror.Answer(data, from, "udp"); resp != nil && s.sipConn != nil {
		// Only answered requests become events: a flood is cut by the
		// rate limit, and so is its logging.
		s.mirrorEvent(p.remote, "udp")
		if _, err := s.sipConn.WriteTo(resp, ua); err != nil {
			s.cfg.Log.Debug("mirror answer", "to", from, "err", err)
		}
	}
	return true
}

// mirrorEvent shows an answered mirror request.
func (s *Server) mirrorEvent(from net.Addr, transport string) {
	s.event(Event{Kind: "mirror", Addr: from.String(), Detail: "natdoc diagnose mirror request over " + transport})
}

type sipTransportProps struct {
	transport string
	remote    net.Addr
}

// mirrorSniffTimeout: a SIP client speaks first, right after connecting;
// a connection silent this long goes to the SIP server as it is.
const mirrorSniffTimeout = 2 * time.Second

// mirrorListener hands sipgo the TCP connections of phones and answers
// itself those that open with a mirror request. sipgo's read filter sees
// TCP as arbitrary chunks, not messages, so the choice is made per
// connection, on its first bytes.
type mirrorListener struct {
	net.Listener
	mirror  *sipalg.Answerer
	counted func(from net.Addr)
	conns   chan net.Conn
	done    chan struct{}
	err     error
}

func newMirrorListener(l net.Listener, m *sipalg.Answerer, counted func(net.Addr)) *mirrorListener {
	ml := &mirrorListener{Listener: l, mirror: m, counted: counted, conns: make(chan net.Conn), done: make(chan struct{})}
	go ml.acceptLoop()
	return ml
}

func (l *mirrorListener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			l.err = err
			close(l.done)
			return
		}
		go l.sort(c)
	}
}

// sort reads the connection's first bytes: a mirror request is answered
// here, anything else (or silence) goes to sipgo with the bytes replayed.
func (l *mirrorListener) sort(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(mirrorSniffTimeout))
	r := bufio.NewReaderSize(c, 4096)
	_, _ = r.Peek(1)
	first, _ := r.Peek(r.Buffered())
	if sipalg.IsMirrorRequest(first) {
		l.counted(c.RemoteAddr())
		l.mirror.ServeStream(c, r)
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	select {
	case l.conns <- &peekedConn{Conn: c, r: r}:
	case <-l.done:
		c.Close()
	}
}

func (l *mirrorListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, l.err
	}
}

// peekedConn reads first what sort buffered.
type peekedConn struct {
	net.Conn
	r  *bufio.Reader
	mu sync.Mutex
}

func (c *peekedConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.r != nil {
		if c.r.Buffered() > 0 {
			return c.r.Read(b)
		}
		c.r = nil
	}
	return c.Conn.Read(b)
}
