package sipalg

import (
	"bufio"
	"bytes"
	"net"
	"net/netip"
	"strings"
	"time"
)

// MirrorUser is the user part of every request natdoc diagnose sends to a
// mirror (sip:mirror@HOST:PORT): BuildInvite, BuildOptions and the
// port-forwarding check's callback request.
const MirrorUser = "mirror"

// IsMirrorRequest reports whether raw is a SIP request addressed to the
// mirror (Request-URI sip:mirror@...). It reads the start line only, so a
// SIP server can test every datagram cheaply.
func IsMirrorRequest(raw []byte) bool {
	line, _, _ := bytes.Cut(raw, []byte("\n"))
	if len(line) > 1024 {
		return false
	}
	if _, ok := requestMethod(line); !ok {
		return false
	}
	parts := strings.Fields(string(line))
	return strings.HasPrefix(strings.ToLower(parts[1]), "sip:"+MirrorUser+"@")
}

// Answerer answers mirror requests that reach a server owning its own
// sockets (natdoc serve), with the same per-source rate limit and callbacks
// as Mirror.
type Answerer struct{ m *Mirror }

// NewAnswerer builds an Answerer; callback, when not nil, sends the
// requested callback packets (HeaderCallback) and stays the caller's to
// close. A zero limit uses DefaultRateLimit.
func NewAnswerer(limit RateLimit, callback *net.UDPConn) *Answerer {
	if limit.Burst == 0 {
		limit = DefaultRateLimit
	}
	return &Answerer{m: &Mirror{Callback: callback, Limit: limit, limiter: newLimiter(limit)}}
}

// Answer returns the mirror's answer to raw from `from` over transport, or
// nil (not a SIP request, an ACK, or rate-limited).
func (a *Answerer) Answer(raw []byte, from netip.AddrPort, transport string) []byte {
	return a.m.answer(raw, from, transport)
}

// Stats returns the counters.
func (a *Answerer) Stats() *Stats { return a.m.Stats() }

// ServeStream answers the requests on a TCP connection whose first bytes
// are already in r, until the peer stops or tcpReadTimeout passes. It
// closes c.
func (a *Answerer) ServeStream(c net.Conn, r *bufio.Reader) {
	defer c.Close()
	from, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	_ = c.SetDeadline(time.Now().Add(tcpReadTimeout))
	for {
		raw, err := ReadStreamMessage(r)
		if err != nil {
			return
		}
		if resp := a.Answer(raw, from, "tcp"); resp != nil {
			if _, err := c.Write(resp); err != nil {
				return
			}
		}
	}
}
