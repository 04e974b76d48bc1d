package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/emiago/sipgo/sip"
	"github.com/natdoc/natdoc/internal/sipcall"
	"github.com/natdoc/natdoc/relay"
)

// media anchors calls' media in fix mode: natdoc's own relay
// (relayMedia) or rtpengine (engineMedia). Each owns its SDP rewriting,
// how a party's real media address is learned, and the teardown.
type media interface {
	// open starts anchoring one call between caller and callee.
	open(callID string, caller, callee mediaParty) (mediaCall, error)
	// kind names it in the report: "relay" or "rtpengine".
	kind() string
}

// mediaParty is one side of a call as the anchor needs it.
type mediaParty struct {
	// sig is where its SIP comes from (and where its media may latch from).
	sig netip.AddrPort
	// onHost: the party is this server itself (the echo user).
	onHost bool
}

// sdpMsg is one SDP body on its way from one party to the other.
type sdpMsg struct {
	body       []byte
	fromCaller bool
	// answer: the body answers an offer (in a response to a request that
	// had SDP, in an ACK or a PRACK); else it is an offer.
	answer bool
	// senderTag and receiverTag are the parties' dialog tags (the From
	// tag of a request's sender, the To tag of a response's).
	senderTag, receiverTag string
}

// mediaCall is one call's anchoring.
type mediaCall interface {
	// rewrite returns the body the receiving party gets: its media
	// through the anchor. Errors are *mediaError.
	rewrite(ctx context.Context, m sdpMsg) ([]byte, error)
	// given are the anchor's addresses each party was told to send to
	// (invalid until its SDP went out).
	given() (caller, callee netip.Addr)
	// hostAddr is this server's address as the anchor reaches it (where
	// the echo user's own media socket listens).
	hostAddr() netip.Addr
	// stats are the counts per party, nil while none are known.
	stats() *relay.SessionStats
	// engine names where the media is (an rtpengine's address; "" for
	// natdoc's relay).
	engine() string
	// refresh asks for fresh counts in the background (live status).
	refresh()
	// close ends the anchoring: relay ports freed, the engine's call
	// deleted (its final counts kept for stats).
	close()
	// done is closed once the anchoring ended, by close or by the anchor
	// itself (nil: it never ends by itself); silent then says whether it
	// ended because a party fell silent.
	done() <-chan struct{}
	silent() bool
}

// mediaError is a failure to anchor media, with the SIP status that
// refuses the request carrying the SDP.
type mediaError struct {
	code   int
	reason string
	err    error
	// busy: the server is full now (no media ports, no call slot); the
	// caller is asked to retry later, the calls in progress are not
	// touched.
	busy bool
}

func (e *mediaError) Error() string { return e.err.Error() }
func (e *mediaError) Unwrap() error { return e.err }

// sdpError: the sender's SDP cannot be anchored (RFC 3261 §21.4.26).
func sdpError(err error) *mediaError {
	return &mediaError{code: 488, reason: "Not Acceptable Here", err: err}
}

// busyError: no room for the call now (RFC 3261 §21.5.4).
func busyError(err error) *mediaError {
	return &mediaError{code: 503, reason: "Service Unavailable", err: err, busy: true}
}

// retryAfter: seconds a caller refused for lack of media ports or call
// slots is asked to wait (RFC 3261 §20.33); calls end at human pace, so a
// retry sooner than this would find the same.
const retryAfter = "30"

// refuseMedia answers req with the status of a media failure, the cause
// in a Warning header (RFC 3261 §20.43: 399, miscellaneous) so the caller
// sees why, not only that.
func (s *Server) refuseMedia(tx sip.ServerTransaction, req *sip.Request, err error) {
	me := asMediaError(err)
	res := sip.NewResponseFromRequest(req, me.code, me.reason, nil)
	if me.busy {
		res.AppendHeader(sip.NewHeader("Retry-After", retryAfter))
	}
	if me.code != 488 {
		res.AppendHeader(sip.NewHeader("Warning", fmt.Sprintf("399 natdoc %q", sanitizeWarning(me.err.Error()))))
	}
	s.send(tx, req, res)
	if me.busy {
		s.event(Event{Kind: "reject", To: req.Recipient.User, Addr: sourceOf(req).String(), Detail: "503: " + me.err.Error()})
	}
}

func asMediaError(err error) *mediaError {
	var me *mediaError
	if errors.As(err, &me) {
		return me
	}
	return &mediaError{code: 500, reason: "Server Internal Error", err: err}
}

// sanitizeWarning keeps a Warning's text a quoted string: no quotes,
// backslashes or control characters from an engine's error text.
func sanitizeWarning(s string) string {
	out := []rune{}
	for _, r := range s {
		if r == '"' || r == '\\' || r < 0x20 || r == 0x7f {
			r = '\''
		}
		out = append(out, r)
		if len(out) >= 200 {
			break
		}
	}
	return string(out)
}

// relayMedia anchors media in natdoc's own relay.
type relayMedia struct {
	s  *Server
	rl *relay.Relay
	// pairs, with serve --upnp, has the router forward pairs as calls
	// need them; legs facing outside take only those.
	pairs *pairDemand
}

func (m *relayMedia) kind() string { return "relay" }

// relayCall is one call in the relay: leg A faces the caller, leg B the
// callee; each leg latches only onto media from its party's SIP source IP.
type relayCall struct {
	m                        *relayMedia
	sess                     *relay.Session
	callerGiven, calleeGiven netip.Addr
	callerIP, calleeIP       netip.Addr
}

func (m *relayMedia) open(callID string, caller, callee mediaParty) (mediaCall, error) {
	sess, err := m.allocate(callID, m.reach(caller), m.reach(callee))
	if err != nil {
		m.s.Counters.RelayFull.Add(1)
		return nil, busyError(err)
	}
	c := &relayCall{m: m, sess: sess}
	c.callerIP, c.callerGiven = m.prepare(sess.A, caller)
	c.calleeIP, c.calleeGiven = m.prepare(sess.B, callee)
	return c, nil
}

// allocate opens the call's relay session. With pairs forwarded on
// demand, its legs facing outside wait (briefly) for the router first,
// and once more when another call took the pairs meanwhile; the call
// wakes the background growth either way.
func (m *relayMedia) allocate(callID string, a, b relay.Reach) (*relay.Session, error) {
	ctx := context.Background()
	if m.pairs == nil {
		return m.rl.AllocateReach(ctx, callID, a, b)
	}
	defer m.pairs.nudge()
	outside := 0
	for _, r := range []relay.Reach{a, b} {
		if r == relay.ReachOutside {
			outside++
		}
	}
	ready := outside == 0 || m.pairs.need(ctx, outside)
	sess, err := m.rl.AllocateReach(ctx, callID, a, b)
	if ready && errors.Is(err, relay.ErrNoForwardedPorts) && m.pairs.need(ctx, outside) {
		sess, err = m.rl.AllocateReach(ctx, callID, a, b)
	}
	return sess, err
}

// reach says who sends to p's leg: this host and phones given the LAN
// address reach the relay directly, everyone else through the router.
func (m *relayMedia) reach(p mediaParty) relay.Reach {
	if p.onHost || m.s.givenLocal(p.sig.Addr()) {
		return relay.ReachLAN
	}
	return relay.ReachOutside
}

// prepare sets up the leg facing p: only media from p's IP may latch, and
// p is given the server address it can reach.
func (m *relayMedia) prepare(l *relay.Leg, p mediaParty) (ip, given netip.Addr) {
	ip = p.sig.Addr()
	if p.onHost {
		ip = m.s.loopbackOwn()
		l.Expect(ip)
		return ip, ip
	}
	l.Expect(ip)
	_, given = m.s.addrFor(p.sig)
	return ip, given
}

// rewrite names the receiver's leg at the address the receiver was given,
// and remembers the sender's SDP address on its own leg until its packets
// show the real one.
func (c *relayCall) rewrite(_ context.Context, m sdpMsg) ([]byte, error) {
	sender, receiver, to := c.sess.A, c.sess.B, c.calleeGiven
	if !m.fromCaller {
		sender, receiver, to = c.sess.B, c.sess.A, c.callerGiven
	}
	out, orig, err := Anchor(m.body, to, receiver.Port())
	if err != nil {
		return nil, sdpError(err)
	}
	setSDPAddr(sender, orig)
	return out, nil
}

func (c *relayCall) given() (caller, callee netip.Addr) { return c.callerGiven, c.calleeGiven }
func (c *relayCall) hostAddr() netip.Addr               { return c.m.s.loopbackOwn() }
func (c *relayCall) engine() string                     { return "" }
func (c *relayCall) refresh()                           {}
func (c *relayCall) close()                             { c.sess.Close() }
func (c *relayCall) done() <-chan struct{}              { return c.sess.Done() }
func (c *relayCall) silent() bool                       { return c.sess.Reason() == relay.CloseIdle }

func (c *relayCall) stats() *relay.SessionStats {
	st := c.sess.Stats()
	return &st
}

// setSDPAddr tells a leg where its party's SDP asks to receive; a stream
// on hold receives nothing.
func setSDPAddr(l *relay.Leg, m sipcall.MediaAddr) {
	if m.Inactive {
		l.SetSDPAddr(netip.AddrPort{}, netip.AddrPort{})
		return
	}
	l.SetSDPAddr(m.RTP, m.RTCP)
}

// loopbackOwn is the server's own address for media on this host: the
// listen IP, or loopback when it listens on every interface.
func (s *Server) loopbackOwn() netip.Addr {
	if s.listenIP.IsUnspecified() {
		return netip.MustParseAddr("127.0.0.1")
	}
	return s.listenIP
}
