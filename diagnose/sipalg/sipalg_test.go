package sipalg

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/udptcp"
)

var testCfg = Config{Mirror: netip.MustParseAddrPort("127.0.0.1:5060"), LocalAddr: netip.MustParseAddr("192.168.1.10"), RTPPort: 10000}

func TestMirrorResponseRoundTrip(t *testing.T) {
	req := BuildInvite(testCfg, "UDP", netip.MustParseAddrPort("192.168.1.10:5060"), "0123456789abcdef")
	from := netip.MustParseAddrPort("203.0.113.1:5060")
	resp := MirrorResponse(req, from, "udp")
	if resp == nil {
		t.Fatal("no response to an INVITE")
	}
	echo, err := DecodeEcho(resp)
	if err != nil {
		t.Fatalf("decode: %v\n%s", err, resp)
	}
	if !bytes.Equal(echo.Received, req) || echo.CallID != "0123456789abcdef" || echo.Source != from.String() || echo.Status != 488 || echo.Transport != "udp" {
		t.Errorf("echo = %+v", echo)
	}
	// No amplification beyond base64's 4/3 and a few headers.
	if len(resp) > 2*len(req)+512 {
		t.Errorf("response %d bytes for a %d-byte request", len(resp), len(req))
	}
}

func TestMirrorResponseRefuses(t *testing.T) {
	for name, raw := range map[string]string{
		"empty":    "",
		"ack":      "ACK sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n",
		"response": "SIP/2.0 200 OK\r\nCall-ID: x\r\n\r\n",
		"garbage":  "\x00\x01\x02 hello",
		"http":     "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"too big":  "OPTIONS sip:a@b SIP/2.0\r\n" + strings.Repeat("X-Pad: y\r\n", MaxMessage/10+1),
		// Copying a 2 KiB Via back would answer more than twice the request.
		"amplifying": "OPTIONS sip:a@b SIP/2.0\r\nv: " + strings.Repeat("x", 2048) + "\r\n\r\n",
	} {
		if resp := MirrorResponse([]byte(raw), netip.MustParseAddrPort("203.0.113.1:5060"), "udp"); resp != nil {
			t.Errorf("%s: answered %q", name, resp)
		}
	}
}

// kernelALG rewrites a message as Linux nf_nat_sip does for a phone at
// 192.168.1.10 behind 203.0.113.1: Via and Contact host, o=/c= addresses,
// and Content-Length to match.
func kernelALG(msg []byte) []byte {
	s := string(msg)
	head, body, _ := strings.Cut(s, "\r\n\r\n")
	body = strings.ReplaceAll(body, "192.168.1.10", "203.0.113.1")
	head = strings.ReplaceAll(head, "192.168.1.10:5060", "203.0.113.1:5060")
	head = regexp.MustCompile(`Content-Length: \d+`).ReplaceAllString(head, "Content-Length: "+strconv.Itoa(len(body)))
	return []byte(head + "\r\n\r\n" + body)
}

func TestCompare(t *testing.T) {
	sent := BuildInvite(testCfg, "UDP", netip.MustParseAddrPort("192.168.1.10:5060"), "0123456789abcdef")
	for _, tc := range []struct {
		name  string
		echo  []byte
		want  Rewrites
		parts []string
	}{
		{"identical", sent, Rewrites{}, nil},
		{"kernel alg", kernelALG(sent), Rewrites{Via: true, Contact: true, SDP: true, ContentLength: true},
			[]string{"Via", "Contact", "Content-Length", "SDP o=", "SDP c="}},
		{"port only", bytes.Replace(sent, []byte("192.168.1.10:5060;branch"), []byte("192.168.1.10:1024;branch"), 1), Rewrites{Via: true}, []string{"Via"}},
		{"media port", bytes.Replace(sent, []byte("m=audio 10000"), []byte("m=audio 20000"), 1), Rewrites{SDP: true}, []string{"SDP m=audio"}},
		{"header removed", bytes.Replace(sent, []byte("User-Agent: natdoc diagnose (SIP ALG test)\r\n"), nil, 1), Rewrites{Other: true}, []string{"User-Agent"}},
		{"truncated", sent[:100], Rewrites{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			diffs := Compare(sent, tc.echo)
			got := Classify(diffs)
			if tc.name == "truncated" {
				if !got.Any() {
					t.Errorf("a truncated message compared equal")
				}
				return
			}
			if got != tc.want {
				t.Errorf("rewrites = %+v, want %+v; diffs %v", got, tc.want, diffs)
			}
			var parts []string
			for _, d := range diffs {
				parts = append(parts, d.Part)
			}
			for _, p := range tc.parts {
				if !strings.Contains(strings.Join(parts, "|"), p) {
					t.Errorf("no diff for %s in %v", p, parts)
				}
			}
		})
	}
}

func TestCanonicalName(t *testing.T) {
	for in, want := range map[string]string{"v": "Via", "VIA": "Via", "call-id": "Call-ID", "i": "Call-ID", "content-length": "Content-Length", "l": "Content-Length", "CSEQ": "CSeq"} {
		if got := canonicalName(in); got != want {
			t.Errorf("canonicalName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReadStreamMessage(t *testing.T) {
	msg := BuildInvite(testCfg, "TCP", netip.MustParseAddrPort("192.168.1.10:40000"), "0123456789abcdef")
	r := bufio.NewReader(bytes.NewReader(append(append([]byte("\r\n"), msg...), msg...)))
	for i := 0; i < 2; i++ {
		got, err := ReadStreamMessage(r)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("message %d: err %v, got %q", i, err, got)
		}
	}
	for name, raw := range map[string]string{
		"huge length": "OPTIONS sip:a SIP/2.0\r\nContent-Length: 999999999\r\n\r\n",
		"no length":   "OPTIONS sip:a SIP/2.0\r\nCall-ID: x\r\n\r\n",
		"negative":    "OPTIONS sip:a SIP/2.0\r\nl: -5\r\n\r\n",
		"short body":  "OPTIONS sip:a SIP/2.0\r\nContent-Length: 10\r\n\r\nabc",
	} {
		if _, err := ReadStreamMessage(bufio.NewReader(strings.NewReader(raw))); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestLimiter(t *testing.T) {
	l := newLimiter(RateLimit{Burst: 3, Per: 3 * time.Second})
	src := netip.MustParseAddr("203.0.113.1")
	now := time.Unix(1000, 0)
	for i := 0; i < 3; i++ {
		if !l.Allow(src, now) {
			t.Fatalf("request %d refused inside the burst", i)
		}
	}
	if l.Allow(src, now) {
		t.Error("4th request in the same instant allowed")
	}
	if !l.Allow(src, now.Add(1100*time.Millisecond)) {
		t.Error("refilled token not granted")
	}
	if !l.Allow(netip.MustParseAddr("203.0.113.2"), now) {
		t.Error("another source refused")
	}
}

// TestLoopbackMirror runs client and mirror on loopback: with nothing in
// between, both transports must come back unchanged.
func TestLoopbackMirror(t *testing.T) {
	udp, tcp, err := udptcp.Listen("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := &Mirror{UDP: udp, TCP: tcp}
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx) }()

	cfg := Config{Mirror: udp.LocalAddr().(*net.UDPAddr).AddrPort(), LocalAddr: netip.MustParseAddr("127.0.0.1"), RTPPort: 10000}
	res := Test(context.Background(), cfg)
	for _, tr := range []TransportResult{res.UDP, res.TCP} {
		if tr.Outcome != Unchanged || tr.Source.Addr() != netip.MustParseAddr("127.0.0.1") || tr.Source.Port() != tr.LocalAddr.Port() {
			t.Errorf("%s: %+v", tr.Transport, tr)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}

// TestDigestAnswer: asked for a digest, the mirror answers with the
// request's length and SHA-256 in one small packet; a damaged digest is
// refused.
func TestDigestAnswer(t *testing.T) {
	req := buildInvite(testCfg, "UDP", netip.MustParseAddrPort("192.168.1.10:5060"), "0123456789abcdef",
		inviteExtras{size: FragmentOutBytes, headers: []string{HeaderEcho + ": digest"}})
	if len(req) < FragmentOutBytes || len(req) > FragmentOutBytes+100 {
		t.Fatalf("request of %d bytes, want about %d", len(req), FragmentOutBytes)
	}
	resp := MirrorResponse(req, netip.MustParseAddrPort("203.0.113.1:5060"), "udp")
	if len(resp) > 1000 {
		t.Errorf("a digest answer of %d bytes: it must fit one packet", len(resp))
	}
	echo, err := DecodeEcho(resp)
	sum := sha256.Sum256(req)
	if err != nil || echo.Received != nil || echo.Length != len(req) || echo.SHA256 != hex.EncodeToString(sum[:]) || echo.CallID != "0123456789abcdef" {
		t.Fatalf("echo %+v, %v", echo, err)
	}
	for _, body := range []string{"length=0 sha256=" + strings.Repeat("a", 64), "length=10 sha256=abc", "sha256=" + strings.Repeat("a", 64)} {
		bad := fmt.Sprintf("SIP/2.0 488 x\r\nCall-ID: y\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s", DigestContentType, len(body), body)
		if _, err := DecodeEcho([]byte(bad)); err == nil {
			t.Errorf("%q accepted", body)
		}
	}
}

// TestLoopbackFragments: on loopback (MTU 65,536: nothing is fragmented)
// both probes are answered, the big request by a digest, the other by a
// copy too big for an Ethernet packet.
func TestLoopbackFragments(t *testing.T) {
	udp, tcp, err := udptcp.Listen("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go (&Mirror{UDP: udp, TCP: tcp}).Serve(ctx)
	cfg := Config{Mirror: udp.LocalAddr().(*net.UDPAddr).AddrPort(), LocalAddr: netip.MustParseAddr("127.0.0.1"), RTPPort: 10000}
	res := TestFragments(context.Background(), cfg)
	if p := res.Out; !p.Answered || !p.Digest || !p.Intact || p.RequestBytes < FragmentOutBytes || p.AnswerBytes > 1000 || p.Anomalies != 0 {
		t.Errorf("out: %+v", p)
	}
	if p := res.In; !p.Answered || p.Digest || !p.Intact || p.RequestBytes > 1400 || p.AnswerBytes <= 1472 || p.Anomalies != 0 {
		t.Errorf("in: %+v", p)
	}
}

func TestCallbackRequest(t *testing.T) {
	req := "OPTIONS sip:m SIP/2.0\r\nCall-ID: abc\r\nX-Natdoc-Callback: 5060, 10000,5060,0,70000,x,1,2,3,4,5,6,7,8\r\nContent-Length: 0\r\n\r\n"
	ports, id := CallbackRequest([]byte(req))
	if id != "abc" || len(ports) != MaxCallbacks || ports[0] != 5060 || ports[1] != 10000 || ports[2] != 1 {
		t.Errorf("ports %v id %q", ports, id)
	}
	if ports, _ := CallbackRequest([]byte("SIP/2.0 200 OK\r\nCall-ID: a\r\nX-Natdoc-Callback: 5060\r\n\r\n")); ports != nil {
		t.Errorf("a response asked for callbacks: %v", ports)
	}
	resp := MirrorResponseCallbacks([]byte(req), netip.MustParseAddrPort("203.0.113.1:4000"), "udp", []uint16{5060, 10000})
	echo, err := DecodeEcho(resp)
	if err != nil || len(echo.CallbacksSent) != 2 || echo.CallbacksSent[1] != 10000 {
		t.Errorf("echo %+v, %v", echo, err)
	}
}

// TestLoopbackCallback: the mirror sends callbacks only to the requester's
// address, from its callback socket.
func TestLoopbackCallback(t *testing.T) {
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	cb, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go (&Mirror{UDP: udp, Callback: cb}).Serve(ctx)
	target, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	port := target.LocalAddr().(*net.UDPAddr).Port
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := "OPTIONS sip:m SIP/2.0\r\nCall-ID: cb1\r\nX-Natdoc-Callback: " + strconv.Itoa(port) + "\r\nContent-Length: 0\r\n\r\n"
	if _, err := c.WriteToUDPAddrPort([]byte(req), udp.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
		t.Fatal(err)
	}
	_ = target.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 256)
	n, from, err := target.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:n]) != string(CallbackPayload("cb1", uint16(port))) || from != cb.LocalAddr().(*net.UDPAddr).AddrPort() {
		t.Errorf("callback %q from %s: %v", buf[:n], from, err)
	}
}
