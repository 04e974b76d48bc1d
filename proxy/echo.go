package proxy

import (
	"context"
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

// echoParty is the built-in user "echo": it answers, sends a tone with
// natdoc payloads from the server's own address, answers to where the
// caller's media really comes from (symmetric RTP, so no relay is needed
// for it), and reports what it received. One user on a LAN PC can so prove
// two-way audio against a natdoc serve on a public host.
type echoParty struct {
	s     *Server
	mu    sync.Mutex
	calls map[string]*echoCall
	wg    sync.WaitGroup
}

type echoCall struct {
	uas    *sipgo.DialogServerSession
	media  *sipcall.Stream
	cancel context.CancelFunc
	rec    CallRecord
}

// EchoStats is what the echo user sent and heard on one call.
type EchoStats struct {
	Sent     sipcall.DirStats
	Received sipcall.DirStats
}

func newEchoParty(s *Server) *echoParty { return &echoParty{s: s, calls: make(map[string]*echoCall)} }

func (e *echoParty) answer(req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort) {
	s := e.s
	offer, err := sipcall.AudioAddr(req.Body())
	if err != nil {
		s.respond(tx, req, 488, "Not Acceptable Here")
		return
	}
	host, ip := s.addrFor(src.Addr())
	bind := s.listenIP
	conn, err := s.cfg.ListenUDP("udp4", netip.AddrPortFrom(bind, 0).String())
	if err != nil {
		s.respond(tx, req, 503, "Service Unavailable")
		return
	}
	port := conn.LocalAddr().(*net.UDPAddr).Port
	dua := &sipgo.DialogUA{Client: s.client, ContactHDR: sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: EchoUser, Host: host, Port: s.listenPort}}}
	sess, err := dua.ReadInvite(req, tx)
	if err != nil {
		conn.Close()
		s.respond(tx, req, 400, "Bad Request")
		return
	}
	m := sipcall.NewStream(conn, conn, true, EchoUser)
	m.SetRemote(offer.RTP)
	ctx, cancel := context.WithTimeout(context.Background(), echoMaxDuration)
	id := req.CallID().Value()
	ec := &echoCall{uas: sess, media: m, cancel: cancel, rec: CallRecord{CallID: id, Callee: EchoUser, CallerAddr: src, Start: s.cfg.Now(), State: "answered"}}
	if f := req.From(); f != nil {
		ec.rec.Caller = f.Address.User
	}
	e.mu.Lock()
	e.calls[id] = ec
	e.mu.Unlock()
	answer := netip.AddrPortFrom(ip, uint16(port))
	if err := sess.RespondSDP(sipcall.Offer(answer)); err != nil {
		cancel()
		conn.Close()
		e.remove(id)
		return
	}
	s.event(Event{Kind: "call-start", CallID: id, From: ec.rec.Caller, To: EchoUser, Addr: src.String(), Detail: "echo answers"})
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		m.Run(ctx, echoMaxDuration)
		e.finish(id, "ended")
	}()
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
	ec.rec.Echo = &EchoStats{Sent: sent, Received: rx}
	e.s.mu.Lock()
	if len(e.s.ended) >= maxEndedCalls {
		e.s.ended = e.s.ended[1:]
	}
	e.s.ended = append(e.s.ended, ec.rec)
	e.s.mu.Unlock()
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
		out = append(out, ec.rec)
	}
	return out
}
