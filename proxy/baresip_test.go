//go:build linux

package proxy

import (
	"fmt"
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
)

// Real phones: two baresip instances (alice behind a NAT with her private
// address in SDP, bob on the public side) register with the server and call
// through it (natlab.StartBaresip has their settings).

const baresipCall = 4 // seconds of call

func TestLabBaresip(t *testing.T) {
	natlab.Require(t)
	if _, err := exec.LookPath("baresip"); err != nil {
		t.Skip("baresip not installed")
	}
	// Media in natdoc's relay, in a real rtpengine (alice behind
	// `masquerade random` there: the symmetric NAT), and without the fix.
	for _, row := range []struct {
		fix, engine bool
		nat         natlab.NATConfig
	}{{true, false, eim}, {false, false, eim}, {true, true, apdm}} {
		t.Run(fmt.Sprintf("fix=%v-rtpengine=%v", row.fix, row.engine), func(t *testing.T) {
			t.Parallel()
			runBaresip(t, row.fix, row.engine, row.nat)
		})
	}
}

func runBaresip(t *testing.T, fix, engine bool, nat natlab.NATConfig) {
	lab := natlab.New(t)
	srvHost := lab.PublicHost("sip", serverIP)
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: nat})
	aHost := r1.LANHost("alice", "192.168.1.10")
	bHost := lab.PublicHost("bob", "198.51.100.20")
	ls := startLabServerWith(t, srvHost, fix, false, engine)

	registrar := netip.MustParseAddrPort(serverIP + ":5060")
	bob := natlab.StartBaresip(t, bHost, natlab.BaresipConfig{User: "bob", Registrar: registrar, AutoAnswer: true, Seconds: baresipCall + 8})
	waitFor(t, func() bool { _, ok := ls.srv.reg.lookup("bob", time.Now()); return ok })
	alice := natlab.StartBaresip(t, aHost, natlab.BaresipConfig{User: "alice", Registrar: registrar, Seconds: baresipCall + 8, Dial: "sip:bob@" + serverIP})
	// baresip starts sending audio a few seconds into the call here.
	time.Sleep((baresipCall + 2) * time.Second)
	alice.Command(t, "/hangup")
	// Both phones print the call's end; a loaded CI machine took over 5 s
	// to show it once (the BYE and its 200 OK are milliseconds).
	waitForWithin(t, 20*time.Second, func() bool { return alice.Ended() > 0 && bob.Ended() > 0 })
	alice.Proc.Stop()
	bob.Proc.Stop()
	// baresip says "incoming rtp ... established" once RTP arrives, and
	// rtcpsummary prints its RTP counts if any RTCP arrived.
	aliceHeard, bobHeard := alice.HeardRTP(), bob.HeardRTP()
	aRx, aTx, aOK := counts(alice)
	bRx, bTx, bOK := counts(bob)
	t.Logf("baresip alice: heard=%v summary=%v received %d sent %d; bob: heard=%v summary=%v received %d sent %d", aliceHeard, aOK, aRx, aTx, bobHeard, bOK, bRx, bTx)
	if !bobHeard || !bOK || bRx < 50 {
		t.Errorf("bob did not hear alice (received %d)\nbob:\n%s", bRx, bob.Proc.Log())
	}
	if fix && (!aliceHeard || !aOK || aRx < 50) {
		t.Errorf("fix mode: alice did not hear bob (received %d)\nalice:\n%s", aRx, alice.Proc.Log())
	}
	if !fix && (aliceHeard || aRx != 0) {
		t.Errorf("without fix: alice (private SDP behind NAT) heard bob (%d packets)", aRx)
	}
	waitFor(t, func() bool { _, e := ls.srv.Calls(); return len(e) == 1 })
	_, ended := ls.srv.Calls()
	if st := ended[0].Relay; fix {
		if st == nil {
			t.Fatal("no relay session")
		}
		t.Logf("relay: alice leg latched %v (sdp %v) got %d, forwarded %d; bob leg got %d, forwarded %d",
			st.A.Latched, st.A.SDPAddr, st.A.RTP.Packets, st.A.RTP.Forwarded, st.B.RTP.Packets, st.B.RTP.Forwarded)
		if st.A.RTP.Forwarded < bRx || st.B.RTP.Forwarded < aRx || st.A.RTP.Packets < aTx || st.B.RTP.Packets < bTx {
			t.Errorf("relay counters disagree with baresip: A %+v B %+v", st.A.RTP, st.B.RTP)
		}
		// Alice's SDP named her private address; the media came from the
		// router's: natdoc's relay and rtpengine both latched there.
		if st.A.Latched.Addr() != netip.MustParseAddr("203.0.113.1") || st.A.SDPAddr.Addr() != aHost.Addr() {
			t.Errorf("alice's leg latched %v (SDP %v), want the router's 203.0.113.1 (SDP %v)", st.A.Latched, st.A.SDPAddr, aHost.Addr())
		}
		if engine != (ended[0].Engine != "") {
			t.Errorf("the call's engine %q with rtpengine %v", ended[0].Engine, engine)
		}
	} else if st != nil {
		t.Errorf("--fix=false used the relay")
	}
}

// counts reads the phone's one call: RTP received and sent, and whether
// rtcpsummary printed them.
func counts(b *natlab.Baresip) (received, sent uint64, ok bool) {
	calls := b.Calls()
	if len(calls) == 0 {
		return 0, 0, false
	}
	return calls[0].Received, calls[0].Sent, true
}
