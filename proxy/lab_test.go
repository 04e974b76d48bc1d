//go:build linux

package proxy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/internal/sipcall"
	"github.com/natdoc/natdoc/phone"
	"github.com/natdoc/natdoc/relay"
	"github.com/natdoc/natdoc/report"
	"github.com/natdoc/natdoc/rtpengine"
)

// The proof matrix: real namespaces, real nftables NAT, real coturn.
// Phone A (alice) sits behind router r1; phone B (bob) is on the
// public side or behind its own router r2; the server is on the public side.

const (
	serverIP   = "203.0.113.10"
	labCallDur = 2 * time.Second
)

type labRow struct {
	name    string
	natA    natlab.NATConfig
	sdpA    phone.SDPMode
	forward bool // A's SDP names r1's WAN and a forwarded RTP port
	bNAT    bool // B behind its own NAT
	fix     bool
	kernel  bool // the relay forwards latched streams in the kernel (nftables)
	engine  bool // media on a real rtpengine instead of natdoc's relay
	aHears  bool // A hears B
	bHears  bool // B hears A
}

var eim = natlab.NATConfig{Mapping: natlab.EndpointIndependent}
var apdm = natlab.NATConfig{Mapping: natlab.AddressAndPortDependent}

func TestLabProofMatrix(t *testing.T) {
	natlab.Require(t)
	forwards := natlab.NATConfig{Mapping: natlab.EndpointIndependent, Forwards: []natlab.Forward{
		{Proto: "udp", Ports: "5060", To: "192.168.1.10"}, {Proto: "udp", Ports: "10000-10100", To: "192.168.1.10"}}}
	rows := []labRow{
		{name: "eim-local-nofix", natA: eim, sdpA: phone.SDPLocal, aHears: false, bHears: true},
		{name: "eim-stun-nofix", natA: eim, sdpA: phone.SDPSTUN, aHears: true, bHears: true},
		{name: "apdm-stun-nofix", natA: apdm, sdpA: phone.SDPSTUN, aHears: false, bHears: true},
		{name: "apdm-local-fix", natA: apdm, sdpA: phone.SDPLocal, fix: true, aHears: true, bHears: true},
		{name: "forward-public-nofix", natA: forwards, sdpA: phone.SDPExplicit, forward: true, aHears: true, bHears: true},
		{name: "both-nat-local-fix", natA: eim, sdpA: phone.SDPLocal, bNAT: true, fix: true, aHears: true, bHears: true},
		{name: "apdm-local-fix-kernel", natA: apdm, sdpA: phone.SDPLocal, fix: true, kernel: true, aHears: true, bHears: true},
		{name: "apdm-local-fix-rtpengine", natA: apdm, sdpA: phone.SDPLocal, fix: true, engine: true, aHears: true, bHears: true},
		{name: "both-nat-local-fix-rtpengine", natA: eim, sdpA: phone.SDPLocal, bNAT: true, fix: true, engine: true, aHears: true, bHears: true},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			t.Parallel()
			runLabRow(t, row)
		})
	}
	// One phone is enough: the echo user gives the same before/after as
	// two phones (alice behind `masquerade random` with her private address
	// in SDP cannot hear without the fix, hears with it).
	// Kernel forwarding on: the echo still works.
	for _, row := range []struct{ fix, kernel, engine bool }{{false, false, false}, {true, false, false}, {true, true, false}, {true, false, true}} {
		t.Run(fmt.Sprintf("apdm-local-echo-fix=%v-kernel=%v-rtpengine=%v", row.fix, row.kernel, row.engine), func(t *testing.T) {
			t.Parallel()
			runEchoRow(t, row.fix, row.kernel, row.engine)
		})
	}
}

func runEchoRow(t *testing.T, fix, kernel, engine bool) {
	lab := natlab.New(t)
	srvHost := lab.PublicHost("sip", serverIP)
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: apdm})
	ls := startLabServerWith(t, srvHost, fix, kernel, engine)
	alice := labPhone(t, r1.LANHost("alice", "192.168.1.10"), "alice", phone.Config{SDPMode: phone.SDPLocal})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := alice.Register(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := alice.Call(ctx, EchoUser, labCallDur)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("alice: sent %d received %d, the echo heard %d (%s)", r.Sent.Packets, r.Received.Packets, r.PeerReceived, r.Explain)
	wantVia, wantVerdict := sipcall.EchoToSDP, report.VerdictOneWay
	if fix {
		wantVia, wantVerdict = sipcall.EchoViaRelay, report.VerdictTwoWay
	}
	if r.Verdict != wantVerdict || r.EchoMedia != wantVia || r.PeerReceived < int64(r.Sent.Packets/2) {
		t.Errorf("alice measured %s with the echo %q (it heard %d of %d), want %s with %q", r.Verdict, r.EchoMedia, r.PeerReceived, r.Sent.Packets, wantVerdict, wantVia)
	}
	if !fix && (r.CannotHear != "local" || r.Received.Packets != 0) {
		t.Errorf("without the fix alice heard %d packets (cannot hear: %q); the echo sends to her private SDP address", r.Received.Packets, r.CannotHear)
	}
	if fix && r.Received.Packets < r.Sent.Packets/2 {
		t.Errorf("with the fix alice heard %d of about %d packets", r.Received.Packets, r.Sent.Packets)
	}
	waitFor(t, func() bool { _, e := ls.srv.Calls(); return len(e) == 1 })
	// The echo's leg is on the server itself, which the kernel cannot
	// forward to: with kernel forwarding on, its streams stay in user space.
	if _, e := ls.srv.Calls(); kernel && (e[0].Relay == nil || e[0].Relay.A.RTP.Kernel != 0 || e[0].Relay.B.RTP.Kernel != 0) {
		t.Errorf("echo call with kernel forwarding: %+v", e[0].Relay)
	}
	if _, e := ls.srv.Calls(); engine && (e[0].Engine == "" || e[0].Relay == nil || e[0].Relay.A.RTP.Packets < uint64(r.Sent.Packets/2)) {
		t.Errorf("echo call on rtpengine: engine %q, counts %+v", e[0].Engine, e[0].Relay)
	}
}

type labServer struct {
	srv    *Server
	relay  *relay.Relay
	engine *natlab.Rtpengine // media on rtpengine
}

// startLabServerWith is startLabServer or, with engine, the server with
// media on a real rtpengine on the same host.
func startLabServerWith(t *testing.T, h *natlab.Host, fix, kernel, engine bool) *labServer {
	t.Helper()
	if !engine {
		return startLabServer(t, h, fix, kernel)
	}
	eng := natlab.StartRtpengine(t, h, natlab.RtpengineConfig{})
	ls := startEngineServer(t, h, eng.NG)
	ls.engine = eng
	return ls
}

// startEngineServer runs the server on h with media on the rtpengines
// at engines (weight 1 each), pinged every 200 ms.
func startEngineServer(t *testing.T, h *natlab.Host, engines ...netip.AddrPort) *labServer {
	t.Helper()
	ecs := make([]rtpengine.EngineConfig, 0, len(engines))
	for _, e := range engines {
		ecs = append(ecs, rtpengine.EngineConfig{Addr: e, Weight: 1})
	}
	pool, err := rtpengine.New(t.Context(), rtpengine.Config{Engines: ecs, PingInterval: 200 * time.Millisecond,
		Dial: func(a netip.AddrPort) (*net.UDPConn, error) { return h.DialUDP("udp4", a.String()) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close) // after the server stopped: cleanups run last first
	cfg := Config{PublicAddr: serverIP, Fix: true, Echo: true, Allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")},
		ListenUDP: h.ListenUDP, Engines: pool}
	return serveLab(t, h, &labServer{}, cfg)
}

func startLabServer(t *testing.T, h *natlab.Host, fix, kernel bool) *labServer {
	t.Helper()
	ls := &labServer{}
	cfg := Config{PublicAddr: serverIP, Fix: fix, Echo: true, PortMin: 11000, PortMax: 11999, Allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, ListenUDP: h.ListenUDP}
	var err error
	if fix {
		rcfg := relay.Config{Bind: netip.MustParseAddr(serverIP), PortMin: 10000, PortMax: 10999, ListenUDP: h.ListenUDP}
		if kernel {
			rcfg.KernelForward = true
			rcfg.NftCommand = []string{"ip", "netns", "exec", h.Name(), "nft"}
			rcfg.IPCommand = []string{"ip", "netns", "exec", h.Name(), "ip"}
		}
		ls.relay, err = relay.New(rcfg)
		if err != nil {
			t.Fatal(err)
		}
		if on, err := ls.relay.KernelForwarding(); kernel && !on {
			t.Fatalf("kernel forwarding off: %v", err)
		}
		cfg.Relay = ls.relay
	}
	return serveLab(t, h, ls, cfg)
}

// serveLab runs a server with cfg on h's serverIP:5060 until the test
// ends.
func serveLab(t *testing.T, h *natlab.Host, ls *labServer, cfg Config) *labServer {
	t.Helper()
	var err error
	if ls.srv, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	udp, err := h.ListenUDP("udp4", serverIP+":5060")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ls.srv.Serve(ctx, udp, nil) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if ls.relay != nil {
			ls.relay.Close()
		}
	})
	return ls
}

func labPhone(t *testing.T, h *natlab.Host, user string, cfg phone.Config) *phone.Phone {
	t.Helper()
	conn, err := h.ListenUDP("udp4", netip.AddrPortFrom(h.Addr(), 5060).String())
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Server, cfg.Conn, cfg.LocalIP, cfg.ListenUDP = user, serverIP+":5060", conn, h.Addr(), h.ListenUDP
	cfg.Symmetric = true
	p, err := phone.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func runLabRow(t *testing.T, row labRow) {
	lab := natlab.New(t)
	srvHost := lab.PublicHost("sip", serverIP)
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: row.natA})
	aHost := r1.LANHost("alice", "192.168.1.10")
	var bHost *natlab.Host
	if row.bNAT {
		r2 := lab.Router("r2", natlab.RouterConfig{WAN: "198.51.100.2", LAN: "192.168.2.1/24", NAT: eim})
		bHost = r2.LANHost("bob", "192.168.2.20")
	} else {
		bHost = lab.PublicHost("bob", "198.51.100.20")
	}
	ls := startLabServerWith(t, srvHost, row.fix, row.kernel, row.engine)

	aCfg := phone.Config{SDPMode: row.sdpA}
	switch {
	case row.sdpA == phone.SDPSTUN:
		stunHost := lab.PublicHost("stun", "203.0.113.20", "203.0.113.21")
		aCfg.STUN = natlab.StartCoturn(t, stunHost).Primary
	case row.forward:
		aCfg.SDPAddr, aCfg.RTPPort = netip.MustParseAddr("203.0.113.1"), 10010
	}
	alice := labPhone(t, aHost, "alice", aCfg)
	bob := labPhone(t, bHost, "bob", phone.Config{SDPMode: phone.SDPLocal})
	ra, rb := callPair(t, alice, bob, "bob")
	t.Logf("alice: sent %d received %d from %v (%s)", ra.Sent.Packets, ra.Received.Packets, ra.Received.From, ra.Explain)
	t.Logf("bob:   sent %d received %d from %v (%s)", rb.Sent.Packets, rb.Received.Packets, rb.Received.From, rb.Explain)

	checkHears(t, "alice", ra, rb, row.aHears)
	checkHears(t, "bob", rb, ra, row.bHears)
	want := report.VerdictTwoWay
	if !row.aHears || !row.bHears {
		want = report.VerdictOneWay
	}
	if ra.Verdict != want || rb.Verdict != want {
		t.Errorf("verdicts alice %s bob %s, want %s", ra.Verdict, rb.Verdict, want)
	}
	if want == report.VerdictOneWay && (ra.CannotHear != "local" || rb.CannotHear != "remote") {
		t.Errorf("cannot hear: alice says %q, bob says %q; want local/remote", ra.CannotHear, rb.CannotHear)
	}
	checkRelay(t, ls, row, ra, rb)
}

// checkHears: hearing means at least half of what the other side sent
// arrived (the first packets may die before a NAT opened); not hearing
// means nothing at all.
func checkHears(t *testing.T, who string, me, peer *phone.CallResult, wantHears bool) {
	t.Helper()
	if wantHears && me.Received.Packets < peer.Sent.Packets/2 {
		t.Errorf("%s heard %d of %d packets, want at least half", who, me.Received.Packets, peer.Sent.Packets)
	}
	if !wantHears && me.Received.Packets != 0 {
		t.Errorf("%s heard %d packets, want none", who, me.Received.Packets)
	}
	if peer.PeerReceived != int64(me.Received.Packets) {
		t.Errorf("%s's count %d reached the other phone as %d", who, me.Received.Packets, peer.PeerReceived)
	}
}

func checkRelay(t *testing.T, ls *labServer, row labRow, ra, rb *phone.CallResult) {
	t.Helper()
	waitFor(t, func() bool { _, e := ls.srv.Calls(); return len(e) == 1 })
	_, ended := ls.srv.Calls()
	rec := ended[0]
	if !row.fix {
		if rec.Relay != nil {
			t.Errorf("--fix=false call went through the relay: %+v", rec.Relay)
		}
		return
	}
	st := rec.Relay
	if st == nil {
		t.Fatal("fix mode call has no relay session")
	}
	t.Logf("relay: A latched %v sdp %v fwd %d unexpected %d; B latched %v sdp %v fwd %d unexpected %d",
		st.A.Latched, st.A.SDPAddr, st.A.RTP.Forwarded, st.A.RTP.Unexpected, st.B.Latched, st.B.SDPAddr, st.B.RTP.Forwarded, st.B.RTP.Unexpected)
	if row.kernel && (st.A.RTP.Kernel == 0 || st.B.RTP.Kernel == 0 || !st.A.RTP.LossNotMeasured) {
		t.Errorf("kernel forwarding: A %d, B %d packets in the kernel (loss not measured: %v); want both > 0",
			st.A.RTP.Kernel, st.B.RTP.Kernel, st.A.RTP.LossNotMeasured)
	}
	// Leg A faces alice: what it forwarded is what bob could hear.
	if st.A.RTP.Forwarded < rb.Received.Packets || st.B.RTP.Forwarded < ra.Received.Packets {
		t.Errorf("relay forwarded A->B %d, B->A %d; phones received %d, %d", st.A.RTP.Forwarded, st.B.RTP.Forwarded, rb.Received.Packets, ra.Received.Packets)
	}
	if st.A.RTP.Packets > ra.Sent.Packets || st.B.RTP.Packets > rb.Sent.Packets {
		t.Errorf("relay counted more than was sent: %d > %d or %d > %d", st.A.RTP.Packets, ra.Sent.Packets, st.B.RTP.Packets, rb.Sent.Packets)
	}
	// Latching learned alice's public (NAT) address although her SDP said
	// 192.168.1.10.
	if st.A.Latched.Addr() != netip.MustParseAddr("203.0.113.1") || st.A.SDPAddr.Addr() != netip.MustParseAddr("192.168.1.10") {
		t.Errorf("leg A latched %v (sdp %v), want 203.0.113.1 (sdp 192.168.1.10)", st.A.Latched, st.A.SDPAddr)
	}
	if row.engine && rec.Engine != ls.engine.NG.String() {
		t.Errorf("call's engine %q, want %v", rec.Engine, ls.engine.NG)
	}
	if ls.relay != nil {
		waitFor(t, func() bool { return ls.relay.FreePairs() == 500 }) // ports return once the loop closed them
	}
	_ = net.IPv4len
}

// TestLabRouterAddrSources: from a LAN host, NAT-PMP (a real miniupnpd)
// and STUN (a real coturn) both give the router's public address.
func TestLabRouterAddrSources(t *testing.T) {
	natlab.Require(t)
	lab := natlab.New(t)
	stun := natlab.StartCoturn(t, lab.PublicHost("stun", "203.0.113.20", "203.0.113.21"))
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: apdm})
	natlab.StartMiniupnpd(t, r1, natlab.MiniupnpdConfig{STUN: stun.Primary, NATPMP: true})
	srv := r1.LANHost("srv", "192.168.1.2")
	for _, src := range []addrSource{natpmpSource(r1.LANAddr()), stunSource(stun.Primary, srv.Addr())} {
		var got netip.Addr
		// Both make their socket in the calling goroutine: inside Do it
		// belongs to the LAN host.
		err := srv.Do(func() error {
			var err error
			got, err = src.ask(t.Context())
			return err
		})
		if err != nil || got != r1.WAN() {
			t.Errorf("%s: %v %v, want the router's %v", src.via, got, err, r1.WAN())
		}
	}
}
