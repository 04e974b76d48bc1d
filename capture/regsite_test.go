package capture

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/report"
)

// TestSiteRefused: the phones of an office behind one NAT, each at its
// own LAN address, all refused by their registrar, are one register-refused
// finding about the site (the registrar refuses the site, not one phone's
// account); not when one of them registered, not when the registrar
// failed (5xx), not for two phones.
func TestSiteRefused(t *testing.T) {
	for _, tc := range []struct {
		name       string
		phones     int
		status     int
		registered bool // the last phone's REGISTER gets a 200 OK
		site       bool
	}{
		{"an office, all refused", 4, 403, false, true},
		{"one phone got in", 4, 403, true, false},
		{"the registrar failed", 4, 503, false, false},
		{"two phones", 2, 403, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newRegScript(t)
			for p := range tc.phones {
				s.phone = netip.AddrPortFrom(netip.MustParseAddr("203.0.113.1"), uint16(40000+p))
				s.contact = netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 168, 1, byte(10 + p)}), 5060)
				user := fmt.Sprint(100 + p)
				at := time.Duration(p) * time.Second
				// Each phone retries every 30 s, as phones refused do.
				for i := range 4 {
					cseq := uint32(2*i + 1)
					s.register(user, cseq, 3600, false, at)
					s.answer(user, cseq, 401, 0, at+10*time.Millisecond)
					s.register(user, cseq+1, 3600, true, at+20*time.Millisecond)
					status := tc.status
					if tc.registered && p == tc.phones-1 {
						status = 200
					}
					s.answer(user, cseq+1, status, 3600, at+30*time.Millisecond)
					at += 30 * time.Second
				}
			}
			var refused []report.Finding
			for _, f := range s.r.findings(s.t0.Add(3*time.Minute), hostView{}, nil) {
				if f.ID == IDRegisterRefused {
					refused = append(refused, f)
				}
			}
			if !tc.site {
				for _, f := range refused {
					if strings.Contains(f.Title, "refused every phone") {
						t.Errorf("finding %+v", f)
					}
				}
				return
			}
			if len(refused) != 1 || refused[0].Subject != "203.0.113.1" || refused[0].Remedy != remedySiteRefused ||
				refused[0].Title != "The registrar 198.51.100.20 refused every phone behind 203.0.113.1 (4 phones, 4 accounts) and none registered: it refuses the site, not one phone's account" ||
				refused[0].Evidence[1].Text != "answered 403 Reason (4)" {
				t.Fatalf("refusals %+v, want one about the site", refused)
			}
			for _, b := range s.r.table(s.t0.Add(3 * time.Minute)) {
				if !b.Problem || b.Findings[0] != IDRegisterRefused {
					t.Errorf("row %+v not linked to the site's finding", b)
				}
			}
		})
	}
}
