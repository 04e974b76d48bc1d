//go:build linux

package capture

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

var recordLab = flag.Bool("record-lab", false, "rewrite testdata/natlab-*.pcap from fresh lab calls")

// baresipConfig writes a baresip configuration for a phone without a sound
// card (LAB-NOTES: ausine source at 48 kHz stereo, received audio to a
// file, PCMU only, fixed RTP ports, no RTCP mux).
func baresipConfig(t *testing.T, listen, account string, stun bool) string {
	t.Helper()
	dir := t.TempDir()
	// The NAT module must load before account.so parses medianat=.
	modules := []string{"g711.so", "ausine.so", "aufile.so"}
	if stun {
		modules = append(modules, "stun.so")
	}
	modules = append(modules, "account.so", "menu.so")
	var mods strings.Builder
	for _, m := range modules {
		fmt.Fprintf(&mods, "module %s\n", m)
	}
	conf := fmt.Sprintf(`poll_method epoll
sip_listen %s
sip_trans_def udp
audio_player aufile,%s
audio_source ausine,440
audio_alert aufile,/dev/null
ausrc_srate 48000
ausrc_channels 2
auplay_srate 8000
rtp_ports 10000-10010
rtcp_mux no
module_path /usr/lib/baresip/modules
%s`, listen, filepath.Join(dir, "heard.wav"), mods.String())
	for name, body := range map[string]string{"config": conf, "accounts": account + "\n", "contacts": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// labCall places one baresip call from a phone behind a real nftables NAT
// (192.168.1.10 behind 203.0.113.1) to a baresip phone on the internet
// (203.0.113.10), captured with tcpdump at the internet phone. With stun,
// the caller learns its public mapping from coturn and puts it in SDP.
func labCall(t *testing.T, stun, alg bool) string {
	lab := natlab.New(t)
	callee := lab.PublicHost("callee", "203.0.113.10")
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24",
		NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent, SIPALG: alg}})
	phone := r1.LANHost("phone", "192.168.1.10")
	account := "<sip:100@192.168.1.10>;regint=0"
	if stun {
		stunHost := lab.PublicHost("stun", "198.51.100.10", "198.51.100.11")
		srv := natlab.StartCoturn(t, stunHost)
		if os.Getenv("NATDOC_DEBUG_LAB") != "" {
			stunHost.Start(t, "tcpdump", "-i", "eth0", "-n", "-U", "udp or icmp")
			r1.Start(t, "tcpdump", "-i", "any", "-n", "-U", "udp or icmp")
		}
		account += fmt.Sprintf(";medianat=stun;stunserver=stun:%s", srv.Primary)
	}
	pcap := filepath.Join(t.TempDir(), "call.pcap")
	dump := callee.StartTcpdump(t, pcap, "udp")
	calleeDir := baresipConfig(t, "203.0.113.10:5060", "<sip:200@203.0.113.10>;regint=0;answermode=auto", false)
	b := callee.Start(t, "baresip", "-f", calleeDir, "-t", "12")
	time.Sleep(500 * time.Millisecond)
	phoneDir := baresipConfig(t, "192.168.1.10:5060", account, stun)
	caller := phone.Start(t, "baresip", "-f", phoneDir, "-t", "8", "-e", "/dial sip:200@203.0.113.10")
	endLabCall(t, caller, 20*time.Second, b, dump)
	t.Logf("caller log:\n%s", caller.Log())
	return pcap
}

// TestLabCalls records real calls through real NAT and judges them: the
// phone that leaks 192.168.1.10 in SDP cannot hear; with STUN it can.
// go test ./capture -run LabCalls -record-lab stores them in testdata/.
func TestLabCalls(t *testing.T) {
	natlab.Require(t)
	for _, tc := range []struct {
		name    string
		stun    bool
		alg     bool
		file    string
		verdict report.Verdict
		deaf    string
	}{
		{"leaked private address", false, false, "natlab-one-way-private-sdp.pcap", report.VerdictOneWay, "caller"},
		{"fixed with STUN", true, false, "natlab-two-way-stun.pcap", report.VerdictTwoWay, ""},
		{"rewritten by the kernel SIP ALG", false, true, "natlab-sip-alg.pcap", report.VerdictTwoWay, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := labCall(t, tc.stun, tc.alg)
			if dir := os.Getenv("NATDOC_KEEP_LAB"); dir != "" {
				data, _ := os.ReadFile(path)
				_ = os.WriteFile(filepath.Join(dir, tc.file), data, 0o644)
			}
			res := analyzePath(t, path)
			if len(res.Calls) != 1 {
				t.Fatalf("%d calls", len(res.Calls))
			}
			c := res.Calls[0]
			pkts, _ := directionCounts(c)
			t.Logf("%s: %s (%s) packets %v: %s; findings %v", tc.name, c.Verdict, c.CannotHear, pkts, c.Explain, findingIDs(c))
			if tc.stun && natChangedPort(c) {
				// The callee's first RTP can reach the router before the
				// caller's leaves; Linux masquerade then gives the caller's
				// media another port than its STUN mapping, and the callee's
				// RTP to the SDP port is lost. The packets show it; natdoc
				// must say so, not two-way.
				t.Logf("the NAT gave the caller's media another port than its STUN mapping")
				tc.verdict, tc.deaf = report.VerdictOneWay, "caller"
			}
			if c.Verdict != tc.verdict || c.CannotHear != tc.deaf {
				t.Errorf("verdict %s (%q), want %s (%q)", c.Verdict, c.CannotHear, tc.verdict, tc.deaf)
			}
			if *recordLab && !t.Failed() {
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join("..", "testdata", tc.file), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// natChangedPort says whether the caller's RTP left its NAT from another
// port than its SDP named.
func natChangedPort(c report.Call) bool {
	for _, s := range c.Streams {
		if s.Offer == nil {
			continue
		}
		for _, f := range s.Flows {
			if f.Direction == "caller->callee" && !f.RTCP && f.Src != s.Offer.Addr {
				return true
			}
		}
	}
	return false
}
