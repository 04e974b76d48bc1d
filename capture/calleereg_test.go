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

// TestCalleeRegistration: a PBX answers a call to phone 100 with 480 or
// 404; the same capture holds 100's REGISTERs to that PBX. When they show
// 100 unregistered at the time (its registration ran out, was refused),
// callee-not-registered says so; when 100 was registered and the PBX
// answered 404, call-not-routed blames the PBX's routing.
func TestCalleeRegistration(t *testing.T) {
	phone, pbx := netip.MustParseAddrPort("192.168.1.10:5060"), netip.MustParseAddrPort("192.168.1.2:5060")
	caller := netip.MustParseAddrPort("192.168.1.20:5060")
	for _, tc := range []struct {
		name     string
		register int // the REGISTER's answer (0: no REGISTER)
		granted  int // seconds its 200 OK grants
		status   int // the call's answer, 90 s after the REGISTER
		want     report.FindingID
		title    string
	}{
		{"registration ran out", 200, 60, 480, capture.IDCalleeNotRegistered,
			"The callee 100 was not registered at 192.168.1.2 when called (480 Temporarily Unavailable): its registration had run out 30s before, not renewed"},
		{"registration refused", 403, 0, 480, capture.IDCalleeNotRegistered,
			"The callee 100 was not registered at 192.168.1.2 when called (480 Temporarily Unavailable): its REGISTERs were refused (403 Forbidden)"},
		{"registered, yet not found", 200, 3600, 404, capture.IDCallNotRouted,
			"The server 192.168.1.2 answered 404 Not Found for 100, though 100 was registered there: it does not route the call to its registered phone"},
		{"registered, and unavailable", 200, 3600, 480, "", ""},
		{"no REGISTER in the capture", 0, 0, 480, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, w := createPcap(t, "callee.pcap", 1)
			t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			send := func(s float64, src, dst netip.AddrPort, data []byte) {
				writeUDP(t, w, src, dst, data, t0.Add(time.Duration(s*float64(time.Second))))
			}
			if tc.register != 0 {
				send(0, phone, pbx, sipRequest("REGISTER", phone, pbx, "reg", 1, false))
				answer := strings.Replace(string(sipRequest("REGISTER", phone, pbx, "reg", 1, true)), "SIP/2.0 200 OK", fmt.Sprintf("SIP/2.0 %d %s", tc.register, reasonOf(tc.register)), 1)
				answer = strings.Replace(answer, "Expires: 600", fmt.Sprintf("Expires: %d", tc.granted), 1)
				send(0.01, pbx, phone, []byte(answer))
			}
			invite := scanInvite(caller, "100", "Yealink SIP-T46S 66.86.0.15", "call-1")
			send(90, caller, pbx, invite)
			final := strings.Replace(strings.SplitN(string(invite), "\r\nContent-Type", 2)[0], "INVITE sip:100@203.0.113.10 SIP/2.0", fmt.Sprintf("SIP/2.0 %d %s", tc.status, reasonOf(tc.status)), 1)
			final = strings.Replace(final, "To: <sip:100@203.0.113.10>", "To: <sip:100@203.0.113.10>;tag=pbx", 1) + "\r\nContent-Length: 0\r\n\r\n"
			send(90.02, pbx, caller, []byte(final))
			send(120, netip.MustParseAddrPort("127.0.0.1:1"), pbx, []byte("end"))
			res := capture.AnalyzePath(t, path)
			if len(res.Calls) != 1 {
				t.Fatalf("%d calls", len(res.Calls))
			}
			c := res.Calls[0]
			for _, id := range []report.FindingID{capture.IDCalleeNotRegistered, capture.IDCallNotRouted} {
				f := findingByID(c.Findings, id)
				switch {
				case id == tc.want && (f == nil || !strings.HasPrefix(f.Title, tc.title)):
					t.Errorf("%s: %+v, want %q", id, f, tc.title)
				case id != tc.want && f != nil:
					t.Errorf("unexpected %+v", f)
				}
			}
		})
	}
}

func reasonOf(status int) string {
	return map[int]string{200: "OK", 403: "Forbidden", 404: "Not Found", 480: "Temporarily Unavailable"}[status]
}
