package proxy

import (
	"errors"
	"net"
	"sync"
	"syscall"

	"github.com/emiago/sipgo/sip"
)

// errDialOut is what sipgo gets when it would open a TCP connection.
var errDialOut = errors.New("serve: no TCP connections out; requests and responses go over the connections phones opened")

// noDialOut is the server's TCP transport. Every peer the server talks to
// over TCP opened the connection (a phone behind NAT cannot be reached by
// a new one), so the server never dials. sipgo would otherwise dial the
// Via host of a request whose connection closed before the answer (RFC
// 3261 §18.2.2 says the source address): a stranger could make the server
// connect to any address.
//
// sipgo logs this transport's parse errors to its default logger, not to
// the server's, so tcpStreams counts them instead.
func noDialOut() *sip.TransportTCP {
	return &sip.TransportTCP{DialerCreate: func(laddr net.Addr) net.Dialer {
		return net.Dialer{LocalAddr: laddr, Control: func(string, string, syscall.RawConn) error { return errDialOut }}
	}}
}

// tcpStreams follows each TCP connection's SIP stream with sipgo's own
// stream parser, fed exactly what sipgo's is, to count the messages it
// rejects (sipgo then closes the connection).
type tcpStreams struct {
	parser  *sip.Parser
	invalid func()
	mu      sync.Mutex
	open    map[string]*sip.ParserStream
}

func newTCPStreams(invalid func()) *tcpStreams {
	return &tcpStreams{parser: sip.NewParser(), invalid: invalid, open: make(map[string]*sip.ParserStream)}
}

// check parses data, the next bytes of the stream from remote.
func (t *tcpStreams) check(remote string, data []byte) {
	t.mu.Lock()
	st, ok := t.open[remote]
	if !ok {
		st = t.parser.NewSIPStream()
		t.open[remote] = st
	}
	t.mu.Unlock()
	err := st.ParseSIPStream(data, func(sip.Message) {})
	if err == nil || errors.Is(err, sip.ErrParseSipPartial) {
		return
	}
	t.invalid()
	t.forget(remote) // sipgo drops the connection
}

func (t *tcpStreams) forget(remote string) {
	t.mu.Lock()
	delete(t.open, remote)
	t.mu.Unlock()
}

// listener forgets a connection's stream when the connection closes.
func (t *tcpStreams) listener(l net.Listener) net.Listener {
	return &wrapListener{Listener: l, wrap: func(c net.Conn) net.Conn { return &streamConn{Conn: c, streams: t} }}
}

// wrapListener hands sipgo each accepted connection wrapped, for what
// watches the server's TCP streams (tcpStreams, the observer's tap).
type wrapListener struct {
	net.Listener
	wrap func(net.Conn) net.Conn
}

func (l *wrapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.wrap(c), nil
}

type streamConn struct {
	net.Conn
	streams *tcpStreams
	once    sync.Once
}

func (c *streamConn) Close() error {
	c.once.Do(func() { c.streams.forget(c.RemoteAddr().String()) })
	return c.Conn.Close()
}
