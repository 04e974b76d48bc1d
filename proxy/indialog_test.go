package proxy

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/natdoc/natdoc/internal/sipcall"
)

// In-dialog requests through the proxy (CANCEL, re-INVITE, UPDATE), driven
// by plain sipgo user agents on loopback so each step is under the test's
// control.

// uaStep: how long a test waits for one SIP message on loopback. A lost
// datagram would be retransmitted after T1 (500 ms); two seconds is far
// beyond anything but a bug.
const uaStep = 2 * time.Second

type uaRequest struct {
	req *sip.Request
	tx  sip.ServerTransaction
}

// testUA is a bare SIP user agent: every request it receives is handed to
// the test on reqs, which answers it.
type testUA struct {
	user   string
	addr   netip.AddrPort
	client *sipgo.Client
	dua    *sipgo.DialogUA
	reqs   chan uaRequest
}

func newTestUA(t *testing.T, user, ip string) *testUA {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	u := &testUA{user: user, addr: conn.LocalAddr().(*net.UDPAddr).AddrPort(), reqs: make(chan uaRequest, 16)}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("natdoc-test-" + user))
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := sipgo.NewServer(ua)
	u.client, err = sipgo.NewClient(ua, sipgo.WithClientHostname(ip), sipgo.WithClientPort(int(u.addr.Port())),
		sipgo.WithClientConnectionAddr(u.addr.String()))
	if err != nil {
		t.Fatal(err)
	}
	u.dua = &sipgo.DialogUA{Client: u.client, ContactHDR: sip.ContactHeader{
		Address: sip.Uri{Scheme: "sip", User: user, Host: ip, Port: int(u.addr.Port())}}}
	hand := func(req *sip.Request, tx sip.ServerTransaction) {
		u.reqs <- uaRequest{req, tx}
		if !req.IsAck() {
			<-tx.Done() // keep the transaction alive until the test answered
		}
	}
	for _, m := range []sip.RequestMethod{sip.INVITE, sip.ACK, sip.BYE, sip.UPDATE, sip.PRACK, sip.CANCEL, sip.OPTIONS} {
		srv.OnRequest(m, hand)
	}
	go srv.ServeUDP(conn)
	if err := sipcall.WaitServing(ua, conn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close(); conn.Close() })
	return u
}

func (u *testUA) register(t *testing.T, server string) {
	t.Helper()
	aor := sip.Uri{Scheme: "sip", User: u.user, Host: strings.Split(server, ":")[0]}
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: aor.Host})
	req.AppendHeader(&sip.ToHeader{Address: aor})
	req.AppendHeader(&sip.FromHeader{Address: aor, Params: sip.HeaderParams{{K: "tag", V: sip.GenerateTagN(10)}}})
	req.AppendHeader(&u.dua.ContactHDR)
	req.SetDestination(server)
	ctx, cancel := context.WithTimeout(context.Background(), uaStep)
	defer cancel()
	res, err := u.client.Do(ctx, req)
	if err != nil || !res.IsSuccess() {
		t.Fatalf("register %s: %v %v", u.user, err, res)
	}
}

// do sends a request outside any dialog state (the test built its headers).
func (u *testUA) do(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	return u.client.Do(ctx, req)
}

type uaResult struct {
	res *sip.Response
	err error
}

// doAsync sends req with do in the background, so the test can play the
// other side before the answer comes back.
func doAsync(ctx context.Context, do func(context.Context, *sip.Request) (*sip.Response, error), req *sip.Request) <-chan uaResult {
	done := make(chan uaResult, 1)
	go func() { res, err := do(ctx, req); done <- uaResult{res, err} }()
	return done
}

// next waits for the next request of method m, answering OPTIONS pings
// and failing on anything else.
func (u *testUA) next(t *testing.T, m sip.RequestMethod) uaRequest {
	t.Helper()
	deadline := time.After(uaStep)
	for {
		select {
		case r := <-u.reqs:
			if r.req.Method == m {
				return r
			}
			if r.req.Method == sip.OPTIONS {
				r.tx.Respond(sip.NewResponseFromRequest(r.req, 200, "OK", nil))
				continue
			}
			t.Fatalf("%s: got %s, want %s", u.user, r.req.Method, m)
		case <-deadline:
			t.Fatalf("%s: no %s within %v", u.user, m, uaStep)
		}
	}
}

func sdpBody(ip string, port int, direction string) []byte {
	return []byte("v=0\r\no=t 1 1 IN IP4 " + ip + "\r\ns=t\r\nc=IN IP4 " + ip + "\r\nt=0 0\r\nm=audio " +
		itoa(uint64(port)) + " RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=" + direction + "\r\n")
}

func sdpResponse(req *sip.Request, body []byte) *sip.Response {
	res := sip.NewResponseFromRequest(req, 200, "OK", body)
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	return res
}

// mustAudio parses the audio address of a forwarded SDP and checks its
// direction attribute survived.
func mustAudio(t *testing.T, body []byte, direction string) netip.AddrPort {
	t.Helper()
	ma, err := sipcall.AudioAddr(body)
	if err != nil {
		t.Fatalf("sdp %q: %v", body, err)
	}
	if !strings.Contains(string(body), "a="+direction) {
		t.Errorf("direction a=%s lost: %q", direction, body)
	}
	return ma.RTP
}

// startDialog has caller invite callee through the server; the callee
// rings (180) and the returned request is the INVITE it got.
func startDialog(t *testing.T, ts *testServer, caller, callee *testUA) (*sipgo.DialogClientSession, uaRequest) {
	t.Helper()
	caller.register(t, ts.addr)
	callee.register(t, ts.addr)
	inv := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: callee.user, Host: "127.0.0.1"})
	inv.SetBody(sdpBody(caller.addr.Addr().String(), 30000, "sendrecv"))
	inv.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	inv.SetDestination(ts.addr)
	sess, err := caller.dua.WriteInvite(context.Background(), inv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	in := callee.next(t, sip.INVITE)
	ringing := sip.NewResponseFromRequest(in.req, 180, "Ringing", nil)
	ringing.To().Params.Add("tag", "callee-tag")
	if err := in.tx.Respond(ringing); err != nil {
		t.Fatal(err)
	}
	return sess, in
}

// TestCancelRingingCall: the caller cancels while the callee rings. The
// callee sees the CANCEL and its INVITE ends with 487, the caller gets 487,
// and the relay ports go back to the pool.
func TestCancelRingingCall(t *testing.T) {
	ts := startServer(t, Config{Fix: true}, 27000)
	caller, callee := newTestUA(t, "alice", "127.0.0.2"), newTestUA(t, "bob", "127.0.0.3")
	sess, in := startDialog(t, ts, caller, callee)
	if got := ts.relay.FreePairs(); got != 98 {
		t.Fatalf("free pairs while ringing %d, want 98 (a pair per leg)", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	waited := make(chan error, 1)
	ringing := make(chan struct{}, 1)
	opts := sipgo.AnswerOptions{OnResponse: func(r *sip.Response) error {
		if r.StatusCode == 180 {
			ringing <- struct{}{}
		}
		return nil
	}}
	go func() { waited <- sess.WaitAnswer(ctx, opts) }()
	// WaitAnswer must have seen the 180 before it may CANCEL (RFC 3261 §9.1).
	select {
	case <-ringing:
	case <-time.After(uaStep):
		t.Fatal("caller: no 180")
	}
	cancel()

	// The callee's transaction layer answers the CANCEL itself (200, then 487
	// for the INVITE); its transaction then waits for the ACK of the 487.
	waitFor(t, func() bool { return in.tx.Err() == sip.ErrTransactionCanceled })
	select {
	case err := <-waited:
		if err != context.Canceled {
			t.Errorf("WaitAnswer: %v", err)
		}
	case <-time.After(uaStep):
		t.Fatal("caller: no end of the cancelled INVITE")
	}
	if sess.InviteResponse == nil || sess.InviteResponse.StatusCode != 487 {
		t.Errorf("caller's final response %v, want 487", sess.InviteResponse)
	}
	waitFor(t, func() bool { return ts.relay.FreePairs() == 100 })
	active, ended := ts.srv.Calls()
	if len(active) != 0 || len(ended) != 1 || ended[0].EndReason != "cancelled" {
		t.Errorf("calls active %+v ended %+v", active, ended)
	}
}

// answerDialog has the callee answer and the caller ACK; it returns the
// relay's port pair as each side saw it in SDP.
func answerDialog(t *testing.T, sess *sipgo.DialogClientSession, caller, callee *testUA, in uaRequest) (toCallee, toCaller netip.AddrPort) {
	t.Helper()
	toCallee = mustAudio(t, in.req.Body(), "sendrecv")
	ok := sdpResponse(in.req, sdpBody(callee.addr.Addr().String(), 31000, "sendrecv"))
	ok.To().Params.Add("tag", "callee-tag")
	ok.AppendHeader(&callee.dua.ContactHDR)
	if err := in.tx.Respond(ok); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), uaStep)
	defer cancel()
	if err := sess.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		t.Fatal(err)
	}
	toCaller = mustAudio(t, sess.InviteResponse.Body(), "sendrecv")
	if err := sess.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	callee.next(t, sip.ACK)
	return toCallee, toCaller
}

// reinvite sends a re-INVITE (or UPDATE) with direction from the caller,
// has the callee answer with answerDir, and checks both SDPs came through
// the relay at the same ports as the initial offer/answer.
func reinvite(t *testing.T, method sip.RequestMethod, sess *sipgo.DialogClientSession, caller, callee *testUA, direction, answerDir string, toCallee, toCaller netip.AddrPort) {
	t.Helper()
	req := sip.NewRequest(method, callee.dua.ContactHDR.Address)
	req.SetBody(sdpBody(caller.addr.Addr().String(), 30000, direction))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*uaStep)
	defer cancel()
	done := doAsync(ctx, sess.Do, req)
	in := callee.next(t, method)
	if got := mustAudio(t, in.req.Body(), direction); got != toCallee {
		t.Errorf("%s %s: callee sees media at %v, want the relay's %v", method, direction, got, toCallee)
	}
	if err := in.tx.Respond(sdpResponse(in.req, sdpBody(callee.addr.Addr().String(), 31000, answerDir))); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.res.StatusCode != 200 {
		t.Fatalf("%s %s: %v %v", method, direction, r.err, r.res)
	}
	if got := mustAudio(t, r.res.Body(), answerDir); got != toCaller {
		t.Errorf("%s %s: caller sees media at %v, want the relay's %v", method, direction, got, toCaller)
	}
	if method == sip.INVITE {
		ack := sip.NewRequest(sip.ACK, callee.dua.ContactHDR.Address)
		if err := sess.WriteRequest(ack); err != nil {
			t.Fatal(err)
		}
		if got := callee.next(t, sip.ACK); got.req.CSeq().SeqNo != req.CSeq().SeqNo {
			t.Errorf("ACK CSeq %d, want the re-INVITE's %d", got.req.CSeq().SeqNo, req.CSeq().SeqNo)
		}
	}
}

// TestReinviteHoldAndResume: a re-INVITE puts the call on hold and another
// takes it off; in fix mode each SDP is anchored again at the same relay
// ports and the call keeps its relay session.
func TestReinviteHoldAndResume(t *testing.T) {
	ts := startServer(t, Config{Fix: true}, 27200)
	caller, callee := newTestUA(t, "alice", "127.0.0.2"), newTestUA(t, "bob", "127.0.0.3")
	sess, in := startDialog(t, ts, caller, callee)
	toCallee, toCaller := answerDialog(t, sess, caller, callee, in)
	if toCallee.Addr().String() != "127.0.0.1" || toCaller.Addr().String() != "127.0.0.1" || toCallee == toCaller {
		t.Fatalf("initial SDPs not anchored: callee sees %v, caller sees %v", toCallee, toCaller)
	}
	reinvite(t, sip.INVITE, sess, caller, callee, "sendonly", "recvonly", toCallee, toCaller)
	reinvite(t, sip.INVITE, sess, caller, callee, "sendrecv", "sendrecv", toCallee, toCaller)
	active, _ := ts.srv.Calls()
	if len(active) != 1 || active[0].State != "answered" || ts.relay.FreePairs() != 98 {
		t.Fatalf("after hold and resume: calls %+v, free pairs %d", active, ts.relay.FreePairs())
	}
	hangUpDialog(t, ts, sess, callee)
}

// hangUpDialog: the caller's BYE reaches the callee and frees the relay.
func hangUpDialog(t *testing.T, ts *testServer, sess *sipgo.DialogClientSession, callee *testUA) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), uaStep)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sess.Bye(ctx) }()
	bye := callee.next(t, sip.BYE)
	bye.tx.Respond(sip.NewResponseFromRequest(bye.req, 200, "OK", nil))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return ts.relay.FreePairs() == 100 })
}

// TestUpdateInDialog: an UPDATE with an SDP offer (RFC 3311) is forwarded
// and both its offer and answer are anchored at the call's relay ports.
func TestUpdateInDialog(t *testing.T) {
	ts := startServer(t, Config{Fix: true}, 27400)
	caller, callee := newTestUA(t, "alice", "127.0.0.2"), newTestUA(t, "bob", "127.0.0.3")
	sess, in := startDialog(t, ts, caller, callee)
	toCallee, toCaller := answerDialog(t, sess, caller, callee, in)
	reinvite(t, sip.UPDATE, sess, caller, callee, "sendrecv", "sendrecv", toCallee, toCaller)
	if active, _ := ts.srv.Calls(); len(active) != 1 || ts.relay.FreePairs() != 98 {
		t.Fatalf("after UPDATE: calls %+v, free pairs %d", active, ts.relay.FreePairs())
	}
	updateFromCallee(t, ts, in.req, caller, callee, toCallee, toCaller)
	hangUpDialog(t, ts, sess, callee)
}

// updateFromCallee: the callee sends an UPDATE back along the route set
// the INVITE recorded; the server forwards it to the caller's real address
// and anchors offer and answer at the same relay ports.
func updateFromCallee(t *testing.T, ts *testServer, inv *sip.Request, caller, callee *testUA, toCallee, toCaller netip.AddrPort) {
	t.Helper()
	req := sip.NewRequest(sip.UPDATE, inv.Contact().Address)
	from := &sip.FromHeader{Address: inv.To().Address, Params: sip.HeaderParams{{K: "tag", V: "callee-tag"}}}
	to := &sip.ToHeader{Address: inv.From().Address, Params: inv.From().Params.Clone()}
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(sip.HeaderClone(inv.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.UPDATE})
	// The UAS's route set is the Record-Route list in order (RFC 3261
	// §12.1.1).
	for _, rr := range inv.GetHeaders("Record-Route") {
		req.AppendHeader(sip.NewHeader("Route", rr.Value()))
	}
	req.AppendHeader(&callee.dua.ContactHDR)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(sdpBody(callee.addr.Addr().String(), 31000, "sendonly"))
	req.SetDestination(ts.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 2*uaStep)
	defer cancel()
	done := doAsync(ctx, callee.do, req)
	in := caller.next(t, sip.UPDATE)
	if got := mustAudio(t, in.req.Body(), "sendonly"); got != toCaller {
		t.Errorf("UPDATE from the callee: caller sees media at %v, want the relay's %v", got, toCaller)
	}
	if src := in.req.Source(); !strings.HasPrefix(src, "127.0.0.1:") {
		t.Errorf("UPDATE reached the caller from %s, not through the server", src)
	}
	if err := in.tx.Respond(sdpResponse(in.req, sdpBody(caller.addr.Addr().String(), 30000, "recvonly"))); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.res.StatusCode != 200 {
		t.Fatalf("UPDATE from the callee: %v %v", r.err, r.res)
	}
	if got := mustAudio(t, r.res.Body(), "recvonly"); got != toCallee {
		t.Errorf("UPDATE from the callee: callee sees media at %v, want the relay's %v", got, toCallee)
	}
}

// TestPrackEarlyMedia: reliable provisional responses (RFC 3262). The
// callee answers early with a 183 carrying SDP, Require: 100rel and an
// RSeq; the caller acknowledges it with a PRACK routed by the Record-Route
// set of the 183. The server forwards the PRACK to the callee's real
// address with its RAck intact, anchors the early SDP at the relay, and
// the callee's early media reaches the caller through the relay before the
// call is answered.
func TestPrackEarlyMedia(t *testing.T) {
	ts := startServer(t, Config{Fix: true}, 27600)
	caller, callee := newTestUA(t, "alice", "127.0.0.2"), newTestUA(t, "bob", "127.0.0.3")
	callerMedia := listenMedia(t, "127.0.0.2:30000")
	calleeMedia := listenMedia(t, "127.0.0.3:31000")
	sess, in := startDialog(t, ts, caller, callee)
	toCallee := mustAudio(t, in.req.Body(), "sendrecv")

	early := make(chan *sip.Response, 1)
	answered := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*uaStep)
		defer cancel()
		answered <- sess.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(r *sip.Response) error {
			if r.StatusCode == 183 {
				early <- r
			}
			return nil
		}})
	}()
	progress := sip.NewResponseFromRequest(in.req, 183, "Session Progress", sdpBody(callee.addr.Addr().String(), 31000, "sendrecv"))
	progress.To().Params.Add("tag", "callee-tag")
	progress.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	progress.AppendHeader(sip.NewHeader("Require", "100rel"))
	progress.AppendHeader(sip.NewHeader("RSeq", "1"))
	progress.AppendHeader(&callee.dua.ContactHDR)
	if err := in.tx.Respond(progress); err != nil {
		t.Fatal(err)
	}
	var got183 *sip.Response
	select {
	case got183 = <-early:
	case <-time.After(uaStep):
		t.Fatal("caller: no 183")
	}
	toCaller := mustAudio(t, got183.Body(), "sendrecv")
	if toCaller.Addr().String() != "127.0.0.1" || toCaller == toCallee {
		t.Fatalf("early SDP not anchored: caller sees %v, callee sees %v", toCaller, toCallee)
	}
	if h := got183.GetHeader("RSeq"); h == nil || h.Value() != "1" {
		t.Errorf("183 reached the caller without its RSeq: %v", h)
	}

	prackThroughServer(t, ts, in.req, got183, caller, callee)

	// Early media: the callee plays a ring-back tone before answering.
	for seq := range 5 {
		if _, err := calleeMedia.WriteToUDPAddrPort(rtpPacket(uint16(seq)), toCallee); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 1500)
	callerMedia.SetReadDeadline(time.Now().Add(uaStep))
	n, from, err := callerMedia.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("early media did not reach the caller: %v", err)
	}
	if from != toCaller || n != len(rtpPacket(0)) {
		t.Errorf("early media came from %v (%d bytes), want the relay's %v", from, n, toCaller)
	}

	ok := sdpResponse(in.req, nil)
	ok.To().Params.Add("tag", "callee-tag")
	ok.AppendHeader(&callee.dua.ContactHDR)
	if err := in.tx.Respond(ok); err != nil {
		t.Fatal(err)
	}
	if err := <-answered; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), uaStep)
	defer cancel()
	if err := sess.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	callee.next(t, sip.ACK)
	hangUpDialog(t, ts, sess, callee)
}

// prackThroughServer sends the caller's PRACK for a reliable 183 along the
// 183's route set (its Record-Route in reverse, RFC 3261 §12.1.2) and has
// the callee answer it.
func prackThroughServer(t *testing.T, ts *testServer, inv *sip.Request, res *sip.Response, caller, callee *testUA) {
	t.Helper()
	prack := sip.NewRequest(sip.PRACK, res.Contact().Address)
	prack.AppendHeader(sip.HeaderClone(inv.From()))
	prack.AppendHeader(sip.HeaderClone(res.To()))
	prack.AppendHeader(sip.HeaderClone(inv.CallID()))
	prack.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo + 1, MethodName: sip.PRACK})
	rack := "1 " + itoa(uint64(inv.CSeq().SeqNo)) + " INVITE"
	prack.AppendHeader(sip.NewHeader("RAck", rack))
	rr := res.GetHeaders("Record-Route")
	for i := len(rr) - 1; i >= 0; i-- {
		prack.AppendHeader(sip.NewHeader("Route", rr[i].Value()))
	}
	prack.AppendHeader(&caller.dua.ContactHDR)
	prack.SetDestination(ts.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 2*uaStep)
	defer cancel()
	done := doAsync(ctx, caller.do, prack)
	got := callee.next(t, sip.PRACK)
	if h := got.req.GetHeader("RAck"); h == nil || h.Value() != rack {
		t.Errorf("PRACK reached the callee with RAck %v, want %q", h, rack)
	}
	if src := got.req.Source(); !strings.HasPrefix(src, "127.0.0.1:") {
		t.Errorf("PRACK reached the callee from %s, not through the server", src)
	}
	if err := got.tx.Respond(sip.NewResponseFromRequest(got.req, 200, "OK", nil)); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.res.StatusCode != 200 {
		t.Fatalf("PRACK: %v %v", r.err, r.res)
	}
}

func listenMedia(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// rtpPacket: a minimal RTP header (version 2, PCMU) and 160 bytes of
// payload, as a G.711 phone sends every 20 ms.
func rtpPacket(seq uint16) []byte {
	p := make([]byte, 12+160)
	p[0], p[1] = 0x80, 0
	p[2], p[3] = byte(seq>>8), byte(seq)
	p[11] = 7 // SSRC
	return p
}
