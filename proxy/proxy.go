package proxy

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/natdoc/natdoc/internal/sipcall"
	"github.com/natdoc/natdoc/relay"
)

// call is one dialog the proxy set up.
type call struct {
	id                     string
	caller, callee         string
	callerTag              string
	callerAddr, calleeAddr netip.AddrPort // where their SIP comes from (and goes to)
	// callerTransport and calleeTransport are what each side's SIP comes
	// over ("UDP", "TCP"): the caller's INVITE, the callee's REGISTER. A
	// request goes to a side over its own, whatever it arrived on.
	callerTransport, calleeTransport string
	invite                           *sip.Request  // as the caller sent it
	ok                               *sip.Response // the callee's 2xx, for BYEs at shutdown

	mu            sync.Mutex
	media         mediaCall // nil without fix mode
	start, answer time.Time
	state         string
	endOnce       sync.Once
}

// toward is where a request from one side goes, and over which
// transport: the other side's.
func (c *call) toward(fromCaller bool) (netip.AddrPort, string) {
	if fromCaller {
		return c.calleeAddr, c.calleeTransport
	}
	return c.callerAddr, c.callerTransport
}

// anchor is the call's media anchoring (nil without fix mode), set once
// the call is in the server's table.
func (c *call) anchor() mediaCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.media
}

// CallRecord is a call as the summary reports it.
type CallRecord struct {
	CallID     string
	Caller     string
	Callee     string
	CallerAddr netip.AddrPort
	CalleeAddr netip.AddrPort
	Start      time.Time
	Answer     time.Time
	End        time.Time
	State      string
	EndReason  string
	// CallerMedia and CalleeMedia are the server addresses each party was
	// told to send its media to (fix mode): the main or the additional one.
	CallerMedia, CalleeMedia netip.Addr
	// Relay are the media counts per party (natdoc's relay, or as an
	// rtpengine reported them); Engine the rtpengine that had the media.
	Relay  *relay.SessionStats
	Engine string
	Echo   *EchoStats
}

// sdpCarrier is a request or response that may carry SDP.
type sdpCarrier interface {
	Body() []byte
	SetBody([]byte)
	GetHeader(string) sip.Header
}

// isSDP: only application/sdp bodies are rewritten (RFC 3261 §20.15);
// INFO, NOTIFY and other bodies pass untouched. Multipart bodies are not
// anchored.
func isSDP(m interface{ GetHeader(string) sip.Header }) bool {
	ct := m.GetHeader("Content-Type")
	return ct != nil && strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct.Value())), "application/sdp")
}

func fromTag(m interface{ From() *sip.FromHeader }) string {
	if f := m.From(); f != nil {
		t, _ := f.Params.Get("tag")
		return t
	}
	return ""
}

func toTag(m interface{ To() *sip.ToHeader }) string {
	if t := m.To(); t != nil {
		v, _ := t.Params.Get("tag")
		return v
	}
	return ""
}

func (s *Server) lookupCall(id string) *call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[id]
}

func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	s.Counters.Requests.Add(1)
	if sipcall.HasToTag(req) {
		s.inDialog(req, tx)
		return
	}
	s.Counters.Invites.Add(1)
	src := sourceOf(req)
	if _, ok := s.authorize(req, tx, src); !ok {
		return
	}
	user := req.Recipient.User
	if s.echo != nil && user == EchoUser {
		s.echo.answer(req, tx, src)
		return
	}
	b, ok := s.reg.lookup(user, s.cfg.Now())
	if !ok {
		// Only registered users: never an open proxy to other domains.
		s.Counters.NotFound.Add(1)
		s.respond(tx, req, 404, "Not Found")
		s.event(Event{Kind: "reject", To: user, Addr: src.String(), Detail: "404: not registered here"})
		return
	}
	c, err := s.newCall(req, src, b)
	if err != nil {
		s.refuseMedia(tx, req, err)
		return
	}
	fwd := req.Clone()
	fwd.Recipient = *b.Contact.Clone()
	if err := s.anchor(fwd, req, c, true); err != nil {
		s.refuseMedia(tx, req, err)
		s.endCall(c, "media: "+err.Error())
		return
	}
	s.event(Event{Kind: "call-start", CallID: c.id, From: c.caller, To: c.callee, Addr: src.String()})
	s.forward(req, fwd, tx, c, true)
}

// newCall records a call; in fix mode it opens its media anchoring. An
// error is a *mediaError, with the response to reject it with.
func (s *Server) newCall(req *sip.Request, src netip.AddrPort, b Binding) (*call, error) {
	c := &call{id: req.CallID().Value(), callee: b.User, callerTag: fromTag(req), invite: req.Clone(),
		callerAddr: src, calleeAddr: b.Source, callerTransport: req.Transport(), calleeTransport: b.Transport,
		start: s.cfg.Now(), state: "ringing"}
	if f := req.From(); f != nil {
		c.caller = f.Address.User
	}
	s.mu.Lock()
	if _, dup := s.calls[c.id]; dup {
		s.mu.Unlock()
		return nil, busyError(errors.New("a call with this Call-ID is in progress"))
	}
	if len(s.calls) >= s.cfg.MaxCalls {
		s.mu.Unlock()
		return nil, busyError(errors.New("too many calls in progress"))
	}
	s.calls[c.id] = c
	s.mu.Unlock()
	if s.media != nil {
		mc, err := s.media.open(c.id, mediaParty{sig: src}, mediaParty{sig: b.Source})
		if err != nil {
			s.mu.Lock()
			delete(s.calls, c.id)
			s.mu.Unlock()
			return nil, err
		}
		c.mu.Lock()
		c.media = mc
		c.mu.Unlock()
		if done := mc.done(); done != nil {
			go s.watchMedia(c, mc, done)
		}
	}
	s.mu.Lock()
	s.callsStarted++
	s.mu.Unlock()
	return c, nil
}

// endMediaTimeout is the end reason of a call whose media stopped.
const endMediaTimeout = "media timeout"

// watchMedia ends the call once its anchor closed the media for silence
// (done closed, mc silent): a phone that is gone sends no BYE, so the
// server hangs up for it (a BYE to both, the one still there stops
// sending) and reports the call with the side that fell silent.
func (s *Server) watchMedia(c *call, mc mediaCall, done <-chan struct{}) {
	<-done
	if !mc.silent() {
		return
	}
	s.hangUp(c)
	s.endCall(c, endMediaTimeout)
}

// mediaTimeout bounds the anchoring of one SDP: two engines' ng
// schedules (2 s each) when the first one dies on this very request.
const mediaTimeout = 5 * time.Second

// anchor rewrites the SDP in m (if any) so media goes through the anchor,
// each party given an address it can reach. req is the request m is or
// answers: a response answers an offer when its request had SDP.
func (s *Server) anchor(m sdpCarrier, req *sip.Request, c *call, fromCaller bool) error {
	body := m.Body()
	mc := c.anchor()
	if len(body) == 0 || mc == nil || !isSDP(m) {
		return nil
	}
	msg := sdpMsg{body: body, fromCaller: fromCaller}
	if res, ok := m.(*sip.Response); ok {
		msg.answer = len(req.Body()) > 0 && isSDP(req)
		msg.senderTag, msg.receiverTag = toTag(res), fromTag(res)
	} else {
		msg.answer = req.Method == sip.ACK || req.Method == sip.PRACK
		msg.senderTag, msg.receiverTag = fromTag(req), toTag(req)
	}
	ctx, cancel := context.WithTimeout(context.Background(), mediaTimeout)
	defer cancel()
	out, err := mc.rewrite(ctx, msg)
	if err != nil {
		switch me := asMediaError(err); {
		case me.busy: // an engine out of ports
			s.Counters.RelayFull.Add(1)
		case me.code == 488:
			s.Counters.SDPRejected.Add(1)
		default:
			s.Counters.MediaFailed.Add(1)
		}
		return err
	}
	m.SetBody(out)
	return nil
}

// forward relays a request statefully and its responses back.
func (s *Server) forward(req, fwd *sip.Request, tx sip.ServerTransaction, c *call, fromCaller bool) {
	dst, transport := c.toward(fromCaller)
	fwd.SetDestination(dst.String())
	fwd.SetTransport(transport)
	initial := req.IsInvite() && !sipcall.HasToTag(req)
	if mf := req.MaxForwards(); mf != nil && mf.Val() <= 1 {
		// RFC 3261 §16.3 step 3: a loop or an absurd path.
		s.refuse(tx, req, c, initial, 483, "Too Many Hops", "too many hops")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), forwardTimeout)
	defer cancel()
	clTx, err := s.client.TransactionRequest(ctx, fwd, s.proxyOptions(dst, c, initial)...)
	if err != nil {
		s.refuse(tx, req, c, initial, 503, "Service Unavailable", "forward failed")
		return
	}
	if !tx.OnCancel(func(*sip.Request) { go s.cancelForwarded(fwd) }) && tx.Err() == sip.ErrTransactionCanceled {
		// The CANCEL arrived while the INVITE was being forwarded, before
		// the callback was in place (sipgo: "racy if not registered after
		// transaction creation"): cancel downstream now.
		go s.cancelForwarded(fwd)
	}
	s.relayResponses(req, tx, clTx, c, fromCaller, initial)
}

// refuse answers req itself; on an initial INVITE the call ends with why.
func (s *Server) refuse(tx sip.ServerTransaction, req *sip.Request, c *call, initial bool, code int, reason, why string) {
	s.respond(tx, req, code, reason)
	if initial {
		s.endCall(c, why)
	}
}

// relayResponses passes the forwarded request's responses upstream until
// the final one, a timeout or a cancel.
func (s *Server) relayResponses(req *sip.Request, tx sip.ServerTransaction, clTx sip.ClientTransaction, c *call, fromCaller, initial bool) {
	for {
		select {
		case res, more := <-clTx.Responses():
			if !more {
				return
			}
			if s.relayResponse(req, res, tx, c, fromCaller, initial) {
				clTx.Terminate()
				return
			}
		case <-clTx.Done():
			s.refuse(tx, req, c, initial, 408, "Request Timeout", "no answer")
			if req.Method == sip.BYE {
				// RFC 3261 §15.1.1: a BYE without answer ends the session
				// all the same; its media must not hold relay ports or an
				// engine's call until they idle out.
				s.endCall(c, "bye: no answer")
			}
			return
		case <-tx.Done():
			// Cancelled: let the client transaction see the callee's 487.
			go func() {
				select {
				case <-clTx.Done():
				case <-time.After(cancelDrain):
				}
				clTx.Terminate()
			}()
			if initial {
				s.endCall(c, "cancelled")
			}
			return
		}
	}
}

// cancelForwarded sends CANCEL for a forwarded INVITE (RFC 3261 §16.10):
// same Request-URI, top Via, Call-ID, From, To and CSeq number.
func (s *Server) cancelForwarded(fwd *sip.Request) {
	c := sip.NewRequest(sip.CANCEL, fwd.Recipient)
	c.AppendHeader(sip.HeaderClone(fwd.Via()))
	c.AppendHeader(sip.HeaderClone(fwd.From()))
	c.AppendHeader(sip.HeaderClone(fwd.To()))
	c.AppendHeader(sip.HeaderClone(fwd.CallID()))
	if cs := fwd.CSeq(); cs != nil {
		c.AppendHeader(&sip.CSeqHeader{SeqNo: cs.SeqNo, MethodName: sip.CANCEL})
	}
	maxf := sip.MaxForwardsHeader(70)
	c.AppendHeader(&maxf)
	c.SetBody(nil)
	c.SetTransport(fwd.Transport())
	c.SetDestination(fwd.Destination())
	s.requestAndWait(c, cancelDrain, s.fromListener)
}

// requestAndWait sends a request the server originates (CANCEL, BYE) in a
// client transaction and waits for its first response, its end or timeout;
// the answer itself does not matter to the caller.
func (s *Server) requestAndWait(req *sip.Request, timeout time.Duration, opts ...sipgo.ClientRequestOption) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tx, err := s.client.TransactionRequest(ctx, req, opts...)
	if err != nil {
		return
	}
	defer tx.Terminate()
	select {
	case <-tx.Responses():
	case <-tx.Done():
	case <-ctx.Done():
	}
}

// relayResponse passes one response upstream and reports whether it was
// final.
func (s *Server) relayResponse(req *sip.Request, res *sip.Response, tx sip.ServerTransaction, c *call, fromCaller, initial bool) bool {
	res.RemoveHeader("Via") // ours, the top one (RFC 3261 §16.7 step 3)
	if res.IsSuccess() || res.StatusCode == 183 || res.StatusCode == 180 {
		if err := s.anchor(res, req, c, !fromCaller); err != nil && s.refuseAnchorFailure(req, res, tx, c, initial, err) {
			return true
		}
	}
	if req.Method == sip.BYE && !res.IsProvisional() {
		// Free the media before the phone hears the call ended (as a
		// Kamailio script deletes on BYE): a phone that calls again at
		// once must find the relay's or engine's ports free.
		s.endCall(c, "bye")
	}
	answered := initial && res.IsSuccess()
	if answered {
		// In the call table before the caller hears it: a caller that
		// acts on the 200 at once (its ACK, a re-INVITE, a look at the
		// server's calls) finds the call answered, however late this
		// goroutine runs again.
		c.mu.Lock()
		c.answer, c.state, c.ok = s.cfg.Now(), "answered", res.Clone()
		c.mu.Unlock()
	}
	s.send(tx, req, res)
	if res.IsProvisional() {
		return false
	}
	switch {
	case answered:
		s.event(Event{Kind: "call-answered", CallID: c.id, From: c.caller, To: c.callee})
	case initial && res.StatusCode == sip.StatusRequestTerminated:
		// The callee's 487 can overtake our own end of the cancelled
		// transaction: the reason is the same.
		s.endCall(c, "cancelled")
	case initial:
		s.endCall(c, res.Reason)
	}
	return true
}

// refuseAnchorFailure handles a response whose SDP the anchor could not
// take, and reports whether it answered the transaction itself. A body it
// cannot read passes untouched (counted). When the anchor itself failed
// (an engine without reply or refusing), a provisional response goes on
// without its SDP (no early media around the anchor; the final answer
// decides), and a final one is replaced by the failure's status: the
// callee, whose 2xx is then never acknowledged, ends its side by itself
// (RFC 3261 §13.3.1.4).
func (s *Server) refuseAnchorFailure(req *sip.Request, res *sip.Response, tx sip.ServerTransaction, c *call, initial bool, err error) bool {
	if asMediaError(err).code == 488 {
		return false
	}
	if res.IsProvisional() {
		res.SetBody(nil)
		res.RemoveHeader("Content-Type")
		return false
	}
	s.refuseMedia(tx, req, err)
	if initial {
		s.endCall(c, "media: "+err.Error())
	}
	return true
}

// proxyOptions: Max-Forwards, our Via (at the address the next hop can
// reach) and, on dialog-creating INVITEs, Record-Route toward both sides.
func (s *Server) proxyOptions(dst netip.AddrPort, c *call, recordRoute bool) []sipgo.ClientRequestOption {
	opts := []sipgo.ClientRequestOption{
		s.fromListener,
		sipgo.ClientRequestDecreaseMaxForward,
		func(_ *sipgo.Client, r *sip.Request) error {
			host, _ := s.addrFor(dst)
			via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: r.Transport(), Host: host, Port: s.portFor(dst.Addr()),
				Params: sip.HeaderParams{{K: "branch", V: sip.GenerateBranchN(16)}, {K: "rport", V: ""}}}
			r.PrependHeader(via)
			return nil
		},
	}
	if recordRoute {
		opts = append(opts, func(_ *sipgo.Client, r *sip.Request) error {
			// Double Record-Route (RFC 5658) when the two sides reach us at
			// different addresses or over different transports: the top
			// entry faces the callee, the bottom one the caller.
			callerHost, _ := s.addrFor(c.callerAddr)
			calleeHost, _ := s.addrFor(c.calleeAddr)
			callerPort, calleePort := s.portFor(c.callerAddr.Addr()), s.portFor(c.calleeAddr.Addr())
			r.PrependHeader(s.recordRoute(callerHost, callerPort, c.callerTransport))
			if calleeHost != callerHost || calleePort != callerPort || c.calleeTransport != c.callerTransport {
				r.PrependHeader(s.recordRoute(calleeHost, calleePort, c.calleeTransport))
			}
			return nil
		})
	}
	return opts
}

// fromListener pins UDP requests to the SIP socket the server listens on:
// the phones' NATs only let in packets from the address they registered
// with, and sipgo would otherwise open a new socket for an unknown peer.
func (s *Server) fromListener(_ *sipgo.Client, r *sip.Request) error {
	if r.Transport() == "UDP" && s.udpAddr != nil {
		r.Laddr = sip.Addr{IP: s.udpAddr.IP, Port: s.udpAddr.Port}
	}
	return nil
}

func (s *Server) recordRoute(host string, port int, transport string) *sip.RecordRouteHeader {
	params := sip.HeaderParams{{K: "lr", V: ""}}
	if transport != "" && transport != "UDP" {
		params = append(params, sip.HeaderKV{K: "transport", V: sip.NetworkToLower(transport)})
	}
	return &sip.RecordRouteHeader{Address: sip.Uri{Scheme: "sip", Host: host, Port: port, UriParams: params}}
}

// stripOwnRoutes removes the Route entries naming this server (loose
// routing, RFC 3261 §16.4).
func (s *Server) stripOwnRoutes(req *sip.Request) {
	for r := req.Route(); r != nil && s.isOurs(r.Address); r = req.Route() {
		req.RemoveHeader("Route")
	}
}

// inDialog forwards requests within a dialog the proxy set up, to the
// other party's real signalling address (not its possibly private
// Contact).
func (s *Server) inDialog(req *sip.Request, tx sip.ServerTransaction) {
	s.Counters.Requests.Add(1)
	if s.echo != nil && s.echo.handle(req, tx) {
		return
	}
	c := s.lookupCall(req.CallID().Value())
	if c == nil {
		s.Counters.UnknownDialog.Add(1)
		s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	fromCaller := fromTag(req) == c.callerTag
	fwd := req.Clone()
	s.stripOwnRoutes(fwd)
	if err := s.anchor(fwd, req, c, fromCaller); err != nil {
		s.refuseMedia(tx, req, err)
		return
	}
	if req.Method == sip.BYE {
		s.event(Event{Kind: "bye", CallID: c.id, Addr: sourceOf(req).String()})
	}
	s.forward(req, fwd, tx, c, fromCaller)
}

// onAck forwards the ACK of a 2xx (an ACK for a non-2xx stays in its
// transaction, RFC 3261 §17.2.1).
func (s *Server) onAck(req *sip.Request, tx sip.ServerTransaction) {
	if s.echo != nil && s.echo.handle(req, tx) {
		return
	}
	c := s.lookupCall(req.CallID().Value())
	if c == nil {
		s.Counters.UnknownDialog.Add(1)
		return
	}
	fromCaller := fromTag(req) == c.callerTag
	dst, transport := c.toward(fromCaller)
	fwd := req.Clone()
	s.stripOwnRoutes(fwd)
	s.anchor(fwd, req, c, fromCaller) // late-offer answer; an ACK cannot be refused
	fwd.SetDestination(dst.String())
	fwd.SetTransport(transport)
	if err := s.client.WriteRequest(fwd, s.proxyOptions(dst, c, false)...); err != nil {
		s.cfg.Log.Debug("forward ACK", "err", err)
	}
}

// endCall removes the call, frees its relay ports and keeps its record.
func (s *Server) endCall(c *call, reason string) {
	c.endOnce.Do(func() {
		s.mu.Lock()
		delete(s.calls, c.id)
		s.callsEnded++
		s.endedBy[endKind(reason)]++
		s.mu.Unlock()
		if mc := c.anchor(); mc != nil {
			mc.close() // before the record: the final counts
		}
		rec := s.record(c)
		rec.End, rec.EndReason = s.cfg.Now(), reason
		s.keepEnded(rec)
		s.event(Event{Kind: "call-end", CallID: c.id, From: c.caller, To: c.callee, Detail: reason})
	})
}

// keepEnded keeps an ended call's record for the summary, the latest
// maxEndedCalls.
func (s *Server) keepEnded(rec CallRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ended) >= maxEndedCalls {
		s.ended = s.ended[1:]
	}
	s.ended = append(s.ended, rec)
}

func (s *Server) record(c *call) CallRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := CallRecord{CallID: c.id, Caller: c.caller, Callee: c.callee, CallerAddr: c.callerAddr, CalleeAddr: c.calleeAddr,
		Start: c.start, Answer: c.answer, State: c.state}
	if c.media != nil {
		r.CallerMedia, r.CalleeMedia = c.media.given()
		r.Relay, r.Engine = c.media.stats(), c.media.engine()
	}
	return r
}

// Calls returns the calls in progress and the ended ones (oldest first).
func (s *Server) Calls() (active, ended []CallRecord) {
	s.mu.Lock()
	live := make([]*call, 0, len(s.calls))
	for _, c := range s.calls {
		live = append(live, c)
	}
	ended = append(ended, s.ended...)
	echo := s.echo // set when Serve starts, maybe after this caller started
	s.mu.Unlock()
	for _, c := range live {
		active = append(active, s.record(c))
	}
	if echo != nil {
		active = append(active, echo.active()...)
	}
	return active, ended
}

// byeTimeout bounds the BYEs sent at shutdown: phones answer in
// milliseconds; the server must not hang on one that is gone.
const byeTimeout = 2 * time.Second

// hangUp ends an answered call on both sides with BYE (at shutdown), so the
// phones do not keep sending media into a relay that is gone.
func (s *Server) hangUp(c *call) {
	c.mu.Lock()
	ok, inv := c.ok, c.invite
	c.mu.Unlock()
	if ok == nil || inv == nil || ok.To() == nil || inv.From() == nil || inv.CSeq() == nil {
		return
	}
	var wg sync.WaitGroup
	if contact := ok.Contact(); contact != nil {
		bye := sip.NewRequest(sip.BYE, *contact.Address.Clone())
		bye.AppendHeader(sip.HeaderClone(inv.From()))
		bye.AppendHeader(sip.HeaderClone(ok.To()))
		// Above any CSeq the caller used in this dialog (RFC 3261 §12.2.1.1).
		bye.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo + 1000, MethodName: sip.BYE})
		wg.Add(1)
		go func() { defer wg.Done(); s.sendBye(bye, inv, c, true) }()
	}
	if contact := inv.Contact(); contact != nil {
		to, from := ok.To(), inv.From()
		bye := sip.NewRequest(sip.BYE, *contact.Address.Clone())
		bye.AppendHeader(&sip.FromHeader{DisplayName: to.DisplayName, Address: to.Address, Params: to.Params.Clone()})
		bye.AppendHeader(&sip.ToHeader{DisplayName: from.DisplayName, Address: from.Address, Params: from.Params.Clone()})
		// The callee's CSeq space is unknown here: a high number is above it.
		bye.AppendHeader(&sip.CSeqHeader{SeqNo: 1 << 30, MethodName: sip.BYE})
		wg.Add(1)
		go func() { defer wg.Done(); s.sendBye(bye, inv, c, false) }()
	}
	wg.Wait()
}

// sendBye sends bye to the callee (toCallee) or the caller.
func (s *Server) sendBye(bye, inv *sip.Request, c *call, toCallee bool) {
	dst, transport := c.toward(toCallee)
	bye.AppendHeader(sip.HeaderClone(inv.CallID()))
	maxf := sip.MaxForwardsHeader(70)
	bye.AppendHeader(&maxf)
	bye.SetBody(nil)
	bye.SetTransport(transport)
	bye.SetDestination(dst.String())
	s.requestAndWait(bye, byeTimeout, s.proxyOptions(dst, c, false)...)
}
