package phone

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/natdoc/natdoc/internal/sipcall"
	"github.com/natdoc/natdoc/report"
)

// SDPMode says which address a phone puts in its SDP.
type SDPMode string

const (
	SDPLocal    SDPMode = "local"    // the phone's own (private) address: the common mistake
	SDPSTUN     SDPMode = "stun"     // the public address STUN reports for the RTP socket
	SDPExplicit SDPMode = "explicit" // an address the user configured
)

// Phone timing, with reasons.
const (
	// registerExpires: phones ask for minutes; the server's OPTIONS pings
	// keep the NAT open in between.
	registerExpires = 300
	// drainAfterMedia: packets still in flight when sending stops (a
	// relay and two NATs add well under 100 ms here).
	drainAfterMedia = 300 * time.Millisecond
	// statsTimeout bounds the end-of-call INFO exchange.
	statsTimeout = 5 * time.Second
)

// Config configures a simulated phone.
type Config struct {
	User, Password string
	// Server is the SIP server's host:port.
	Server string
	// Conn is the phone's SIP socket (test seam); nil opens one on LocalIP.
	Conn *net.UDPConn
	// LocalIP is the phone's own address for Contact and local SDP; found
	// from Conn or the route to Server when invalid.
	LocalIP netip.Addr
	SDPMode SDPMode
	SDPAddr netip.Addr     // for SDPExplicit
	STUN    netip.AddrPort // for SDPSTUN
	// Symmetric: send RTP from the port it receives on (RFC 4961), as
	// most phones do. Off: a separate sending socket.
	Symmetric bool
	// Comedia: send to where the other side's media comes from instead of
	// its SDP address (what servers and some softphones do).
	Comedia   bool
	RTPPort   int
	ListenUDP func(network, addr string) (*net.UDPConn, error)
	// Label is put in every payload so the other side can name us.
	Label string
	Log   *slog.Logger
	// Resolver looks up the host names SIP hands the phone (a server's
	// Record-Route or Contact by name); nil: the system's.
	Resolver *net.Resolver
}

// CallResult is what one phone measured on one call.
type CallResult struct {
	CallID    string
	Status    int // final INVITE response code
	Local     string
	Remote    string
	SDPAddr   netip.AddrPort // what this phone put in its SDP
	RemoteSDP netip.AddrPort // what the other side's SDP said
	Sent      sipcall.DirStats
	Received  sipcall.DirStats
	// PeerReceived is how many of our packets the other phone said it got
	// (end-of-call INFO, else its latest payload); -1 unknown.
	PeerReceived int64
	Verdict      report.Verdict
	CannotHear   string // "local" (this phone) or "remote"
	Explain      string
	Duration     time.Duration
	// EchoMedia is how natdoc serve's echo user sent its audio on a call to
	// it (sipcall.EchoViaRelay, sipcall.EchoToSDP); empty for other peers.
	EchoMedia string
}

// Phone is a simulated SIP phone.
type Phone struct {
	cfg        Config
	ua         *sipgo.UserAgent
	srv        *sipgo.Server
	client     *sipgo.Client
	dua        *sipgo.DialogUA
	serverAddr string
	sipPort    int
	ownsConn   bool

	incoming chan *incomingCall
	mu       sync.Mutex
	active   map[string]*activeCall
	stop     context.CancelFunc
}

type incomingCall struct {
	req  *sip.Request
	tx   sip.ServerTransaction
	done chan struct{}
}

type activeCall struct {
	uas     *sipgo.DialogServerSession // when we answered
	media   *sipcall.Stream
	peerRx  int64 // from INFO; -1 none
	bye     chan struct{}
	byeOnce sync.Once
}

// New opens the phone's SIP socket and starts answering requests.
func New(cfg Config) (*Phone, error) {
	if cfg.User == "" || cfg.Server == "" {
		return nil, errors.New("phone: user and server are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Label == "" {
		cfg.Label = cfg.User
	}
	if cfg.SDPMode == "" {
		cfg.SDPMode = SDPLocal
	}
	if cfg.ListenUDP == nil {
		cfg.ListenUDP = func(network, addr string) (*net.UDPConn, error) {
			a, err := net.ResolveUDPAddr(network, addr)
			if err != nil {
				return nil, err
			}
			return net.ListenUDP(network, a)
		}
	}
	p := &Phone{cfg: cfg, serverAddr: cfg.Server, incoming: make(chan *incomingCall), active: make(map[string]*activeCall)}
	if err := p.openSIP(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Phone) openSIP() error {
	if !p.cfg.LocalIP.IsValid() {
		ip, err := routeTo(p.cfg.Server)
		if err != nil {
			return err
		}
		p.cfg.LocalIP = ip
	}
	if p.cfg.Conn == nil {
		c, err := p.cfg.ListenUDP("udp4", netip.AddrPortFrom(p.cfg.LocalIP, 0).String())
		if err != nil {
			return fmt.Errorf("phone: sip socket: %w", err)
		}
		p.cfg.Conn, p.ownsConn = c, true
	}
	la := p.cfg.Conn.LocalAddr().(*net.UDPAddr).AddrPort()
	p.sipPort = int(la.Port())
	if la.Addr().IsUnspecified() {
		la = netip.AddrPortFrom(p.cfg.LocalIP, la.Port())
	}
	uaOpts := []sipgo.UserAgentOption{sipgo.WithUserAgent("natdoc-phone")}
	if p.cfg.Resolver != nil {
		uaOpts = append(uaOpts, sipgo.WithUserAgentDNSResolver(p.cfg.Resolver))
	}
	ua, err := sipgo.NewUA(uaOpts...)
	if err != nil {
		return fmt.Errorf("phone: %w", err)
	}
	p.ua = ua
	p.srv, _ = sipgo.NewServer(ua, sipgo.WithServerLogger(p.cfg.Log))
	p.client, err = sipgo.NewClient(ua, sipgo.WithClientHostname(p.cfg.LocalIP.String()), sipgo.WithClientPort(p.sipPort),
		sipgo.WithClientNAT(), sipgo.WithClientConnectionAddr(p.cfg.Conn.LocalAddr().String()))
	if err != nil {
		return fmt.Errorf("phone: %w", err)
	}
	p.dua = &sipgo.DialogUA{Client: p.client, ContactHDR: sip.ContactHeader{
		Address: sip.Uri{Scheme: "sip", User: p.cfg.User, Host: p.cfg.LocalIP.String(), Port: p.sipPort}}}
	p.routes()
	ctx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	go p.srv.ServeUDP(p.cfg.Conn)
	go func() { <-ctx.Done(); p.cfg.Conn.Close() }()
	if err := sipcall.WaitServing(ua, p.cfg.Conn); err != nil {
		p.Close()
		return err
	}
	return nil
}

// routeTo finds the local address the OS would use toward server; a UDP
// "connect" sends nothing.
func routeTo(server string) (netip.Addr, error) {
	c, err := net.Dial("udp4", server)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("phone: no route to %s: %w", server, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

func (p *Phone) routes() {
	p.srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		if sipcall.HasToTag(req) {
			// re-INVITE: keep the session as it is (RFC 3261 §14.2 allows
			// answering with the same SDP; 488 would end nothing either).
			tx.Respond(sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
			return
		}
		in := &incomingCall{req: req, tx: tx, done: make(chan struct{})}
		select {
		case p.incoming <- in:
			<-in.done
		case <-time.After(100 * time.Millisecond):
			tx.Respond(sip.NewResponseFromRequest(req, 486, "Busy Here", nil))
		}
	})
	p.srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) {
		// The dialog stops retransmitting its 200 OK on the ACK.
		if ac := p.call(req.CallID().Value()); ac != nil && ac.uas != nil {
			ac.uas.ReadAck(req, tx)
		}
	})
	p.srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	p.srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		if ac := p.call(req.CallID().Value()); ac != nil {
			ac.byeOnce.Do(func() { close(ac.bye) })
		}
	})
	p.srv.OnInfo(func(req *sip.Request, tx sip.ServerTransaction) {
		ac := p.call(req.CallID().Value())
		if ac == nil {
			tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
			return
		}
		if n, ok := sipcall.ParseStats(req.Body()); ok {
			p.mu.Lock()
			ac.peerRx = n
			p.mu.Unlock()
		}
		rx := ac.media.Freeze()
		res := sip.NewResponseFromRequest(req, 200, "OK", sipcall.StatsBody(rx.Packets))
		res.AppendHeader(sip.NewHeader("Content-Type", sipcall.StatsContentType))
		tx.Respond(res)
	})
}

func (p *Phone) call(id string) *activeCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.active[id]
}

// Close stops the phone and closes its sockets.
func (p *Phone) Close() {
	p.stop()
	p.ua.Close()
}

// Addr is the phone's SIP address as bound.
func (p *Phone) Addr() netip.AddrPort { return netip.AddrPortFrom(p.cfg.LocalIP, uint16(p.sipPort)) }

func (p *Phone) serverHost() string {
	host, _, err := net.SplitHostPort(p.serverAddr)
	if err != nil {
		return p.serverAddr
	}
	return host
}

func (p *Phone) serverURI(user string) sip.Uri {
	host, port, _ := sip.ParseAddr(p.serverAddr)
	return sip.Uri{Scheme: "sip", User: user, Host: host, Port: port}
}

// Register registers the phone's Contact with the server (digest
// authentication when a password is set).
func (p *Phone) Register(ctx context.Context) error {
	req := sip.NewRequest(sip.REGISTER, p.serverURI(""))
	aor := p.serverURI(p.cfg.User)
	aor.Port = 0
	req.AppendHeader(&sip.ToHeader{Address: aor})
	req.AppendHeader(&sip.FromHeader{Address: aor, Params: sip.HeaderParams{{K: "tag", V: sip.GenerateTagN(10)}}})
	req.AppendHeader(&p.dua.ContactHDR)
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(registerExpires)))
	res, err := p.client.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("phone: register %s: %w", p.cfg.User, err)
	}
	if (res.StatusCode == 401 || res.StatusCode == 407) && p.cfg.Password != "" {
		res, err = p.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: p.cfg.User, Password: p.cfg.Password})
		if err != nil {
			return fmt.Errorf("phone: register %s: %w", p.cfg.User, err)
		}
	}
	if !res.IsSuccess() {
		return fmt.Errorf("phone: register %s: %d %s", p.cfg.User, res.StatusCode, res.Reason)
	}
	return nil
}

// openMedia opens the RTP socket(s) and picks the SDP address.
func (p *Phone) openMedia(ctx context.Context) (*sipcall.Stream, netip.AddrPort, error) {
	recv, err := p.cfg.ListenUDP("udp4", netip.AddrPortFrom(p.cfg.LocalIP, uint16(p.cfg.RTPPort)).String())
	if err != nil {
		return nil, netip.AddrPort{}, fmt.Errorf("phone: rtp socket: %w", err)
	}
	local := recv.LocalAddr().(*net.UDPAddr).AddrPort()
	local = netip.AddrPortFrom(p.cfg.LocalIP, local.Port())
	sdpAddr := local
	switch p.cfg.SDPMode {
	case SDPSTUN:
		mapped, err := sipcall.STUNMapped(ctx, recv, p.cfg.STUN)
		if err != nil {
			recv.Close()
			return nil, netip.AddrPort{}, fmt.Errorf("phone: --sdp-addr stun: %w", err)
		}
		sdpAddr = mapped
	case SDPExplicit:
		sdpAddr = netip.AddrPortFrom(p.cfg.SDPAddr, local.Port())
	}
	send := recv
	if !p.cfg.Symmetric {
		// An asymmetric phone sends from another port than it listens on.
		if send, err = p.cfg.ListenUDP("udp4", netip.AddrPortFrom(p.cfg.LocalIP, 0).String()); err != nil {
			recv.Close()
			return nil, netip.AddrPort{}, fmt.Errorf("phone: rtp send socket: %w", err)
		}
	}
	return sipcall.NewStream(recv, send, p.cfg.Comedia, p.cfg.Label), sdpAddr, nil
}

var sdpContentType = sip.NewHeader("Content-Type", "application/sdp")

// Call calls target (a user name or sip: URI), sends audio for d, then
// exchanges counts with the other phone and hangs up.
func (p *Phone) Call(ctx context.Context, target string, d time.Duration) (*CallResult, error) {
	uri, err := p.targetURI(target)
	if err != nil {
		return nil, err
	}
	m, sdpAddr, err := p.openMedia(ctx)
	if err != nil {
		return nil, err
	}
	res := &CallResult{Local: p.cfg.User, Remote: uri.User, SDPAddr: sdpAddr, PeerReceived: -1}
	sess, err := p.dua.WriteInvite(ctx, p.invite(uri, sdpAddr))
	if err != nil {
		m.CloseSockets()
		return nil, fmt.Errorf("phone: invite %s: %w", target, err)
	}
	defer sess.Close()
	res.CallID = sess.InviteRequest.CallID().Value()
	err = sess.WaitAnswer(ctx, sipgo.AnswerOptions{Username: p.cfg.User, Password: p.cfg.Password})
	if sess.InviteResponse != nil {
		res.Status = sess.InviteResponse.StatusCode
	}
	if err != nil {
		m.CloseSockets()
		return res, fmt.Errorf("phone: call %s: %w", target, err)
	}
	remote, err := sipcall.AudioAddr(sess.InviteResponse.Body())
	if err != nil {
		m.CloseSockets()
		sess.Ack(ctx)
		sess.Bye(ctx)
		return res, fmt.Errorf("phone: answer sdp: %w", err)
	}
	res.RemoteSDP, res.EchoMedia = remote.RTP, echoMedia(sess.InviteResponse)
	ac := p.track(res.CallID, m)
	defer p.untrack(res.CallID)
	m.SetRemote(remote.RTP)
	start := time.Now()
	// Media starts on the 200 OK, before the ACK, as phones do: our first
	// packet opens our NAT toward the callee before its media can arrive
	// (an unsolicited packet first would leave a conntrack entry that makes
	// the NAT pick another port for our flow).
	stopMedia := runMedia(m, d)
	m.WaitFirstSend()
	if err := sess.Ack(ctx); err != nil {
		p.cfg.Log.Debug("ack", "err", err)
	}
	select {
	case <-time.After(d + drainAfterMedia):
	case <-ac.bye:
	case <-ctx.Done():
	}
	if !isClosed(ac.bye) {
		p.hangUp(ctx, ac, sess, sess.InviteResponse.Contact())
	}
	stopMedia()
	res.Duration = time.Since(start)
	p.finish(res, ac)
	return res, nil
}

// targetURI reads a user name (at the server) or a sip: URI.
func (p *Phone) targetURI(target string) (sip.Uri, error) {
	uri := p.serverURI(target)
	if strings.HasPrefix(target, "sip:") {
		if err := sip.ParseUri(target, &uri); err != nil {
			return uri, fmt.Errorf("phone: target %q: %w", target, err)
		}
	}
	return uri, nil
}

// invite is the INVITE to uri offering audio at sdpAddr.
func (p *Phone) invite(uri sip.Uri, sdpAddr netip.AddrPort) *sip.Request {
	from := &sip.FromHeader{Address: p.serverURI(p.cfg.User), Params: sip.HeaderParams{{K: "tag", V: sip.GenerateTagN(16)}}}
	from.Address.Port = 0
	inv := sip.NewRequest(sip.INVITE, uri)
	inv.SetBody(sipcall.Offer(sdpAddr))
	inv.AppendHeader(sdpContentType)
	inv.AppendHeader(from)
	// The server is the outbound proxy whatever the URI's host: the phone
	// never resolves or contacts another domain.
	inv.SetDestination(p.serverAddr)
	return inv
}

// runMedia sends and receives on m for at most d in the background; stop
// ends it and waits until its sockets are closed.
func runMedia(m *sipcall.Stream, d time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx, d); close(done) }()
	return func() { cancel(); <-done }
}

// dialog is what ending a call needs of either side's sipgo session.
type dialog interface {
	Do(ctx context.Context, req *sip.Request) (*sip.Response, error)
	Bye(ctx context.Context) error
}

// hangUp exchanges counts with the other phone and sends BYE.
func (p *Phone) hangUp(ctx context.Context, ac *activeCall, d dialog, contact *sip.ContactHeader) {
	p.exchangeStats(ctx, ac, d.Do, contact)
	byeCtx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	d.Bye(byeCtx)
}

// Answer waits for one call, answers it, sends audio until the caller
// hangs up (at most maxDuration), and reports.
func (p *Phone) Answer(ctx context.Context, maxDuration time.Duration) (*CallResult, error) {
	var in *incomingCall
	select {
	case in = <-p.incoming:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer close(in.done)
	res := &CallResult{Local: p.cfg.User, PeerReceived: -1, CallID: in.req.CallID().Value()}
	if f := in.req.From(); f != nil {
		res.Remote = f.Address.User
	}
	sess, m, err := p.accept(ctx, in, res)
	if err != nil {
		return res, err
	}
	defer sess.Close()
	ac := p.track(res.CallID, m)
	defer p.untrack(res.CallID)
	p.mu.Lock()
	ac.uas = sess
	p.mu.Unlock()
	if err := sess.RespondSDP(sipcall.Offer(res.SDPAddr)); err != nil {
		m.CloseSockets()
		return res, fmt.Errorf("phone: answer: %w", err)
	}
	res.Status = 200
	m.SetRemote(res.RemoteSDP)
	start := time.Now()
	stopMedia := runMedia(m, maxDuration)
	select {
	case <-ac.bye:
	case <-time.After(maxDuration + drainAfterMedia):
		p.hangUp(ctx, ac, sess, in.req.Contact())
	case <-ctx.Done():
	}
	stopMedia()
	res.Duration = time.Since(start)
	p.finish(res, ac)
	return res, nil
}

// accept reads an incoming INVITE's offer, opens the media and takes the
// dialog; it answers the INVITE itself when it cannot.
func (p *Phone) accept(ctx context.Context, in *incomingCall, res *CallResult) (*sipgo.DialogServerSession, *sipcall.Stream, error) {
	offer, err := sipcall.AudioAddr(in.req.Body())
	if err != nil {
		in.tx.Respond(sip.NewResponseFromRequest(in.req, 488, "Not Acceptable Here", nil))
		return nil, nil, fmt.Errorf("phone: offer sdp: %w", err)
	}
	res.RemoteSDP = offer.RTP
	m, sdpAddr, err := p.openMedia(ctx)
	if err != nil {
		in.tx.Respond(sip.NewResponseFromRequest(in.req, 500, "Server Internal Error", nil))
		return nil, nil, err
	}
	res.SDPAddr = sdpAddr
	sess, err := p.dua.ReadInvite(in.req, in.tx)
	if err != nil {
		m.CloseSockets()
		return nil, nil, fmt.Errorf("phone: %w", err)
	}
	return sess, m, nil
}

func (p *Phone) track(id string, m *sipcall.Stream) *activeCall {
	ac := &activeCall{media: m, peerRx: -1, bye: make(chan struct{})}
	p.mu.Lock()
	p.active[id] = ac
	p.mu.Unlock()
	return ac
}

func (p *Phone) untrack(id string) {
	p.mu.Lock()
	delete(p.active, id)
	p.mu.Unlock()
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// exchangeStats sends our received count in an INFO and reads the other
// phone's from the answer, so each side knows both directions even when it
// heard nothing (media failed, signalling did not).
func (p *Phone) exchangeStats(ctx context.Context, ac *activeCall, do func(context.Context, *sip.Request) (*sip.Response, error), contact *sip.ContactHeader) {
	if contact == nil {
		return
	}
	time.Sleep(drainAfterMedia)
	rx := ac.media.Freeze()
	req := sip.NewRequest(sip.INFO, *contact.Address.Clone())
	req.SetBody(sipcall.StatsBody(rx.Packets))
	req.AppendHeader(sip.NewHeader("Content-Type", sipcall.StatsContentType))
	c, cancel := context.WithTimeout(ctx, statsTimeout)
	defer cancel()
	res, err := do(c, req)
	if err != nil || !res.IsSuccess() {
		return
	}
	if n, ok := sipcall.ParseStats(res.Body()); ok {
		p.mu.Lock()
		ac.peerRx = n
		p.mu.Unlock()
	}
}

func (p *Phone) finish(res *CallResult, ac *activeCall) {
	sent, rx, payloadPeerRx := ac.media.Stats()
	res.Sent, res.Received = sent, rx
	p.mu.Lock()
	res.PeerReceived = ac.peerRx
	p.mu.Unlock()
	if res.PeerReceived < 0 {
		res.PeerReceived = payloadPeerRx
	}
	res.Verdict, res.CannotHear, res.Explain = Judge(res.Received.Packets, res.PeerReceived, res.Sent.Packets)
	if b := echoBehaviour(res.EchoMedia); b != "" {
		res.Explain += "; " + b
	}
}

// echoMedia reads how natdoc serve's echo user says it sends its audio;
// "" for other answers and for values natdoc does not know.
func echoMedia(ok *sip.Response) string {
	if h := ok.GetHeader(sipcall.EchoMediaHeader); h != nil && echoBehaviour(h.Value()) != "" {
		return h.Value()
	}
	return ""
}

// echoBehaviour says how natdoc serve's echo user sent its audio, in
// words; "" for anything else.
func echoBehaviour(via string) string {
	switch via {
	case sipcall.EchoViaRelay:
		return "the echo's audio went through the server's relay, which sends to where this phone's media really comes from"
	case sipcall.EchoToSDP:
		return "the echo sent its audio to the address in this phone's SDP, as a NAT-unaware phone does"
	}
	return ""
}

// Judge gives a call's audio verdict from one phone's view: what it
// received, what the other phone said it received (-1 unknown) and what it
// sent.
func Judge(received uint64, peerReceived int64, sent uint64) (report.Verdict, string, string) {
	switch {
	case received > 0 && peerReceived > 0:
		return report.VerdictTwoWay, "", fmt.Sprintf("audio both ways: heard %d packets, the other side heard %d of our %d", received, peerReceived, sent)
	case received > 0 && peerReceived == 0:
		return report.VerdictOneWay, "remote", fmt.Sprintf("one-way: we heard %d packets, the other side heard none of our %d", received, sent)
	case received == 0 && peerReceived > 0:
		return report.VerdictOneWay, "local", fmt.Sprintf("one-way: we heard nothing, the other side heard %d of our %d packets", peerReceived, sent)
	case received > 0:
		return report.VerdictOneWay, "remote", fmt.Sprintf("we heard %d packets; the other side never said it heard us", received)
	case peerReceived == 0:
		return report.VerdictNoWay, "", fmt.Sprintf("no audio either way: we heard nothing, the other side heard none of our %d packets", sent)
	default:
		return report.VerdictNoWay, "", "we heard nothing and the other side's count is unknown"
	}
}
