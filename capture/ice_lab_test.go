//go:build linux

package capture

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// iceBaresipConfig is baresipConfig with the ICE module (and STUN for its
// server-reflexive candidate) loaded before the account.
func iceBaresipConfig(t *testing.T, listen, account string) string {
	t.Helper()
	dir := baresipConfig(t, listen, account, true)
	conf := filepath.Join(dir, "config")
	data, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.Replace(string(data), "module stun.so\n", "module stun.so\nmodule ice.so\n", 1))
	if err := os.WriteFile(conf, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestLabICECalls places real calls between two baresip phones that
// negotiate ICE (RFC 8445), the caller behind a NAT with a STUN server for
// its server-reflexive candidate. When the checks connect, the call is
// two-way and the candidates and flows are read from the SDP. When a
// firewall on the callee's host drops inbound UDP to its media ports, the
// capture (on the callee, before that firewall) holds checks but no RTP:
// natdoc says no-way and why, the callee answering none of the caller's
// checks while its own are answered.
func TestLabICECalls(t *testing.T) {
	natlab.Require(t)
	for _, blocked := range []bool{false, true} {
		name := "connects"
		if blocked {
			name = "callee's firewall drops inbound UDP"
		}
		t.Run(name, func(t *testing.T) {
			c := labICECall(t, blocked)
			t.Logf("%s: %s; findings %v", c.Verdict, c.Explain, findingIDs(c))
			unanswered := findingOf(c, IDICEChecksUnanswered)
			if !blocked {
				if c.Verdict != report.VerdictTwoWay || unanswered != nil || findingOf(c, IDICEConnectedNoMedia) != nil {
					t.Errorf("verdict %s, ICE findings %v; want two-way and none", c.Verdict, findingIDs(c))
				}
				if offer := c.Streams[0].Offer; offer == nil || len(offer.ICECandidates) < 2 {
					t.Errorf("the offer's candidates: %+v", offer)
				}
				return
			}
			if c.Verdict != report.VerdictNoWay || unanswered == nil || unanswered.Severity != report.SeverityError ||
				!strings.Contains(unanswered.Title, "The callee answered none of the caller's") || !strings.Contains(unanswered.Title, "inbound UDP") {
				t.Errorf("verdict %s, %+v; want no-way and the callee's dropped inbound UDP", c.Verdict, unanswered)
			}
		})
	}
}

// labICECall runs one ICE call from a phone behind NAT (192.168.1.10 behind
// 203.0.113.1) to a phone on the internet (203.0.113.10), captured at the
// callee, and returns natdoc's call.
func labICECall(t *testing.T, blocked bool) report.Call {
	lab := natlab.New(t)
	callee := lab.PublicHost("callee", "203.0.113.10")
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24",
		NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	phone := r1.LANHost("phone", "192.168.1.10")
	stunHost := lab.PublicHost("stun", "198.51.100.10", "198.51.100.11")
	srv := natlab.StartCoturn(t, stunHost)
	ice := ";medianat=ice;stunserver=stun:" + srv.Primary.String()
	if blocked {
		callee.Nft(t, "add table inet fw\nadd chain inet fw in { type filter hook input priority filter; policy accept; }\n"+
			"add rule inet fw in ip saddr 203.0.113.1 udp dport 10000-10010 drop")
	}
	pcap, dump := labTcpdump(t, callee)
	calleeDir := iceBaresipConfig(t, "203.0.113.10:5060", "<sip:200@203.0.113.10>;regint=0;answermode=auto"+ice)
	b := callee.Start(t, "baresip", "-f", calleeDir, "-t", "12")
	time.Sleep(500 * time.Millisecond)
	phoneDir := iceBaresipConfig(t, "192.168.1.10:5060", "<sip:100@192.168.1.10>;regint=0"+ice)
	caller := phone.Start(t, "baresip", "-f", phoneDir, "-t", "8", "-e", "/dial sip:200@203.0.113.10")
	endLabCall(t, caller, 20*time.Second, b, dump)
	res := analyzePath(t, pcap)
	if len(res.Calls) != 1 {
		t.Fatalf("%d calls; caller log:\n%s", len(res.Calls), caller.Log())
	}
	return res.Calls[0]
}

// findingOf is the call's finding with id, or nil.
func findingOf(c report.Call, id report.FindingID) *report.Finding {
	return findingByID(c.Findings, id)
}
