package capture_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/report"
)

// TestRegisterUnanswered: a phone whose REGISTERs, resent until Timer F
// and repeated, draw no response at all is not registered: a warning
// naming the registrar. Not when a response came from another address of
// the registrar (a cluster answers from its own), nor when the capture
// ends before Timer F could end the first.
func TestRegisterUnanswered(t *testing.T) {
	phone, registrar := netip.MustParseAddrPort("198.51.100.7:5060"), netip.MustParseAddrPort("203.0.113.20:5060")
	other := netip.MustParseAddrPort("203.0.113.21:5060")
	for _, tc := range []struct {
		name      string
		answerer  netip.AddrPort // answers the second transaction; zero: none
		lastsFor  time.Duration
		wantFound bool
	}{
		{"never answered", netip.AddrPort{}, 90 * time.Second, true},
		{"answered from another address", other, 90 * time.Second, false},
		{"capture too short", netip.AddrPort{}, 20 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, w := createPcap(t, "register.pcap", 1)
			t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			send := func(at time.Duration, src, dst netip.AddrPort, data []byte) {
				if at <= tc.lastsFor {
					writeUDP(t, w, src, dst, data, t0.Add(at))
				}
			}
			for tx := 0; tx < 2; tx++ {
				start := time.Duration(tx) * 40 * time.Second
				for _, resend := range []time.Duration{0, 500 * time.Millisecond, 1500 * time.Millisecond, 3500 * time.Millisecond} {
					send(start+resend, phone, registrar, sipRequest("REGISTER", phone, registrar, "reg", 1+tx, false))
				}
				if tx == 1 && tc.answerer.IsValid() {
					send(start+4*time.Second, tc.answerer, phone, sipRequest("REGISTER", phone, registrar, "reg", 1+tx, true))
				}
			}
			send(tc.lastsFor, netip.MustParseAddrPort("127.0.0.1:1"), registrar, []byte("end"))
			res := capture.AnalyzePath(t, path)
			got := findingByID(res.Findings, capture.IDRegisterUnanswered)
			if (got != nil) != tc.wantFound {
				t.Fatalf("finding %+v, want one: %v", got, tc.wantFound)
			}
			if got != nil && (!strings.HasPrefix(got.Title, "100's REGISTERs to 203.0.113.20:5060 got no response at all (sent 8 times over 44s)") || got.Severity != report.SeverityWarning) {
				t.Errorf("finding %+v", got)
			}
		})
	}
}

// TestRegisterResponsesLost: the registrar answers the REGISTER at the
// Via's port, not at the NAT's port it came from, and the phone goes on
// resending it: sip-responses-lost names where the answer went. A resend
// that crossed the answer on the wire is no sign.
func TestRegisterResponsesLost(t *testing.T) {
	phone, registrar := netip.MustParseAddrPort("198.51.100.7:61000"), netip.MustParseAddrPort("203.0.113.20:5060")
	viaPort := netip.MustParseAddrPort("198.51.100.7:5060")
	for _, tc := range []struct {
		name    string
		answer  netip.AddrPort
		resends []time.Duration // after the first REGISTER, which is answered at 50 ms
		want    bool
	}{
		{"answered at the Via's port", viaPort, []time.Duration{500 * time.Millisecond, 1500 * time.Millisecond, 3500 * time.Millisecond}, true},
		{"a resend crossed the answer", phone, []time.Duration{60 * time.Millisecond}, false},
		{"new registrations, each CSeq 1 under its own Call-ID", phone, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, w := createPcap(t, "register.pcap", 1)
			t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			writeUDP(t, w, phone, registrar, sipRequest("REGISTER", phone, registrar, "reg", 1, false), t0)
			writeUDP(t, w, registrar, tc.answer, sipRequest("REGISTER", phone, registrar, "reg", 1, true), t0.Add(50*time.Millisecond))
			for _, at := range tc.resends {
				writeUDP(t, w, phone, registrar, sipRequest("REGISTER", phone, registrar, "reg", 1, false), t0.Add(at))
			}
			if tc.resends == nil {
				// The next registration's REGISTER, resent as the first was.
				for _, at := range []time.Duration{time.Second, 1500 * time.Millisecond, 2500 * time.Millisecond} {
					writeUDP(t, w, phone, registrar, sipRequest("REGISTER", phone, registrar, "reg-next", 1, false), t0.Add(at))
				}
			}
			res := capture.AnalyzePath(t, path)
			got := findingByID(res.Findings, capture.IDResponsesLost)
			if (got != nil) != tc.want {
				t.Fatalf("finding %+v, want one: %v", got, tc.want)
			}
			if got != nil && got.Title != "100 went on resending its REGISTER after the registrar's 200 OK (3 times after it): the response, "+
				"sent to 198.51.100.7:5060 rather than where the REGISTER came from, did not reach the phone, or the phone discarded it" {
				t.Errorf("finding %+v", got)
			}
		})
	}
}

// TestRegistrationsSection: a capture of one phone registering two
// accounts from one socket, one refused after its credentials and one
// registered, and nothing else: no calls, the verdict says how the
// registrations went, and the report lists each account as it stood.
func TestRegistrationsSection(t *testing.T) {
	phone, registrar := netip.MustParseAddrPort("198.51.100.7:5060"), netip.MustParseAddrPort("203.0.113.20:5060")
	path, w := createPcap(t, "register.pcap", 1)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	msg := func(first, user, callID string, cseq int) []byte {
		return []byte(fmt.Sprintf("%s\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%s%d\r\nFrom: <sip:%s@example.test>;tag=f%s\r\nTo: <sip:%s@example.test>\r\n"+
			"Call-ID: %s\r\nCSeq: %d REGISTER\r\nContact: <sip:%s@198.51.100.7:5060>;expires=600\r\nUser-Agent: Yealink SIP-T46S\r\nContent-Length: 0\r\n\r\n",
			first, phone, callID, cseq, user, callID, user, callID, cseq, user))
	}
	request := "REGISTER sip:example.test SIP/2.0"
	at := time.Duration(0)
	exchange := func(user string, cseq int, answer string) {
		writeUDP(t, w, phone, registrar, msg(request, user, "reg-"+user, cseq), t0.Add(at))
		writeUDP(t, w, registrar, phone, msg(answer, user, "reg-"+user, cseq), t0.Add(at+20*time.Millisecond))
		at += 100 * time.Millisecond
	}
	exchange("100", 1, "SIP/2.0 401 Unauthorized")
	exchange("100", 2, "SIP/2.0 403 Forbidden")
	exchange("200", 1, "SIP/2.0 401 Unauthorized")
	exchange("200", 2, "SIP/2.0 200 OK")
	res := capture.AnalyzePath(t, path)
	if res.CallCount != 0 || res.Verdict != "No SIP calls (INVITE dialogs) found in the capture; 2 registrations (2 accounts, 1 registrar): 1 registered, 1 refused." {
		t.Errorf("%d calls, verdict %q", res.CallCount, res.Verdict)
	}
	if len(res.Registrations) != 2 {
		t.Fatalf("registrations %+v, want 2", res.Registrations)
	}
	refused, registered := res.Registrations[0], res.Registrations[1]
	if refused.AOR != "100@example.test" || refused.Outcome != report.BindingRefused || refused.Status != 403 || refused.Requests != 2 ||
		refused.From != phone.String() || refused.Registrar != registrar.String() || refused.UserAgent != "Yealink SIP-T46S" || !refused.Problem {
		t.Errorf("refused account %+v", refused)
	}
	if registered.AOR != "200@example.test" || registered.Outcome != report.BindingRegistered || registered.Expires != 10*time.Minute ||
		registered.Accepted != 1 || registered.Problem || registered.FirstFrame != 5 || registered.LastFrame != 8 {
		t.Errorf("registered account %+v", registered)
	}
}
