//go:build linux

package proxy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
)

// Real phones: two baresip instances (alice behind a NAT with her private
// address in SDP, bob on the public side) register with the server and call
// through it. Settings per LAB-NOTES: ausine tone source at 48 kHz stereo,
// PCMU only, fixed RTP ports, no RTCP mux; the player writes what it hears
// to a WAV file (aufile), and rtcpsummary prints baresip's own RTP counts.

const baresipCall = 4 // seconds of call

func baresipConfig(t *testing.T, h *natlab.Host, user string, autoAnswer bool) string {
	t.Helper()
	dir := t.TempDir()
	conf := fmt.Sprintf(`poll_method		epoll
sip_listen		%s:5060
audio_player		aufile,%s
audio_source		ausine,440
audio_alert		aufile,/dev/null
ausrc_srate		48000
auplay_srate		48000
ausrc_channels		2
auplay_channels		2
rtp_ports		10000-10020
rtcp_mux		no
module_path		/usr/lib/baresip/modules
module			g711.so
module			ausine.so
module			aufile.so
module			account.so
module			menu.so
module			rtcpsummary.so
module			cons.so
cons_listen		%s:5555
`, h.Addr(), filepath.Join(dir, "heard.wav"), h.Addr())
	acct := fmt.Sprintf("<sip:%s@%s:5060>;regint=600;audio_codecs=PCMU", user, serverIP)
	if autoAnswer {
		acct += ";answermode=auto"
	}
	for name, body := range map[string]string{"config": conf, "accounts": acct + "\n", "contacts": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLabBaresip(t *testing.T) {
	natlab.Require(t)
	if _, err := exec.LookPath("baresip"); err != nil {
		t.Skip("baresip not installed")
	}
	for _, fix := range []bool{true, false} {
		t.Run(fmt.Sprintf("fix=%v", fix), func(t *testing.T) {
			t.Parallel()
			runBaresip(t, fix)
		})
	}
}

func runBaresip(t *testing.T, fix bool) {
	lab := natlab.New(t)
	srvHost := lab.PublicHost("sip", serverIP)
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: eim})
	aHost := r1.LANHost("alice", "192.168.1.10")
	bHost := lab.PublicHost("bob", "198.51.100.20")
	ls := startLabServer(t, srvHost, fix, false)

	bobDir := baresipConfig(t, bHost, "bob", true)
	aliceDir := baresipConfig(t, aHost, "alice", false)
	bob := bHost.Start(t, "baresip", "-f", bobDir, "-t", strconv.Itoa(baresipCall+8))
	waitFor(t, func() bool { _, ok := ls.srv.reg.lookup("bob", time.Now()); return ok })
	alice := aHost.Start(t, "baresip", "-f", aliceDir, "-t", strconv.Itoa(baresipCall+8), "-e", "/dial sip:bob@"+serverIP)
	// baresip starts sending audio a few seconds into the call here.
	time.Sleep((baresipCall + 2) * time.Second)
	hangup(t, aHost)
	waitFor(t, func() bool {
		return strings.Contains(alice.Log(), "EX=BareSip") && strings.Contains(bob.Log(), "EX=BareSip")
	})
	alice.Stop()
	bob.Stop()
	// baresip says "incoming rtp ... established" once RTP arrives, and
	// rtcpsummary prints its RTP counts if any RTCP arrived.
	aliceHeard := strings.Contains(alice.Log(), "incoming rtp for 'audio' established")
	bobHeard := strings.Contains(bob.Log(), "incoming rtp for 'audio' established")
	aRx, aTx, aOK := rtcpSummary(alice.Log())
	bRx, bTx, bOK := rtcpSummary(bob.Log())
	t.Logf("baresip alice: heard=%v summary=%v received %d sent %d; bob: heard=%v summary=%v received %d sent %d", aliceHeard, aOK, aRx, aTx, bobHeard, bOK, bRx, bTx)
	if !bobHeard || !bOK || bRx < 50 {
		t.Errorf("bob did not hear alice (received %d)\nbob:\n%s", bRx, bob.Log())
	}
	if fix && (!aliceHeard || !aOK || aRx < 50) {
		t.Errorf("fix mode: alice did not hear bob (received %d)\nalice:\n%s", aRx, alice.Log())
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
	} else if st != nil {
		t.Errorf("--fix=false used the relay")
	}
}

// hangup sends "/hangup" to baresip's cons module (UDP, inside the
// phone's namespace).
func hangup(t *testing.T, h *natlab.Host) {
	t.Helper()
	c, err := h.DialUDP("udp4", h.Addr().String()+":5555")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("/hangup\n")); err != nil {
		t.Fatal(err)
	}
}

// rtcpSummary reads baresip's rtcpsummary line: PR packets received, PS
// packets sent.
var summaryRE = regexp.MustCompile(`EX=BareSip;.*?PR=(\d+);PS=(\d+);`)

func rtcpSummary(log string) (received, sent uint64, ok bool) {
	m := summaryRE.FindStringSubmatch(log)
	if m == nil {
		return 0, 0, false // "ERROR=No RTCP stats collected": no RTCP arrived
	}
	received, _ = strconv.ParseUint(m[1], 10, 64)
	sent, _ = strconv.ParseUint(m[2], 10, 64)
	return received, sent, true
}
