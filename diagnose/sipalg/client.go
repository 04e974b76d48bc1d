package sipalg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/natdoc/natdoc/diagnose/netenv"
	"github.com/natdoc/natdoc/internal/transact"
)

// Config says what to send where.
type Config struct {
	// Mirror is the cooperating mirror (UDP and TCP on the same port). ALGs
	// act on port 5060, so the mirror should listen there.
	Mirror netip.AddrPort
	// LocalAddr is this host's (private) address, written into Via,
	// Contact and SDP as a phone would.
	LocalAddr netip.Addr
	// SIPPort is the local port to send from over UDP (a phone's 5060);
	// when it is busy an ephemeral port is used and Result says so.
	SIPPort int
	// RTPPort is the port offered in SDP m=audio.
	RTPPort int
	Env     netenv.Env
}

// Outcome of one transport's test.
type Outcome string

const (
	// Unchanged: the mirror received exactly what was sent.
	Unchanged Outcome = "unchanged"
	// Rewritten: the mirror received a modified message.
	Rewritten Outcome = "rewritten"
	// NoAnswer: no answer after every retransmission (dropped on the way
	// there or back, or the mirror is down).
	NoAnswer Outcome = "no-answer"
	// Failed: the test could not run (socket error, connection refused).
	Failed Outcome = "could-not-run"
)

// TransportResult is one transport's test.
type TransportResult struct {
	Transport string // "udp" or "tcp"
	Outcome   Outcome
	LocalAddr netip.AddrPort
	// PortFallback: SIPPort was busy, so the request left from another port.
	PortFallback bool
	Sent         []byte
	Received     []byte // as the mirror received it
	Diffs        []Diff
	Rewrites     Rewrites
	// Source is where the mirror saw the request come from.
	Source   netip.AddrPort
	Attempts int
	RTT      time.Duration
	Err      string
	// Anomalies counts answers that were not a valid echo of this request.
	Anomalies int
}

// Result is the SIP ALG test over both transports.
type Result struct {
	Mirror netip.AddrPort
	UDP    TransportResult
	TCP    TransportResult
}

// Timeouts, after RFC 3261 §17.1.1.2: T1 = 500 ms doubles per
// retransmission; udpGiveUp allows four sends (0, 0.5, 1.5, 3.5 s), enough
// for one lost packet each way on a lossy path, and fits diagnose's 10 s.
const (
	sipT1      = 500 * time.Millisecond
	udpGiveUp  = 5 * time.Second
	tcpTimeout = 5 * time.Second
)

var udpSchedule = transact.Schedule{RTO: sipT1, Window: udpGiveUp}

// Test runs the UDP and TCP tests at once.
func Test(ctx context.Context, cfg Config) *Result {
	res := &Result{Mirror: cfg.Mirror}
	var wg sync.WaitGroup
	wg.Go(func() { res.UDP = testUDP(ctx, cfg) })
	wg.Go(func() { res.TCP = testTCP(ctx, cfg) })
	wg.Wait()
	return res
}

func testUDP(ctx context.Context, cfg Config) TransportResult {
	tr := TransportResult{Transport: "udp"}
	c, fallback, err := listenSIPPort(cfg)
	if err != nil {
		tr.Outcome, tr.Err = Failed, err.Error()
		return tr
	}
	defer c.Close()
	tr.PortFallback = fallback
	tr.LocalAddr = netip.AddrPortFrom(cfg.LocalAddr, uint16(c.LocalAddr().(*net.UDPAddr).Port))
	callID := transact.NewID()
	tr.Sent = BuildInvite(cfg, "UDP", tr.LocalAddr, callID)
	echo, st, err := transact.UDP(ctx, udpSchedule, c, cfg.Mirror, tr.Sent, func(d transact.Datagram) (*Echo, bool) {
		if d.From.Addr() != cfg.Mirror.Addr() {
			tr.Anomalies++ // not from the mirror: ignore, keep waiting
			return nil, false
		}
		return matchEcho(d.Data, callID, false, &tr.Anomalies)
	})
	tr.Attempts = st.Sends
	switch {
	case errors.Is(err, transact.ErrNoAnswer) || ctx.Err() != nil:
		tr.Outcome = NoAnswer
		return tr
	case err != nil:
		tr.Outcome, tr.Err = Failed, err.Error()
		return tr
	}
	tr.RTT = time.Since(st.First)
	finish(&tr, echo)
	return tr
}

// listenSIPPort binds the SIP port a phone would use, or any port when it
// is taken (a softphone may run here).
func listenSIPPort(cfg Config) (*net.UDPConn, bool, error) {
	if cfg.SIPPort > 0 {
		c, err := cfg.Env.ListenUDP("udp4", &net.UDPAddr{Port: cfg.SIPPort})
		if err == nil {
			return c, false, nil
		}
	}
	c, err := cfg.Env.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		return nil, false, fmt.Errorf("sipalg: udp socket: %w", err)
	}
	return c, cfg.SIPPort > 0, nil
}

func testTCP(ctx context.Context, cfg Config) TransportResult {
	tr := TransportResult{Transport: "tcp"}
	ctx, cancel := context.WithTimeout(ctx, tcpTimeout)
	defer cancel()
	start := time.Now()
	c, err := cfg.Env.DialContext(ctx, "tcp4", cfg.Mirror.String())
	if err != nil {
		tr.Outcome, tr.Err = Failed, fmt.Sprintf("connect: %v", err)
		if ctx.Err() != nil {
			tr.Outcome = NoAnswer
		}
		return tr
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	local, _ := netip.ParseAddrPort(c.LocalAddr().String())
	tr.LocalAddr = netip.AddrPortFrom(cfg.LocalAddr, local.Port())
	callID := transact.NewID()
	tr.Sent = BuildInvite(cfg, "TCP", tr.LocalAddr, callID)
	tr.Attempts = 1
	if _, err := c.Write(tr.Sent); err != nil {
		tr.Outcome, tr.Err = Failed, fmt.Sprintf("send: %v", err)
		return tr
	}
	r := bufio.NewReaderSize(c, 4096)
	for {
		raw, err := ReadStreamMessage(r)
		if err != nil {
			tr.Outcome = NoAnswer
			tr.Err = fmt.Sprintf("receive: %v", err)
			return tr
		}
		if echo, ok := matchEcho(raw, callID, false, &tr.Anomalies); ok {
			tr.RTT = time.Since(start)
			finish(&tr, echo)
			return tr
		}
	}
}

// matchEcho decodes an answer and checks it belongs to this request and
// is the kind asked for (a digest, or a copy); anything else is counted.
func matchEcho(raw []byte, callID string, digest bool, anomalies *int) (*Echo, bool) {
	echo, err := DecodeEcho(raw)
	if err != nil || echo.CallID != callID || (echo.Received == nil && !digest) {
		*anomalies++
		return nil, false
	}
	return echo, true
}

func finish(tr *TransportResult, echo *Echo) {
	tr.Received = echo.Received
	tr.Diffs = Compare(tr.Sent, echo.Received)
	tr.Rewrites = Classify(tr.Diffs)
	if ap, err := netip.ParseAddrPort(echo.Source); err == nil {
		tr.Source = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	tr.Outcome = Unchanged
	if len(tr.Diffs) > 0 {
		tr.Outcome = Rewritten
	}
}

// BuildInvite writes the INVITE a phone behind NAT sends: its private
// address in Via, Contact, SDP o= and c=, its RTP port in m=audio. The
// request goes to the mirror, which answers 488, so no call starts.
func BuildInvite(cfg Config, transport string, local netip.AddrPort, callID string) []byte {
	return buildInvite(cfg, transport, local, callID, inviteExtras{})
}

// inviteExtras make a test's INVITE differ from a phone's plain one.
type inviteExtras struct {
	headers []string // whole header lines, without CRLF
	// size pads the SDP with attribute lines, as a video phone's long
	// offer has, until the message is at least this many bytes.
	size int
}

func buildInvite(cfg Config, transport string, local netip.AddrPort, callID string, x inviteExtras) []byte {
	addr := cfg.LocalAddr.String()
	rtp := cfg.RTPPort
	if rtp == 0 {
		rtp = 10000
	}
	lines := []string{
		"v=0",
		"o=natdoc 1 1 IN IP4 " + addr,
		"s=natdoc sip-alg test",
		"c=IN IP4 " + addr,
		"t=0 0",
		fmt.Sprintf("m=audio %d RTP/AVP 0 8", rtp),
		"a=rtpmap:0 PCMU/8000",
		"a=rtpmap:8 PCMA/8000",
		"a=sendrecv",
	}
	target := "sip:mirror@" + cfg.Mirror.String()
	var head strings.Builder
	fmt.Fprintf(&head, "INVITE %s SIP/2.0\r\n", target)
	fmt.Fprintf(&head, "Via: SIP/2.0/%s %s;branch=z9hG4bK-%s;rport\r\n", transport, local, callID)
	head.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&head, "From: <sip:natdoc@%s>;tag=%s\r\n", addr, callID[:8])
	fmt.Fprintf(&head, "To: <%s>\r\n", target)
	fmt.Fprintf(&head, "Call-ID: %s\r\n", callID)
	head.WriteString("CSeq: 1 INVITE\r\n")
	fmt.Fprintf(&head, "Contact: <sip:natdoc@%s;transport=%s>\r\n", local, strings.ToLower(transport))
	head.WriteString("User-Agent: natdoc diagnose (SIP ALG test)\r\n")
	for _, h := range x.headers {
		head.WriteString(h + "\r\n")
	}
	head.WriteString("Content-Type: application/sdp\r\n")
	for pad := 0; ; pad++ {
		sdp := strings.Join(lines, "\r\n") + "\r\n"
		msg := fmt.Sprintf("%sContent-Length: %d\r\n\r\n%s", head.String(), len(sdp), sdp)
		if len(msg) >= x.size {
			return []byte(msg)
		}
		lines = append(lines, fmt.Sprintf("a=x-natdoc-padding:%02d %s", pad%100, strings.Repeat("x", 60)))
	}
}

// BuildOptions is a minimal OPTIONS to the mirror, which answers it: a
// probe that carries it shows that it arrived.
func BuildOptions(mirror netip.AddrPort) []byte {
	id := transact.NewID()
	return []byte(fmt.Sprintf("OPTIONS sip:mirror@%s SIP/2.0\r\nVia: SIP/2.0/UDP 0.0.0.0:9;branch=z9hG4bK-%s;rport\r\nMax-Forwards: 70\r\n"+
		"From: <sip:natdoc@invalid>;tag=%s\r\nTo: <sip:mirror@%s>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		mirror, id, id[:8], mirror, id))
}
