package proxy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/sipcall"
	"github.com/natdoc/natdoc/phone"
	"github.com/natdoc/natdoc/relay"
	"github.com/natdoc/natdoc/report"
)

// Loopback end-to-end tests: every socket is on 127.0.0.x.

const callDuration = 1500 * time.Millisecond

type testServer struct {
	srv   *Server
	relay *relay.Relay
	addr  string
	done  chan struct{}
}

// startServer runs a server on loopback; in fix mode its relay takes the
// 200 ports from relayPorts, a range of the test's own below the kernel's
// ephemeral ports (see newTestRelay in package relay for the plan).
func startServer(t *testing.T, cfg Config, relayPorts int) *testServer {
	t.Helper()
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{addr: udp.LocalAddr().String(), done: make(chan struct{})}
	ts.relay = cfg.Relay
	if cfg.Fix && cfg.Engines == nil && cfg.Relay == nil {
		ts.relay, err = relay.New(relay.Config{Bind: netip.MustParseAddr("127.0.0.1"), PortMin: relayPorts, PortMax: relayPorts + 199})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Relay = ts.relay
	}
	ts.srv, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(ts.done)
		if err := ts.srv.Serve(ctx, udp, nil); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-ts.done
		if ts.relay != nil {
			ts.relay.Close()
		}
	})
	time.Sleep(50 * time.Millisecond) // let sipgo's read loop start
	return ts
}

// registeredPhones are alice (127.0.0.2) and bob (127.0.0.3), registered
// at server.
func registeredPhones(ctx context.Context, t *testing.T, server string) (alice, bob *phone.Phone) {
	t.Helper()
	alice = newTestPhone(t, "alice", "127.0.0.2", server, phone.SDPLocal)
	bob = newTestPhone(t, "bob", "127.0.0.3", server, phone.SDPLocal)
	registerAll(ctx, t, alice, bob)
	return alice, bob
}

// registerAll registers the phones, failing the test if one cannot.
func registerAll(ctx context.Context, t *testing.T, phones ...*phone.Phone) {
	t.Helper()
	for _, p := range phones {
		if err := p.Register(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func newTestPhone(t *testing.T, user, ip, server string, mode phone.SDPMode) *phone.Phone {
	t.Helper()
	// Tests send nothing outside loopback and their own namespaces: a
	// name the server hands out (voip.example.net) is not looked up.
	p, err := phone.New(phone.Config{User: user, Server: server, LocalIP: netip.MustParseAddr(ip), SDPMode: mode, Symmetric: true,
		Resolver: noNameLookups})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// callPair registers both phones and has a call b, returning both results.
func callPair(t *testing.T, a, b *phone.Phone, target string) (*phone.CallResult, *phone.CallResult) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	registerAll(ctx, t, a, b)
	var wg sync.WaitGroup
	var rb *phone.CallResult
	var errB error
	wg.Add(1)
	go func() {
		defer wg.Done()
		rb, errB = b.Answer(ctx, 10*time.Second)
	}()
	ra, err := a.Call(ctx, target, callDuration)
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	wg.Wait()
	if errB != nil {
		t.Fatalf("answer: %v", errB)
	}
	return ra, rb
}

func TestCallThroughRelay(t *testing.T) {
	ts := startServer(t, Config{Fix: true, Echo: true}, 25000)
	alice := newTestPhone(t, "alice", "127.0.0.2", ts.addr, phone.SDPLocal)
	bob := newTestPhone(t, "bob", "127.0.0.3", ts.addr, phone.SDPLocal)
	ra, rb := callPair(t, alice, bob, "bob")
	for _, r := range []*phone.CallResult{ra, rb} {
		if r.Verdict != report.VerdictTwoWay {
			t.Errorf("%s: %s (%s)", r.Local, r.Verdict, r.Explain)
		}
	}
	// Both phones saw media from the relay, not from each other.
	if ra.Received.From.Addr().String() != "127.0.0.1" || rb.Received.From.Addr().String() != "127.0.0.1" {
		t.Errorf("media from %v and %v, want the relay 127.0.0.1", ra.Received.From, rb.Received.From)
	}
	if ra.Received.Label != "bob" || rb.Received.Label != "alice" {
		t.Errorf("labels %q %q", ra.Received.Label, rb.Received.Label)
	}
	waitFor(t, func() bool { _, e := ts.srv.Calls(); return len(e) == 1 })
	_, ended := ts.srv.Calls()
	if len(ended) != 1 || ended[0].Relay == nil {
		t.Fatalf("ended calls %+v", ended)
	}
	st := ended[0].Relay
	if st.A.RTP.Forwarded == 0 || st.B.RTP.Forwarded == 0 {
		t.Errorf("relay counters A %+v B %+v", st.A.RTP, st.B.RTP)
	}
	if st.A.RTP.Forwarded < rb.Received.Packets || st.B.RTP.Forwarded < ra.Received.Packets {
		t.Errorf("relay forwarded %d/%d, phones received %d/%d", st.A.RTP.Forwarded, st.B.RTP.Forwarded, rb.Received.Packets, ra.Received.Packets)
	}
	waitFor(t, func() bool { return ts.relay.FreePairs() == 100 })
}

func TestCallWithoutFixGoesDirect(t *testing.T) {
	ts := startServer(t, Config{}, 0)
	alice := newTestPhone(t, "alice", "127.0.0.2", ts.addr, phone.SDPLocal)
	bob := newTestPhone(t, "bob", "127.0.0.3", ts.addr, phone.SDPLocal)
	ra, rb := callPair(t, alice, bob, "bob")
	if ra.Verdict != report.VerdictTwoWay || rb.Verdict != report.VerdictTwoWay {
		t.Fatalf("%s / %s", ra.Explain, rb.Explain)
	}
	if ra.Received.From.Addr().String() != "127.0.0.3" {
		t.Errorf("alice got media from %v, want bob directly", ra.Received.From)
	}
}

// TestEchoUser: with the fix the echo's media goes through the relay (its
// summary line has the caller's latched and SDP addresses); without it the
// echo sends to the caller's SDP address from a port of the RTP range. The
// phone's report says which.
func TestEchoUser(t *testing.T) {
	for _, tt := range []struct {
		fix bool
		via string
	}{{true, sipcall.EchoViaRelay}, {false, sipcall.EchoToSDP}} {
		t.Run(fmt.Sprintf("fix=%v", tt.fix), func(t *testing.T) {
			ts := startServer(t, Config{Fix: tt.fix, Echo: true, PortMin: 25300, PortMax: 25399}, 25200)
			alice := newTestPhone(t, "alice", "127.0.0.2", ts.addr, phone.SDPLocal)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := alice.Call(ctx, EchoUser, callDuration)
			if err != nil {
				t.Fatal(err)
			}
			if r.Verdict != report.VerdictTwoWay || r.Received.Label != EchoUser || r.EchoMedia != tt.via || !strings.Contains(r.Explain, "echo") {
				t.Fatalf("%s %q via %q: %s", r.Verdict, r.Received.Label, r.EchoMedia, r.Explain)
			}
			waitFor(t, func() bool { _, e := ts.srv.Calls(); return len(e) == 1 && e[0].Echo != nil })
			_, ended := ts.srv.Calls()
			if ended[0].Echo.Received.Packets == 0 || ended[0].Echo.Via != tt.via {
				t.Errorf("echo heard nothing or says %q: %+v", ended[0].Echo.Via, ended[0].Echo)
			}
			sr := ServeReport(nil, ts.srv.EffectiveConfig(), "", nil, ended)
			leg := sr.Calls[0].Legs[0]
			if leg.Latched == "" || leg.SDPAddr == "" {
				t.Errorf("summary line without latched or SDP address: %+v", sr.Calls[0].Legs)
			}
			if tt.fix && (ended[0].Relay == nil || len(sr.Calls[0].Legs) != 2) {
				t.Errorf("fix mode echo call not relayed: %+v", ended[0])
			}
			if port := ended[0].CalleeAddr.Port(); !tt.fix && (port < 25300 || port > 25399) {
				t.Errorf("echo media on port %d, outside the RTP range 25300-25399", port)
			}
		})
	}
}

func TestUnknownUserIs404(t *testing.T) {
	ts := startServer(t, Config{Fix: true}, 25400)
	alice := newTestPhone(t, "alice", "127.0.0.2", ts.addr, phone.SDPLocal)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := alice.Call(ctx, "sip:mallory@example.com", callDuration)
	if err == nil || r == nil || r.Status != 404 {
		t.Fatalf("call to an outside domain: %v %+v", err, r)
	}
	if ts.srv.Counters.NotFound.Load() != 1 || ts.relay.FreePairs() != 100 {
		t.Errorf("notfound=%d free=%d", ts.srv.Counters.NotFound.Load(), ts.relay.FreePairs())
	}
}

func TestDigestAuth(t *testing.T) {
	users := map[string]string{"alice": "secret-a", "bob": "secret-b"}
	ts := startServer(t, Config{Fix: true, Users: users}, 25600)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wrong, err := phone.New(phone.Config{User: "alice", Password: "nope", Server: ts.addr, LocalIP: netip.MustParseAddr("127.0.0.2"), Symmetric: true})
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	if err := wrong.Register(ctx); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong password: %v", err)
	}
	alice, _ := phone.New(phone.Config{User: "alice", Password: "secret-a", Server: ts.addr, LocalIP: netip.MustParseAddr("127.0.0.2"), Symmetric: true})
	defer alice.Close()
	bob, _ := phone.New(phone.Config{User: "bob", Password: "secret-b", Server: ts.addr, LocalIP: netip.MustParseAddr("127.0.0.3"), Symmetric: true})
	defer bob.Close()
	ra, rb := callPair(t, alice, bob, "bob")
	if ra.Verdict != report.VerdictTwoWay || rb.Verdict != report.VerdictTwoWay {
		t.Fatalf("%s / %s", ra.Explain, rb.Explain)
	}
}

func TestRefusesOpenPublic(t *testing.T) {
	s, err := New(Config{PublicAddr: "203.0.113.5"})
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	if err := s.Serve(t.Context(), udp, nil); err != ErrOpenOnPublic {
		t.Fatalf("serve: %v, want ErrOpenOnPublic", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	waitForWithin(t, 5*time.Second, cond)
}

// waitForWithin polls cond until it holds, failing the test after d.
func waitForWithin(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestShutdownHangsUp: stopping the server ends answered calls with BYE to
// both phones, and frees the relay.
func TestShutdownHangsUp(t *testing.T) {
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	rl, err := relay.New(relay.Config{Bind: netip.MustParseAddr("127.0.0.1"), PortMin: 26400, PortMax: 26599})
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	srv, err := New(Config{Fix: true, Relay: rl})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ctx, udp, nil) }()
	time.Sleep(50 * time.Millisecond)
	alice := newTestPhone(t, "alice", "127.0.0.2", udp.LocalAddr().String(), phone.SDPLocal)
	bob := newTestPhone(t, "bob", "127.0.0.3", udp.LocalAddr().String(), phone.SDPLocal)
	for _, p := range []*phone.Phone{alice, bob} {
		if err := p.Register(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	go func() { time.Sleep(time.Second); stop() }()
	var wg sync.WaitGroup
	wg.Add(1)
	var rb *phone.CallResult
	go func() { defer wg.Done(); rb, _ = bob.Answer(t.Context(), 20*time.Second) }()
	ra, err := alice.Call(t.Context(), "bob", 20*time.Second)
	wg.Wait()
	<-done
	if err != nil || rb == nil {
		t.Fatalf("call: %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("calls lasted %v after shutdown at 1s: no BYE", took)
	}
	if ra.Received.Packets == 0 || rb.Received.Packets == 0 {
		t.Errorf("no media before shutdown: %d / %d", ra.Received.Packets, rb.Received.Packets)
	}
	waitFor(t, func() bool { return rl.FreePairs() == 100 })
}

// TestSetPublicIPChangesSDP: once the main address moved (a dynamic-DNS
// name that now points elsewhere), SDP toward peers outside the LAN names
// the new address.
func TestSetPublicIPChangesSDP(t *testing.T) {
	// The phone on 127.0.0.2 counts as outside: the LAN is 10.0.0.0/8.
	ts := startServer(t, Config{Fix: true, Echo: true, PublicAddr: "voip.example.net", PublicIP: netip.MustParseAddr("127.0.0.1"),
		LAN: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, 25600)
	alice := newTestPhone(t, "alice", "127.0.0.2", ts.addr, phone.SDPLocal)
	ts.srv.SetPublicIP(netip.MustParseAddr("127.0.0.9"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := alice.Call(ctx, EchoUser, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if r.RemoteSDP.Addr() != netip.MustParseAddr("127.0.0.9") {
		t.Errorf("the echo's SDP named %v, want the new main address 127.0.0.9", r.RemoteSDP)
	}
	if got := ts.srv.EffectiveConfig().PublicIP; got != netip.MustParseAddr("127.0.0.9") {
		t.Errorf("effective main address %v", got)
	}
}
