package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/natdoc/natdoc/hep"
	"github.com/natdoc/natdoc/metrics"
	"github.com/natdoc/natdoc/report"
)

// What natdoc serve tells the tools its users already run (serve
// --metrics, --hep-out): every SIP message the server reads or sends is
// seen on its sockets, below sipgo, so nothing the server handles is
// missed and the handlers stay as they are. Received requests are counted
// by method and sent responses by class (the server's own answers and the
// ones it forwards); each message is copied to HOMER as HEPv3 with its
// Call-ID. When a call ends, its outcome (relay counters per party, the
// findings about it) goes to HOMER as a HEP JSON log on the call's
// Call-ID and its findings are counted.

// hepQueueLen bounds the copies waiting for the HEP collector: a slow or
// unreachable collector costs copies (counted), never the server's time.
const hepQueueLen = 4096

// maxStreamMessage bounds what one TCP direction buffers to find a
// message's end; past it the copy of that stream stops.
const maxStreamMessage = 64 << 10

// observer hears every SIP message on the server's sockets.
type observer struct {
	m      *metrics.Metrics
	hep    *hepQueue
	parser *sip.Parser
}

func newObserver(m *metrics.Metrics, out *hep.Sender) *observer {
	o := &observer{m: m, parser: sip.NewParser()}
	if out != nil {
		o.hep = newHEPQueue(out)
	}
	return o
}

// active says whether anything listens: without --metrics and --hep-out
// the sockets stay unwrapped.
func (o *observer) active() bool { return o.m != nil || o.hep != nil }

// message observes one whole SIP message from src to dst; received says
// the server read it.
func (o *observer) message(msg []byte, src, dst netip.AddrPort, proto uint8, received bool) {
	if len(bytes.Trim(msg, "\r\n")) == 0 {
		return // a keep-alive (RFC 5626 §3.5.1)
	}
	m, err := o.parser.ParseSIP(msg)
	if err != nil {
		return // counted by the server as malformed; nothing to say about it
	}
	callID := ""
	if h := m.CallID(); h != nil {
		callID = h.Value()
	}
	switch v := m.(type) {
	case *sip.Request:
		if received {
			o.m.SIPRequest(string(v.Method))
		}
	case *sip.Response:
		if !received {
			o.m.SIPResponse(v.StatusCode)
		}
	}
	if o.hep != nil {
		src, dst = sameFamily(src, dst)
		o.hep.sip(src, dst, proto, bytes.Clone(msg), callID)
	}
}

// callEnded counts a finished call's findings and sends its outcome.
func (o *observer) callEnded(rec CallRecord, server netip.Addr) {
	fs := ServeFindings([]CallRecord{rec}, nil, server)
	o.m.Findings(fs)
	if o.hep == nil {
		return
	}
	src, dst := sameFamily(rec.CallerAddr, rec.CalleeAddr)
	o.hep.log(src, dst, CallLogJSON(rec, fs), rec.CallID)
}

// callLog is the JSON line natdoc serve sends to HOMER when a call ends.
type callLog struct {
	Source   string             `json:"source"`
	Call     report.RelayedCall `json:"call"`
	Findings []logFinding       `json:"findings,omitempty"`
}

type logFinding struct {
	ID       report.FindingID `json:"id"`
	Severity report.Severity  `json:"severity"`
	Title    string           `json:"title"`
}

// CallLogJSON is the log line for a call the server handled: its parties,
// how it ended, what the relay counted per party, and the findings.
func CallLogJSON(rec CallRecord, fs []report.Finding) []byte {
	l := callLog{Source: "natdoc serve", Call: ServeReport(nil, Config{}, "", nil, []CallRecord{rec}).Calls[0]}
	for _, f := range fs {
		l.Findings = append(l.Findings, logFinding{ID: f.ID, Severity: f.Severity, Title: f.Title})
	}
	b, _ := json.Marshal(l) // plain strings and numbers: cannot fail
	return b
}

// sameFamily gives a HEP packet addresses of one family (HEP has one
// family field): when they differ, or one is unknown, both become the
// unspecified address of the other's family.
func sameFamily(src, dst netip.AddrPort) (netip.AddrPort, netip.AddrPort) {
	if src.IsValid() && dst.IsValid() && src.Addr().Is4() == dst.Addr().Is4() {
		return src, dst
	}
	zero := netip.IPv4Unspecified()
	if (src.IsValid() && src.Addr().Is6()) || (dst.IsValid() && dst.Addr().Is6()) {
		zero = netip.IPv6Unspecified()
	}
	fix := func(a netip.AddrPort) netip.AddrPort {
		if !a.IsValid() || a.Addr().Is4() != zero.Is4() {
			return netip.AddrPortFrom(zero, a.Port())
		}
		return a
	}
	return fix(src), fix(dst)
}

// hepItem is one copy waiting for the collector.
type hepItem struct {
	src, dst netip.AddrPort
	proto    uint8
	at       time.Time
	payload  []byte
	callID   string
	log      bool
}

// hepQueue sends copies from its own goroutine, so a write to a slow
// collector never holds up the server.
type hepQueue struct {
	out     *hep.Sender
	items   chan hepItem
	dropped atomic.Uint64
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

func newHEPQueue(out *hep.Sender) *hepQueue {
	q := &hepQueue{out: out, items: make(chan hepItem, hepQueueLen), stop: make(chan struct{}), done: make(chan struct{})}
	go q.run()
	return q
}

// run sends until stopped, then what is still queued.
func (q *hepQueue) run() {
	defer close(q.done)
	for {
		select {
		case it := <-q.items:
			q.send(it)
		case <-q.stop:
			for {
				select {
				case it := <-q.items:
					q.send(it)
				default:
					return
				}
			}
		}
	}
}

func (q *hepQueue) send(it hepItem) {
	if it.log {
		q.out.SendLog(it.src, it.dst, it.at, it.payload, it.callID)
	} else {
		q.out.SendSIP(it.src, it.dst, it.proto, it.at, it.payload, it.callID)
	}
}

func (q *hepQueue) put(it hepItem) {
	select {
	case q.items <- it:
	default:
		q.dropped.Add(1)
	}
}

func (q *hepQueue) sip(src, dst netip.AddrPort, proto uint8, msg []byte, callID string) {
	q.put(hepItem{src: src, dst: dst, proto: proto, at: time.Now(), payload: msg, callID: callID})
}

func (q *hepQueue) log(src, dst netip.AddrPort, line []byte, callID string) {
	q.put(hepItem{src: src, dst: dst, at: time.Now(), payload: line, callID: callID, log: true})
}

// close sends what is queued (the calls ended at shutdown) and stops;
// copies put later are dropped with the queue.
func (q *hepQueue) close() {
	if q == nil {
		return
	}
	q.once.Do(func() { close(q.stop) })
	<-q.done
}

// Transport protocol numbers in HEP (IANA).
const (
	hepUDP = 17
	hepTCP = 6
)

// tapPacketConn is the server's UDP socket with every datagram read and
// written shown to the observer.
type tapPacketConn struct {
	net.PacketConn
	obs   *observer
	local netip.AddrPort
}

func (c *tapPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := c.PacketConn.ReadFrom(b)
	if n > 0 {
		c.obs.message(b[:n], addrPortOf(from), c.local, hepUDP, true)
	}
	return n, from, err
}

func (c *tapPacketConn) WriteTo(b []byte, to net.Addr) (int, error) {
	n, err := c.PacketConn.WriteTo(b, to)
	if err == nil {
		c.obs.message(b, c.local, addrPortOf(to), hepUDP, false)
	}
	return n, err
}

// tap is an accepted TCP connection whose messages the observer sees.
func (o *observer) tap(c net.Conn) net.Conn {
	local, remote := addrPortOf(c.LocalAddr()), addrPortOf(c.RemoteAddr())
	return &tapConn{Conn: c,
		in:  &sipStream{obs: o, src: remote, dst: local, received: true},
		out: &sipStream{obs: o, src: local, dst: remote}}
}

// tapConn is one TCP connection of the server, each direction cut into
// SIP messages.
type tapConn struct {
	net.Conn
	in, out *sipStream
}

func (c *tapConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.in.write(b[:n])
	return n, err
}

func (c *tapConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.out.write(b[:n])
	return n, err
}

// sipStream cuts one direction of a TCP connection into messages by
// their Content-Length (RFC 3261 §18.3).
type sipStream struct {
	mu       sync.Mutex
	obs      *observer
	src, dst netip.AddrPort
	received bool
	buf      []byte
	broken   bool // lost track of message boundaries: copy no more
}

func (s *sipStream) write(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken || len(b) == 0 {
		return
	}
	s.buf = append(s.buf, b...)
	for len(s.buf) > 0 {
		start := len(s.buf) - len(bytes.TrimLeft(s.buf, "\r\n")) // keep-alives between messages
		if start == len(s.buf) {
			s.buf = s.buf[:0]
			return
		}
		_, n, err := s.obs.parser.Parse(s.buf[start:], true)
		switch {
		case err == nil:
			s.obs.message(s.buf[start:start+n], s.src, s.dst, hepTCP, s.received)
			s.buf = append(s.buf[:0], s.buf[start+n:]...)
		case incomplete(err) && len(s.buf) <= maxStreamMessage:
			return
		default:
			s.broken, s.buf = true, nil
			return
		}
	}
}

// incomplete: the message's end has not arrived yet.
func incomplete(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, sip.ErrParseReadBodyIncomplete) || errors.Is(err, sip.ErrParseEOF)
}

func addrPortOf(a net.Addr) netip.AddrPort {
	switch v := a.(type) {
	case *net.UDPAddr:
		ap := v.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	case *net.TCPAddr:
		ap := v.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// wrap gives sipgo the server's sockets with the observer on them (as
// they are when nothing observes); local names the server in HEP.
func (o *observer) wrap(udp net.PacketConn, tcp net.Listener, local netip.AddrPort) (net.PacketConn, net.Listener) {
	if !o.active() {
		return udp, tcp
	}
	if tcp != nil {
		tcp = &wrapListener{Listener: tcp, wrap: o.tap}
	}
	return &tapPacketConn{PacketConn: udp, obs: o, local: local}, tcp
}

// sipAddr is the server's SIP address for HEP: the --listen address, or
// the main address's IP when it listens on every interface.
func sipAddr(listen netip.AddrPort, public netip.Addr) netip.AddrPort {
	if listen.Addr().IsUnspecified() && public.IsValid() {
		return netip.AddrPortFrom(public, listen.Port())
	}
	return listen
}

// onEvent passes the server's events on to next and, when a call ends,
// observes its outcome; srv returns the server once it exists.
func (o *observer) onEvent(next func(Event), srv func() *Server) func(Event) {
	if !o.active() {
		return next
	}
	return func(e Event) {
		if next != nil {
			next(e)
		}
		if e.Kind != "call-end" {
			return
		}
		if s := srv(); s != nil {
			if rec, ok := s.endedCall(e.CallID); ok {
				o.callEnded(rec, s.ownIP())
			}
		}
	}
}

// endedCall is the record of the ended call id, the latest of that name.
func (s *Server) endedCall(id string) (CallRecord, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.ended) - 1; i >= 0; i-- {
		if s.ended[i].CallID == id {
			return s.ended[i], true
		}
	}
	return CallRecord{}, false
}

// watch exports the registered contacts and the calls, and adds the server's
// rejected-input counters to the metrics every StatusInterval until ctx
// ends, and once more when stopped.
func (o *observer) watch(ctx context.Context, srv *Server) (stop func()) {
	if o.m == nil {
		return func() {}
	}
	o.m.WatchRegistrations(func() int { return len(srv.Registrations()) })
	o.m.WatchCalls(srv.callTotals)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	seen := map[string]uint64{}
	add := func() {
		for _, kv := range srv.Anomalies() {
			n, _ := strconv.ParseUint(kv.Value, 10, 64)
			o.m.Rejected(kv.Key, n-seen[kv.Key])
			seen[kv.Key] = n
		}
	}
	go func() {
		defer close(done)
		every(ctx, StatusInterval, add)
	}()
	return func() { cancel(); <-done; add() }
}
