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

// scanInvite is an INVITE as SIP scanners send them to a public PBX: to
// a number abroad or an extension, with the User-Agent they choose.
func scanInvite(src netip.AddrPort, user, userAgent, callID string) []byte {
	sdp := "v=0\r\no=- 1 1 IN IP4 192.168.1.83\r\ns=call\r\nc=IN IP4 192.168.1.83\r\nt=0 0\r\nm=audio 25282 RTP/AVP 0\r\n"
	return []byte(fmt.Sprintf("INVITE sip:%s@203.0.113.10 SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%s\r\nMax-Forwards: 70\r\n"+
		"From: <sip:2@203.0.113.10>;tag=t%s\r\nTo: <sip:%s@203.0.113.10>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\nContact: <sip:2@%s>\r\n"+
		"User-Agent: %s\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
		user, src, callID, callID, user, callID, src, userAgent, len(sdp), sdp))
}

// TestScannerInvitesRightlyIgnored: a public PBX, captured on its own
// host, answers nothing to INVITEs from the internet (fail2ban dropped
// them). Those a scanning tool's User-Agent sent, and those sent once and
// never resent to a number abroad (a toll-fraud probe behind a phone's
// User-Agent), are scans it does right to ignore: info, not a fault. An
// INVITE sent once to an extension, with no other sign, and one resent
// as phones do, stay a warning: either may be a phone the firewall shuts
// out.
func TestScannerInvitesRightlyIgnored(t *testing.T) {
	path, w := createPcap(t, "scanners.pcap", 1)
	pbx := netip.MustParseAddrPort("203.0.113.10:5060")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	send := func(s float64, src netip.AddrPort, data []byte) {
		writeUDP(t, w, src, pbx, data, t0.Add(time.Duration(s*float64(time.Second))))
	}
	sipvicious, polycom := netip.MustParseAddrPort("45.134.26.7:5071"), netip.MustParseAddrPort("213.165.51.44:53777")
	phone := netip.MustParseAddrPort("198.51.100.23:5060")
	send(0, sipvicious, scanInvite(sipvicious, "100", "friendly-scanner", "scan-tool"))
	send(1, polycom, scanInvite(polycom, "000048422032120", "PolycomSoundPointIP-SPIP_335-UA/3.3.1.0907", "scan-abroad"))
	send(2, polycom, scanInvite(polycom, "101", "PolycomSoundPointIP-SPIP_335-UA/3.3.1.0907", "once-extension"))
	for _, at := range []float64{3, 3.5, 4.5, 6.5, 10.5, 14.5, 18.5, 22.5} {
		send(at, phone, scanInvite(phone, "0044201234567", "Yealink SIP-T46S 66.86.0.15", "resent-phone"))
	}
	send(60, netip.MustParseAddrPort("127.0.0.1:1"), []byte("end"))
	res := capture.AnalyzePath(t, path)
	want := map[string]report.Severity{"scan-tool": report.SeverityInfo, "scan-abroad": report.SeverityInfo,
		"once-extension": report.SeverityWarning, "resent-phone": report.SeverityWarning}
	for _, c := range res.Calls {
		var got report.Severity
		for _, f := range c.Findings {
			if f.ID == capture.IDRequestUnanswered {
				got = f.Severity
				if got == report.SeverityInfo && !strings.Contains(f.Title, "SIP scanner's") {
					t.Errorf("%s: %q does not say it is a scanner's", c.CallID, f.Title)
				}
			}
		}
		scanner := c.NotAnswered != nil && c.NotAnswered.Scanner
		if got != want[c.CallID] || scanner != (want[c.CallID] == report.SeverityInfo) {
			t.Errorf("%s: request-unanswered %q, not_answered.scanner %v; want %q", c.CallID, got, scanner, want[c.CallID])
		}
		delete(want, c.CallID)
	}
	if len(want) > 0 {
		t.Errorf("calls not reported: %v", want)
	}
}

// TestDialOutScanCallsRightlyIgnored: a host on the internet dials a
// number abroad through one public PBX after another, resending each
// INVITE as a phone would, and none answers. Once its calls show the scan
// (five servers, counted as the INVITEs go out), each unanswered INVITE
// judged from then on is the scan's: info, not a fault of the server;
// the ones judged before stay warnings.
func TestDialOutScanCallsRightlyIgnored(t *testing.T) {
	path, w := createPcap(t, "dialscan.pcap", 1)
	scanner := netip.MustParseAddrPort("198.51.100.66:5060")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const servers = 7
	for i := range servers {
		pbx := netip.MustParseAddrPort(fmt.Sprintf("203.0.113.%d:5060", 10+i))
		start := float64(40 * i) // each judged (Timer B) before the next
		for _, at := range []float64{0, 0.5, 1.5, 3.5} {
			writeUDP(t, w, scanner, pbx, scanInvite(scanner, "01148185422016", "Yealink SIP-T46S 66.86.0.15", fmt.Sprintf("probe-%d", i)),
				t0.Add(time.Duration((start+at)*float64(time.Second))))
		}
	}
	writeUDP(t, w, netip.MustParseAddrPort("127.0.0.1:1"), scanner, []byte("end"), t0.Add(40*servers*time.Second))
	res := capture.AnalyzePath(t, path)
	if len(res.Calls) != servers {
		t.Fatalf("%d calls, want %d", len(res.Calls), servers)
	}
	for i, c := range res.Calls {
		f := findingByID(c.Findings, capture.IDRequestUnanswered)
		want := report.SeverityWarning
		if i >= 4 {
			want = report.SeverityInfo
		}
		if f == nil || f.Severity != want || (want == report.SeverityInfo) != strings.Contains(f.Title, "its source 198.51.100.66 is scanning for open dial-out: ") {
			t.Errorf("%s: request-unanswered %+v, want %s", c.CallID, f, want)
		}
	}
	if findingByID(res.Findings, capture.IDDialOutScan) == nil {
		t.Error("no dial-out-scan finding")
	}
}
