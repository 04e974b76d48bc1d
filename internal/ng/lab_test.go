//go:build linux

package ng_test

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/internal/ng"
)

// TestLabRealEngine drives a real rtpengine (user space) in a lab
// namespace: ping, offer and answer with the NAT case's flags, RTP both
// ways, query, statistics, delete; then a refused offer, a paused engine
// (no reply) and a killed one (refused).
func TestLabRealEngine(t *testing.T) {
	natlab.Require(t)
	lab := natlab.New(t)
	h := lab.PublicHost("rtpe", "203.0.113.30")
	eng := natlab.StartRtpengine(t, h, natlab.RtpengineConfig{})
	c, err := ng.New(eng.NG, ng.Options{Dial: func(a netip.AddrPort) (*net.UDPConn, error) { return h.DialUDP("udp4", a.String()) },
		Schedule: fastSchedule})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := t.Context()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	caller, err := h.ListenUDP("udp4", "203.0.113.30:0")
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	callee, err := h.ListenUDP("udp4", "203.0.113.30:0")
	if err != nil {
		t.Fatal(err)
	}
	defer callee.Close()
	callerAddr, calleeAddr := caller.LocalAddr().(*net.UDPAddr).AddrPort(), callee.LocalAddr().(*net.UDPAddr).AddrPort()
	id := "natdoc-ng-lab-" + time.Now().Format("150405.000")
	offer, err := c.Request(ctx, map[string]any{"command": "offer", "call-id": id, "from-tag": "a", "sdp": ng.AudioSDP(callerAddr, 1),
		"received-from": []any{"IP4", callerAddr.Addr().String()}, "flags": []any{"trust-address"},
		"replace": []any{"origin", "session-connection"}, "ICE": "remove"})
	if err != nil {
		t.Fatal(err)
	}
	toCallee, err := ng.MediaAddr(offer["sdp"].(string))
	if err != nil {
		t.Fatal(err)
	}
	answer, err := c.Answer(ctx, id, "a", "b", ng.AudioSDP(calleeAddr, 2))
	if err != nil {
		t.Fatal(err)
	}
	toCaller, err := ng.MediaAddr(answer)
	if err != nil || toCaller.Addr() != h.Addr() || toCallee.Addr() != h.Addr() {
		t.Fatalf("engine addresses %v %v (%v), want %v", toCaller, toCallee, err, h.Addr())
	}
	rtp := append([]byte{0x80, 0, 0, 1}, make([]byte, 168)...)
	for range 10 {
		caller.WriteToUDPAddrPort(rtp, toCaller)
		callee.WriteToUDPAddrPort(rtp, toCallee)
		time.Sleep(5 * time.Millisecond)
	}
	caller.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := caller.Read(make([]byte, 1500)); err != nil {
		t.Fatalf("the caller heard nothing through rtpengine: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	q, err := c.Query(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := q.Parties["a"], q.Parties["b"]; a.RTP.Packets != 10 || b.RTP.Packets != 10 || a.Endpoint != callerAddr || b.Endpoint != calleeAddr {
		t.Errorf("query: caller %+v callee %+v; want 10 packets each from %v and %v", a, b, callerAddr, calleeAddr)
	}
	st, err := c.Statistics(ctx)
	if err != nil || st.Sessions != 1 || st.RelayedPackets < 20 {
		t.Errorf("statistics %+v %v: want 1 session, at least 20 packets", st, err)
	}
	final, err := c.Delete(ctx, id, "a")
	if err != nil || final.RTP.Packets < 20 {
		t.Errorf("delete: %+v %v", final.RTP, err)
	}
	if _, err := c.Offer(ctx, id+"-bad", "a", "not an sdp"); !errors.Is(err, ng.ErrFailed) {
		t.Errorf("offer of a bad SDP: %v, want ErrFailed", err)
	}
	eng.Proc.Pause()
	if err := c.Ping(ctx); !errors.Is(err, ng.ErrNoReply) {
		t.Errorf("ping of a paused engine: %v, want ErrNoReply", err)
	}
	eng.Proc.Resume()
	eng.Proc.Kill()
	if err := c.Ping(ctx); !errors.Is(err, ng.ErrRefused) {
		t.Errorf("ping of a killed engine: %v, want ErrRefused", err)
	}
}
