package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/natdoc/natdoc/internal/ng"
	"github.com/natdoc/natdoc/internal/sipcall"
	"github.com/natdoc/natdoc/metrics"
	"github.com/natdoc/natdoc/relay"
	"github.com/natdoc/natdoc/rtpengine"
)

// engineMedia anchors media in rtpengine (natdoc serve --media
// rtpengine=...): every SDP goes through the call's engine as an ng offer
// or answer, and the engine's SDP goes on. The engine learns each party's
// real media address from its packets.
type engineMedia struct {
	s    *Server
	pool *rtpengine.Pool

	inProgress sync.Map // *engineCall -> struct{}: calls not yet closed
	closed     metrics.RelayCounter
}

func (m *engineMedia) kind() string { return "rtpengine" }

// engineCall is one call on an engine, chosen by its first offer.
type engineCall struct {
	m              *engineMedia
	id             string
	caller, callee mediaParty

	mu                       sync.Mutex
	eng                      *rtpengine.Engine
	callerTag                string
	callerSDP, calleeSDP     netip.AddrPort // what each party's SDP named
	callerGiven, calleeGiven netip.Addr
	counts                   *ng.CallStats // the latest query, or delete's final one
	closed                   bool
	refreshing               atomic.Bool
}

func (m *engineMedia) open(callID string, caller, callee mediaParty) (mediaCall, error) {
	c := &engineCall{m: m, id: callID, caller: caller, callee: callee}
	m.inProgress.Store(c, struct{}{})
	return c, nil
}

// totals are the engines' counts as natdoc_relay_* metrics: the calls in
// progress with their latest counts, each asked for fresh ones for the
// next scrape (an engine call's counts come from a query, so a scrape
// sees them one scrape late), and the closed calls' final counts.
func (m *engineMedia) totals() metrics.RelayTotals {
	return m.closed.Totals(func() []relay.SessionStats {
		var out []relay.SessionStats
		m.inProgress.Range(func(k, _ any) bool {
			c := k.(*engineCall)
			c.refresh()
			if st := c.stats(); st != nil {
				out = append(out, *st)
			} else {
				out = append(out, relay.SessionStats{CallID: c.id})
			}
			return true
		})
		return out
	})
}

// rewrite sends the SDP to the call's engine (the first message picks
// it: the first live engine of the Call-ID's order that answers).
func (c *engineCall) rewrite(ctx context.Context, msg sdpMsg) ([]byte, error) {
	orig, err := sipcall.AudioAddr(msg.body)
	if err != nil {
		return nil, sdpError(err)
	}
	sender, receiver := c.caller, c.callee
	if !msg.fromCaller {
		sender, receiver = c.callee, c.caller
	}
	m := rtpengine.Message{Answer: msg.answer, CallID: c.id, SDP: msg.body, SDPAddr: orig.RTP.Addr(), Source: c.source(sender)}
	m.FromTag, m.ToTag = msg.senderTag, msg.receiverTag
	if msg.answer {
		m.FromTag, m.ToTag = msg.receiverTag, msg.senderTag // the offerer's, then the answerer's
	}
	reply, err := c.request(ctx, m, sender, receiver)
	if err != nil {
		return nil, err
	}
	out, _ := reply["sdp"].(string)
	if out == "" {
		return nil, engineFailure(fmt.Errorf("rtpengine %s: %w: reply without sdp", c.engine(), ng.ErrBencode))
	}
	given, err := sipcall.AudioAddr([]byte(out))
	if err != nil {
		return nil, engineFailure(fmt.Errorf("rtpengine %s: %w: its sdp: %w", c.engine(), ng.ErrBencode, err))
	}
	c.note(msg, orig.RTP, given.RTP.Addr())
	return []byte(out), nil
}

// request sends m to the call's engine; the first message tries the
// live engines in the Call-ID's order until one answers.
func (c *engineCall) request(ctx context.Context, m rtpengine.Message, sender, receiver mediaParty) (map[string]any, error) {
	c.mu.Lock()
	eng := c.eng
	c.mu.Unlock()
	if eng != nil {
		if !eng.Up() {
			return nil, engineFailure(fmt.Errorf("rtpengine %s, which has this call's media, does not answer", eng.Config.Addr))
		}
		c.sides(&m, eng, sender, receiver)
		r, err := eng.Request(ctx, rtpengine.Command(m))
		return r, engineFailure(err)
	}
	err := error(rtpengine.ErrNoEngine)
	for _, e := range c.m.pool.Order(c.id) {
		c.sides(&m, e, sender, receiver)
		var r map[string]any
		if r, err = e.Request(ctx, rtpengine.Command(m)); err == nil {
			c.mu.Lock()
			c.eng = e
			c.mu.Unlock()
			e.Begin(c.id)
			return r, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, engineFailure(err)
}

// sides names the engine's interfaces facing sender and receiver when it
// has one for the main and one for the LAN address.
func (c *engineCall) sides(m *rtpengine.Message, e *rtpengine.Engine, sender, receiver mediaParty) {
	if e.Config.Main == "" {
		return
	}
	side := func(p mediaParty) string {
		if p.onHost || c.m.s.cfg.LocalAddr.IsValid() && c.m.s.inLAN(p.sig.Addr()) {
			return e.Config.Local
		}
		return e.Config.Main
	}
	m.SenderSide, m.ReceiverSide = side(sender), side(receiver)
}

// source is where a party's SIP comes from: the echo's is this host.
func (c *engineCall) source(p mediaParty) netip.Addr {
	if p.onHost {
		return c.hostAddr()
	}
	return p.sig.Addr()
}

// note keeps what the report needs: each party's SDP address and the
// engine address the receiver was given.
func (c *engineCall) note(msg sdpMsg, sdpAddr netip.AddrPort, given netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if msg.fromCaller {
		c.callerTag, c.callerSDP, c.calleeGiven = msg.senderTag, sdpAddr, given
	} else {
		c.calleeSDP, c.callerGiven = sdpAddr, given
	}
}

// engineFailure turns an engine's failure into the SIP status refusing
// the request: 503 when no engine answered (try again later, or another
// server), 503 with Retry-After when the engine is out of ports, 500 when
// one answered with another error or with no ng reply.
func engineFailure(err error) error {
	switch {
	case err == nil:
		return nil
	case rtpengine.OutOfPorts(err):
		return busyError(err)
	case errors.Is(err, ng.ErrFailed), errors.Is(err, ng.ErrBencode):
		return &mediaError{code: 500, reason: "Server Internal Error", err: err}
	}
	return &mediaError{code: 503, reason: "Service Unavailable", err: err}
}

func (c *engineCall) given() (caller, callee netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.callerGiven, c.calleeGiven
}

// hostAddr is this host's address toward the call's engine (the local
// address of the socket the server talks to it on).
func (c *engineCall) hostAddr() netip.Addr {
	c.mu.Lock()
	eng := c.eng
	c.mu.Unlock()
	if eng == nil {
		if o := c.m.pool.Order(c.id); len(o) > 0 {
			eng = o[0]
		}
	}
	if eng != nil {
		if a := eng.LocalAddr(); a.IsValid() && !a.IsUnspecified() {
			return a
		}
	}
	return c.m.s.loopbackOwn()
}

func (c *engineCall) engine() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.eng == nil {
		return ""
	}
	return c.eng.Config.Addr.String()
}

// close deletes the call in its engine and keeps the final counts; an
// engine that is down is not asked (its calls are in its outage).
// done is nil: an engine ends a silent call by its own timeout
// (rtpengine --timeout), which natdoc is not told of.
func (c *engineCall) done() <-chan struct{} { return nil }
func (c *engineCall) silent() bool          { return false }

func (c *engineCall) close() {
	c.mu.Lock()
	eng, closed, tag := c.eng, c.closed, c.callerTag
	c.closed = true
	c.mu.Unlock()
	if closed {
		return
	}
	defer c.m.counted(c)
	if eng == nil {
		return
	}
	defer eng.End(c.id)
	if !eng.Up() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), mediaTimeout)
	defer cancel()
	// With the from-tag the reply carries the call's final counts.
	r, err := eng.Request(ctx, map[string]any{"command": "delete", "call-id": c.id, "from-tag": tag})
	if err != nil {
		c.m.s.cfg.Log.Debug("rtpengine delete", "call", c.id, "err", err)
		return
	}
	c.keep(ng.ReadCallStats(r))
}

// counted moves a closed call's last counts to the closed totals.
func (m *engineMedia) counted(c *engineCall) {
	m.inProgress.Delete(c)
	if st := c.stats(); st != nil {
		m.closed.Closed(*st)
	}
}

// refresh queries the call's counts in the background, one query at a
// time (the live status shows a few calls each second).
func (c *engineCall) refresh() {
	c.mu.Lock()
	eng, closed := c.eng, c.closed
	c.mu.Unlock()
	if eng == nil || closed || !eng.Up() || !c.refreshing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer c.refreshing.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), mediaTimeout)
		defer cancel()
		r, err := eng.Request(ctx, map[string]any{"command": "query", "call-id": c.id})
		if err != nil {
			return
		}
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if !closed {
			c.keep(ng.ReadCallStats(r))
		}
	}()
}

// keep stores counts that name the call's parties (a reply without them
// leaves the last ones).
func (c *engineCall) keep(counts ng.CallStats) {
	if len(counts.Parties) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts = &counts
}

// stats are the engine's counts as the relay's: leg A is the caller's
// stream (what the engine received from it, where it latched), leg B the
// callee's. rtpengine does not count what it sent: a party's received
// packets count as forwarded to the other, and loss is not measured.
func (c *engineCall) stats() *relay.SessionStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts == nil {
		return nil
	}
	callerStats, calleeStats := ng.PartyStats{}, ng.PartyStats{}
	for tag, p := range c.counts.Parties {
		if tag == c.callerTag {
			callerStats = p
		} else {
			calleeStats = p
		}
	}
	return &relay.SessionStats{CallID: c.id,
		A: engineLeg("A", c.caller, c.callerSDP, callerStats), B: engineLeg("B", c.callee, c.calleeSDP, calleeStats)}
}

func engineLeg(name string, p mediaParty, sdpAddr netip.AddrPort, st ng.PartyStats) relay.LegStats {
	l := relay.LegStats{Leg: name, Port: int(st.Local.Port()), Expected: p.sig.Addr(), SDPAddr: sdpAddr,
		RTP: engineStream(st.RTP), RTCP: engineStream(st.RTCP)}
	if st.RTP.Packets > 0 {
		l.Latched = st.Endpoint
		l.RTP.Last = st.LastPacket
	}
	return l
}

func engineStream(c ng.Counts) relay.StreamStats {
	return relay.StreamStats{Packets: c.Packets, Bytes: c.Bytes, Forwarded: c.Packets - min(c.Errors, c.Packets), SendErrors: c.Errors,
		LossNotMeasured: true}
}
