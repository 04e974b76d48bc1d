package proxy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/natdoc/natdoc/internal/sipcall"
)

// echoMaxDuration caps an echo call whose BYE never comes.
const echoMaxDuration = 10 * time.Minute

// echoPortTries bounds the search for a free port of the RTP range for the
// echo's media without a relay; a range that full falls back to any port.
const echoPortTries = 64

// echoParty is the built-in user "echo": it answers, sends a tone with
// natdoc payloads, and reports what it received, so one phone proves
// two-way audio. It behaves as one more party of the deployment: in fix
// mode its media goes through the relay like every call's (through the
// forwarded port range, latched onto where the caller's media really comes
// from); without the fix it sends to the address in the caller's SDP, as a
// NAT-unaware phone does, so a private address there breaks it as it
// breaks a call between two phones.
type echoParty struct {
	s     *Server
	mu    sync.Mutex
	calls map[string]*echoCall
	wg    sync.WaitGroup
}

type echoCall struct {
	uas    *sipgo.DialogServerSession
	media  *sipcall.Stream
	anchor mediaCall // fix mode
	cancel context.CancelFunc
	rec    CallRecord
}

// EchoStats is what the echo user sent and heard on one call.
type EchoStats struct {
	Sent     sipcall.DirStats
	Received sipcall.DirStats
	// Via is how it sent: sipcall.EchoViaRelay or sipcall.EchoToSDP;
	// SentTo where (the relay, or the caller's SDP address).
	Via    string
	SentTo netip.AddrPort
}

func newEchoParty(s *Server) *echoParty { return &echoParty{s: s, calls: make(map[string]*echoCall)} }

// echoMedia is the echo's side of one call.
type echoMedia struct {
	conn   *net.UDPConn
	answer []byte    // the SDP answer the caller gets
	anchor mediaCall // fix mode
	via    string
	remote netip.AddrPort // where the stream sends
	given  netip.Addr     // the server address the caller was given
}

func (e *echoParty) answer(req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort) {
	s := e.s
	offer, err := sipcall.AudioAddr(req.Body())
	if err != nil {
		s.respond(tx, req, 488, "Not Acceptable Here")
		return
	}
	id := req.CallID().Value()
	host, _ := s.addrFor(src)
	dua := &sipgo.DialogUA{Client: s.client, ContactHDR: sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: EchoUser, Host: host, Port: s.portFor(src.Addr())}}}
	sess, err := dua.ReadInvite(req, tx)
	if err != nil {
		s.respond(tx, req, 400, "Bad Request")
		return
	}
	em, err := e.openMedia(id, src, offer, sess.InviteRequest)
	if err != nil {
		s.cfg.Log.Debug("echo media", "call", id, "err", err)
		s.refuseMedia(tx, req, err)
		return
	}
	m := sipcall.NewStream(em.conn, em.conn, false, EchoUser)
	m.SetRemote(em.remote)
	ctx, cancel := context.WithTimeout(context.Background(), echoMaxDuration)
	now := s.cfg.Now()
	ec := &echoCall{uas: sess, media: m, anchor: em.anchor, cancel: cancel, rec: CallRecord{CallID: id, Callee: EchoUser, CallerAddr: src,
		CalleeAddr: em.conn.LocalAddr().(*net.UDPAddr).AddrPort(), CallerMedia: em.given, Start: now, Answer: now, State: "answered",
		Echo: &EchoStats{Via: em.via, SentTo: em.remote}}}
	if f := req.From(); f != nil {
		ec.rec.Caller = f.Address.User
	}
	e.mu.Lock()
	e.calls[id] = ec
	e.mu.Unlock()
	res := sip.NewSDPResponseFromRequest(sess.InviteRequest, em.answer)
	res.AppendHeader(sip.NewHeader(sipcall.EchoMediaHeader, em.via))
	if err := sess.WriteResponse(res); err != nil {
		s.cfg.Log.Debug("echo answer", "call", id, "err", err)
		cancel()
		e.remove(id)
		em.close()
		return
	}
	s.event(Event{Kind: "call-start", CallID: id, From: ec.rec.Caller, To: EchoUser, Addr: src.String(), Detail: "echo answers, media " + em.via})
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		m.Run(ctx, echoMaxDuration)
		e.finish(id, "ended")
	}()
}

// openMedia opens the echo's media for a call from src offering offer;
// inv is the INVITE as the echo's dialog holds it (its To tag set).
func (e *echoParty) openMedia(id string, src netip.AddrPort, offer sipcall.MediaAddr, inv *sip.Request) (*echoMedia, error) {
	s := e.s
	if s.media != nil {
		return e.anchoredMedia(id, src, inv)
	}
	_, given := s.addrFor(src)
	conn, err := e.listenInRange()
	if err != nil {
		return nil, busyError(err)
	}
	port := conn.LocalAddr().(*net.UDPAddr).Port
	return &echoMedia{conn: conn, answer: sipcall.Offer(netip.AddrPortFrom(given, uint16(port))), via: sipcall.EchoToSDP,
		remote: offer.RTP, given: given}, nil
}

// anchoredMedia anchors an echo call as any call: the caller is one party,
// the echo's own socket on this host the other. The caller's offer,
// rewritten, tells the echo where to send; the echo's answer, rewritten,
// is what the caller gets.
func (e *echoParty) anchoredMedia(id string, src netip.AddrPort, inv *sip.Request) (*echoMedia, error) {
	s := e.s
	mc, err := s.media.open(id, mediaParty{sig: src}, mediaParty{onHost: true})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), mediaTimeout)
	defer cancel()
	callerTag, echoTag := fromTag(inv), toTag(inv)
	em := &echoMedia{anchor: mc, via: sipcall.EchoViaRelay}
	toEcho, err := mc.rewrite(ctx, sdpMsg{body: inv.Body(), fromCaller: true, senderTag: callerTag})
	var remote sipcall.MediaAddr
	if err == nil {
		remote, err = sipcall.AudioAddr(toEcho)
	}
	if err == nil {
		em.conn, err = s.cfg.ListenUDP("udp4", netip.AddrPortFrom(mc.hostAddr(), 0).String())
	}
	if err == nil {
		mine := sipcall.Offer(em.conn.LocalAddr().(*net.UDPAddr).AddrPort())
		em.answer, err = mc.rewrite(ctx, sdpMsg{body: mine, answer: true, senderTag: echoTag, receiverTag: callerTag})
	}
	if err != nil {
		em.close()
		return nil, err
	}
	em.remote = remote.RTP
	em.given, _ = mc.given()
	return em, nil
}

// listenInRange opens the echo's socket on a free port of the RTP range
// (the ports a router forwards to this server), else on any port.
func (e *echoParty) listenInRange() (*net.UDPConn, error) {
	s := e.s
	lo, hi := s.cfg.PortMin, s.cfg.PortMax
	for i := 0; lo > 0 && hi > lo && i < echoPortTries; i++ {
		port := lo + rand.IntN(hi-lo+1)
		if c, err := s.cfg.ListenUDP("udp4", netip.AddrPortFrom(s.listenIP, uint16(port)).String()); err == nil {
			return c, nil
		}
	}
	c, err := s.cfg.ListenUDP("udp4", netip.AddrPortFrom(s.listenIP, 0).String())
	if err != nil {
		return nil, fmt.Errorf("echo: media socket: %w", err)
	}
	return c, nil
}

func (em *echoMedia) close() {
	if em.conn != nil {
		em.conn.Close()
	}
	if em.anchor != nil {
		em.anchor.close()
	}
}

// handle takes in-dialog requests of echo calls; false if not one.
func (e *echoParty) handle(req *sip.Request, tx sip.ServerTransaction) bool {
	id := req.CallID().Value()
	e.mu.Lock()
	ec := e.calls[id]
	e.mu.Unlock()
	if ec == nil {
		return false
	}
	switch req.Method {
	case sip.ACK:
		ec.uas.ReadAck(req, tx)
	case sip.INFO:
		rx := ec.media.Freeze()
		res := sip.NewResponseFromRequest(req, 200, "OK", sipcall.StatsBody(rx.Packets))
		res.AppendHeader(sip.NewHeader("Content-Type", sipcall.StatsContentType))
		e.s.send(tx, req, res)
	case sip.BYE:
		e.s.respond(tx, req, 200, "OK")
		ec.cancel()
	default:
		e.s.respond(tx, req, 200, "OK")
	}
	return true
}

func (e *echoParty) remove(id string) *echoCall {
	e.mu.Lock()
	defer e.mu.Unlock()
	ec := e.calls[id]
	delete(e.calls, id)
	return ec
}

func (e *echoParty) finish(id, reason string) {
	ec := e.remove(id)
	if ec == nil {
		return
	}
	sent, rx, _ := ec.media.Stats()
	ec.rec.End, ec.rec.EndReason = e.s.cfg.Now(), reason
	ec.rec.Echo = &EchoStats{Sent: sent, Received: rx, Via: ec.rec.Echo.Via, SentTo: ec.rec.Echo.SentTo}
	if ec.anchor != nil {
		ec.anchor.close()
		ec.rec.Relay, ec.rec.Engine = ec.anchor.stats(), ec.anchor.engine()
	}
	e.s.keepEnded(ec.rec)
	e.s.event(Event{Kind: "call-end", CallID: id, From: ec.rec.Caller, To: EchoUser,
		Detail: "echo heard " + itoa(rx.Packets) + " packets, sent " + itoa(sent.Packets)})
}

func (e *echoParty) close() {
	e.mu.Lock()
	for _, ec := range e.calls {
		ec.cancel()
	}
	e.mu.Unlock()
	e.wg.Wait()
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// active returns the echo calls in progress.
func (e *echoParty) active() []CallRecord {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]CallRecord, 0, len(e.calls))
	for _, ec := range e.calls {
		rec := ec.rec
		if ec.anchor != nil {
			rec.Relay, rec.Engine = ec.anchor.stats(), ec.anchor.engine()
		}
		out = append(out, rec)
	}
	return out
}
