//go:build linux

package proxy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/phone"
	"github.com/natdoc/natdoc/relay"
	"github.com/natdoc/natdoc/report"
)

// Faults in the middle of calls, in the lab: the server on the public
// side, alice behind a real nftables NAT, bob on the internet.

// startFaultServer runs the server on h with a relay configured by rc
// (ports 10000-10999 unless rc says otherwise).
func startFaultServer(t *testing.T, h *natlab.Host, rc relay.Config) *labServer {
	t.Helper()
	rc.Bind, rc.ListenUDP = netip.MustParseAddr(serverIP), h.ListenUDP
	if rc.PortMin == 0 {
		rc.PortMin, rc.PortMax = 10000, 10999
	}
	rl, err := relay.New(rc)
	if err != nil {
		t.Fatal(err)
	}
	ls := &labServer{relay: rl}
	serveLab(t, h, ls, Config{PublicAddr: serverIP, Fix: true, Relay: rl, Allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, ListenUDP: h.ListenUDP})
	return ls
}

// faultLab is a lab with the server, alice behind r1 and bob outside,
// both registered.
type faultLab struct {
	lab        *natlab.Lab
	r1         *natlab.Router
	ls         *labServer
	alice, bob *phone.Phone
}

func newFaultLab(t *testing.T, nat natlab.NATConfig, rc relay.Config) *faultLab {
	t.Helper()
	lab := natlab.New(t)
	f := &faultLab{lab: lab}
	srvHost := lab.PublicHost("sip", serverIP)
	f.r1 = lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: nat})
	f.ls = startFaultServer(t, srvHost, rc)
	f.alice = labPhone(t, f.r1.LANHost("alice", "192.168.1.10"), "alice", phone.Config{SDPMode: phone.SDPLocal})
	f.bob = labPhone(t, lab.PublicHost("bob", "198.51.100.20"), "bob", phone.Config{SDPMode: phone.SDPLocal})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	registerAll(ctx, t, f.alice, f.bob)
	return f
}

// call has alice call bob for d in the background; at runs while it lasts.
func (f *faultLab) call(t *testing.T, ctx context.Context, d time.Duration, at func()) (ra, rb *phone.CallResult) {
	t.Helper()
	var wg sync.WaitGroup
	var errA, errB error
	wg.Add(2)
	go func() { defer wg.Done(); rb, errB = f.bob.Answer(ctx, d+10*time.Second) }()
	go func() { defer wg.Done(); ra, errA = f.alice.Call(ctx, "bob", d) }()
	at()
	wg.Wait()
	if errA != nil || errB != nil {
		t.Logf("alice: %v; bob: %v", errA, errB)
	}
	return ra, rb
}

// waitCall waits until the server recorded an ended call and returns it.
func (f *faultLab) waitCall(t *testing.T, within time.Duration) CallRecord {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if _, e := f.ls.srv.Calls(); len(e) > 0 {
			return e[0]
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no call ended within %v", within)
	return CallRecord{}
}

// TestLabFaultPhoneDisappears: two seconds into a call alice's router
// stops passing UDP (her phone is gone; its NAT binding expires). The
// relay sees her leg fall silent while bob still sends, closes the
// session after its idle timeout, frees the ports; the server hangs up
// for her (bob gets a BYE long before his 30 s call would end) and
// reports the call as ended by a media timeout naming alice.
func TestLabFaultPhoneDisappears(t *testing.T) {
	f := newFaultLab(t, natlab.NATConfig{Mapping: natlab.EndpointIndependent, UDPTimeout: 3 * time.Second, UDPStreamTimeout: 3 * time.Second},
		relay.Config{IdleTimeout: 3 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	var bobEnded time.Duration
	_, rb := f.call(t, ctx, 30*time.Second, func() {
		time.Sleep(2 * time.Second)
		f.r1.SetNAT(t, natlab.NATConfig{Mapping: natlab.EndpointIndependent, DropUDP: true, UDPTimeout: 3 * time.Second, UDPStreamTimeout: 3 * time.Second})
		rec := f.waitCall(t, 20*time.Second)
		bobEnded = time.Since(start)
		cancel() // alice never hears the BYE: stop her side
		checkMediaTimeout(t, f, rec)
	})
	if rb == nil || rb.Received.Packets == 0 || bobEnded > 15*time.Second {
		t.Errorf("bob: %+v; the server ended the call %v after it started, want well before its 30 s", rb, bobEnded)
	}
}

func checkMediaTimeout(t *testing.T, f *faultLab, rec CallRecord) {
	t.Helper()
	if rec.EndReason != endMediaTimeout || rec.Relay == nil || rec.Relay.Idle != relay.IdleA {
		t.Fatalf("call ended %q, relay %+v; want a media timeout on alice's side (A)", rec.EndReason, rec.Relay)
	}
	fs := ServeFindings([]CallRecord{rec}, nil, netip.MustParseAddr(serverIP))
	i := slices.IndexFunc(fs, func(f report.Finding) bool { return f.ID == IDRelayMediaTimeout })
	if i < 0 || !strings.HasPrefix(fs[i].Title, "alice ") || fs[i].Severity != report.SeverityWarning {
		t.Errorf("findings %+v, want %s naming alice", fs, IDRelayMediaTimeout)
	}
	waitFor(t, func() bool { return f.ls.relay.FreePairs() == 500 })
}

// TestLabFaultNATChangesPort: mid-call alice's router forgets its
// mappings and gives her media a new public port (40000-40999). The relay
// re-latches to the new port, which comes from her SIP source IP, once
// the old one fell silent, and bob hears her again.
func TestLabFaultNATChangesPort(t *testing.T) {
	f := newFaultLab(t, eim, relay.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ra, rb := f.call(t, ctx, 8*time.Second, func() {
		time.Sleep(3 * time.Second)
		f.r1.Nft(t, "flush chain ip natlab postrouting")
		f.r1.Nft(t, `add rule ip natlab postrouting iifname "brlan" oifname "wan0" meta l4proto udp masquerade to :40000-40999`)
		if _, err := f.r1.Run(context.Background(), "conntrack", "-F"); err != nil {
			t.Error(err)
		}
	})
	if ra == nil || rb == nil {
		t.Fatal("call failed")
	}
	rec := f.waitCall(t, 10*time.Second)
	latched := rec.Relay.A.Latched
	t.Logf("alice sent %d, bob heard %d; leg A latched %v, %d unexpected", ra.Sent.Packets, rb.Received.Packets, latched, rec.Relay.A.RTP.Unexpected)
	if latched.Addr() != netip.MustParseAddr("203.0.113.1") || latched.Port() < 40000 || latched.Port() > 40999 {
		t.Errorf("leg A latched %v, want alice's new mapping 203.0.113.1:40000-40999", latched)
	}
	// 8 s of media, 3 s before the change and about 2 s of silence
	// before the re-latch: bob hears clearly more than the first 3 s.
	if rb.Received.Packets < ra.Sent.Packets/2 {
		t.Errorf("bob heard %d of %d packets: no audio after the re-latch", rb.Received.Packets, ra.Sent.Packets)
	}
}

// TestLabFaultThirdPartyRTP: mallory, on the internet, sprays 200 RTP
// packets at the caller's relay port before the caller's media latched
// and 200 after. None latch or reach bob; all are counted, and the
// summary has the finding.
func TestLabFaultThirdPartyRTP(t *testing.T) {
	lab := natlab.New(t)
	srvHost := lab.PublicHost("sip", serverIP)
	ls := startFaultServer(t, srvHost, relay.Config{})
	bob := labPhone(t, lab.PublicHost("bob", "198.51.100.20"), "bob", phone.Config{SDPMode: phone.SDPLocal})
	mallory, err := lab.PublicHost("mallory", "198.51.100.66").ListenUDP("udp4", "198.51.100.66:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mallory.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bob.Register(ctx); err != nil {
		t.Fatal(err)
	}
	var rb *phone.CallResult
	done := make(chan struct{})
	go func() { defer close(done); rb, _ = bob.Answer(ctx, 20*time.Second) }()
	carol := newRawCaller(t, lab.PublicHost("carol", "198.51.100.30"))
	relayPort := carol.invite(t, "bob")
	relayAddr := netip.AddrPortFrom(netip.MustParseAddr(serverIP), uint16(relayPort))
	spray(t, mallory, relayAddr, 200)
	carol.media(t, relayAddr, 100)
	spray(t, mallory, relayAddr, 200)
	carol.media(t, relayAddr, 50)
	carol.bye(t)
	<-done
	rec := waitEnded(t, ls)
	a := rec.Relay.A
	if a.Latched != carol.rtp.LocalAddr().(*net.UDPAddr).AddrPort() {
		t.Errorf("leg A latched %v, want carol's %v", a.Latched, carol.rtp.LocalAddr())
	}
	if rb == nil {
		t.Fatal("bob's call failed")
	}
	if a.RTP.Unexpected != 400 || a.RTP.Packets != 150 || rb.Received.Packets > 150 {
		t.Errorf("unexpected %d (want 400), accepted %d (want carol's 150), bob heard %d (want at most 150)", a.RTP.Unexpected, a.RTP.Packets, rb.Received.Packets)
	}
	fs := ServeFindings([]CallRecord{rec}, nil, netip.MustParseAddr(serverIP))
	if !slices.ContainsFunc(fs, func(f report.Finding) bool { return f.ID == IDRelayUnexpectedSource }) {
		t.Errorf("findings %+v lack %s", fs, IDRelayUnexpectedSource)
	}
}

func waitEnded(t *testing.T, ls *labServer) CallRecord {
	t.Helper()
	waitFor(t, func() bool { _, e := ls.srv.Calls(); return len(e) == 1 })
	_, e := ls.srv.Calls()
	return e[0]
}

// spray sends n RTP packets from c to dst, 1 ms apart.
func spray(t *testing.T, c *net.UDPConn, dst netip.AddrPort, n int) {
	t.Helper()
	for i := range n {
		if _, err := c.WriteToUDPAddrPort(rtpLike(uint16(60000+i)), dst); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
}

func rtpLike(seq uint16) []byte {
	p := make([]byte, 172)
	p[0], p[2], p[3] = 0x80, byte(seq>>8), byte(seq)
	return p
}

// rawCaller is a caller whose signalling and media the test drives by
// hand, so that its media starts exactly when the test says.
type rawCaller struct {
	host   *natlab.Host
	sip    *net.UDPConn
	rtp    *net.UDPConn
	user   string // the callee
	callID string
	toTag  string
	seq    uint16
}

func newRawCaller(t *testing.T, h *natlab.Host) *rawCaller {
	t.Helper()
	sipConn, err := h.ListenUDP("udp4", h.Addr().String()+":5060")
	if err != nil {
		t.Fatal(err)
	}
	media, err := h.ListenUDP("udp4", h.Addr().String()+":20000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sipConn.Close(); media.Close() })
	return &rawCaller{host: h, sip: sipConn, rtp: media, callID: fmt.Sprintf("raw-%d", time.Now().UnixNano())}
}

var audioPort = regexp.MustCompile(`m=audio (\d+) `)

// invite calls user and returns the relay port the server's answer names.
func (c *rawCaller) invite(t *testing.T, user string) int {
	t.Helper()
	ip := c.host.Addr().String()
	sdp := "v=0\r\no=- 1 1 IN IP4 " + ip + "\r\ns=-\r\nc=IN IP4 " + ip + "\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	c.user = user
	c.send(t, "INVITE sip:"+user+"@"+serverIP+" SIP/2.0\r\n"+c.headers("INVITE", 1, "")+
		"Contact: <sip:carol@"+ip+":5060>\r\nContent-Type: application/sdp\r\nContent-Length: "+strconv.Itoa(len(sdp))+"\r\n\r\n"+sdp)
	for {
		res := c.read(t)
		if code := statusCode(res); code >= 200 {
			if code != 200 {
				t.Fatalf("INVITE answered %d", code)
			}
			c.toTag = regexp.MustCompile(`(?m)^To:.*;tag=([^;\r]+)`).FindStringSubmatch(res)[1]
			c.send(t, "ACK sip:"+c.user+"@"+serverIP+" SIP/2.0\r\n"+c.headers("ACK", 1, c.toTag)+"Content-Length: 0\r\n\r\n")
			m := audioPort.FindStringSubmatch(res)
			port, _ := strconv.Atoi(m[1])
			return port
		}
	}
}

func (c *rawCaller) headers(method string, cseq int, toTag string) string {
	to := "To: <sip:" + c.user + "@" + serverIP + ">"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	return "Via: SIP/2.0/UDP " + c.host.Addr().String() + ":5060;branch=z9hG4bK-" + method + c.callID + "\r\n" +
		"From: <sip:carol@" + serverIP + ">;tag=carol1\r\n" + to + "\r\nCall-ID: " + c.callID + "\r\nCSeq: " + strconv.Itoa(cseq) + " " + method + "\r\nMax-Forwards: 70\r\n"
}

func (c *rawCaller) send(t *testing.T, msg string) {
	t.Helper()
	if _, err := c.sip.WriteToUDPAddrPort([]byte(msg), netip.MustParseAddrPort(serverIP+":5060")); err != nil {
		t.Fatal(err)
	}
}

// read returns the next SIP message from the server (requests such as
// OPTIONS keepalives are answered and skipped).
func (c *rawCaller) read(t *testing.T) string {
	t.Helper()
	buf := make([]byte, 65536)
	for {
		c.sip.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := c.sip.Read(buf)
		if err != nil {
			t.Fatalf("no answer from the server: %v", err)
		}
		msg := string(buf[:n])
		if strings.HasPrefix(msg, "SIP/2.0 ") {
			return msg
		}
	}
}

// media sends n RTP packets 20 ms apart from the caller's media socket.
func (c *rawCaller) media(t *testing.T, dst netip.AddrPort, n int) {
	t.Helper()
	for range n {
		c.seq++
		if _, err := c.rtp.WriteToUDPAddrPort(rtpLike(c.seq), dst); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *rawCaller) bye(t *testing.T) {
	t.Helper()
	c.send(t, "BYE sip:"+c.user+"@"+serverIP+" SIP/2.0\r\n"+c.headers("BYE", 2, c.toTag)+"Content-Length: 0\r\n\r\n")
	if code := statusCode(c.read(t)); code != 200 {
		t.Errorf("BYE answered %d", code)
	}
}

// TestLabFaultRelayFull: the relay's range holds one call. While it
// runs, a second call gets 503 with Retry-After and the first one goes
// on two-way; once it ended the ports are back and the next call works.
func TestLabFaultRelayFull(t *testing.T) {
	f := newFaultLab(t, eim, relay.Config{PortMin: 10000, PortMax: 10003})
	carolHost := f.lab.PublicHost("carol", "198.51.100.30")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var refused string
	ra, rb := f.call(t, ctx, 4*time.Second, func() {
		waitFor(t, func() bool { return f.ls.relay.FreePairs() == 0 })
		refused = rawInvite(t, carolHost, "alice")
	})
	if code := statusCode(refused); code != 503 || !strings.Contains(refused, "\r\nRetry-After: 30\r\n") {
		t.Errorf("second call answered:\n%s\nwant 503 with Retry-After: 30", refused)
	}
	if ra == nil || rb == nil || ra.Verdict != report.VerdictTwoWay || rb.Verdict != report.VerdictTwoWay {
		t.Fatalf("the call in progress: %+v / %+v, want two-way", ra, rb)
	}
	if f.ls.srv.Counters.RelayFull.Load() != 1 {
		t.Errorf("relay-full counted %d, want 1", f.ls.srv.Counters.RelayFull.Load())
	}
	waitFor(t, func() bool { return f.ls.relay.FreePairs() == 2 })
	ra, rb = f.call(t, ctx, time.Second, func() {})
	if ra == nil || rb == nil || ra.Verdict != report.VerdictTwoWay {
		t.Errorf("the next call after the range freed: %+v", ra)
	}
}

// rawInvite sends one INVITE for user from h and returns the final answer.
func rawInvite(t *testing.T, h *natlab.Host, user string) string {
	t.Helper()
	c := newRawCaller(t, h)
	ip := h.Addr().String()
	sdp := "v=0\r\no=- 1 1 IN IP4 " + ip + "\r\ns=-\r\nc=IN IP4 " + ip + "\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0\r\n"
	c.user = user
	c.send(t, "INVITE sip:"+user+"@"+serverIP+" SIP/2.0\r\n"+c.headers("INVITE", 1, "")+
		"Contact: <sip:carol@"+ip+":5060>\r\nContent-Type: application/sdp\r\nContent-Length: "+strconv.Itoa(len(sdp))+"\r\n\r\n"+sdp)
	for {
		if res := c.read(t); statusCode(res) >= 200 {
			return res
		}
	}
}
