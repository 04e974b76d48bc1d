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

// TestSiteUnanswered: the phones of an office behind one NAT whose
// REGISTERs all go unanswered are one register-unanswered finding about
// the site, which says so when the registrar answered another site; not
// when a phone of the site got an answer, not for two phones.
func TestSiteUnanswered(t *testing.T) {
	for _, tc := range []struct {
		name          string
		phones        int
		oneAnswered   bool // the last phone gets a 200 OK
		othersAnswerd bool // a phone elsewhere registers there
		site          bool
	}{
		{"an office, none answered", 4, false, false, true},
		{"the registrar answers another site", 4, false, true, true},
		{"one phone answered", 4, true, false, false},
		{"two phones", 2, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newRegScript(t)
			for p := range tc.phones {
				s.phone = netip.AddrPortFrom(netip.MustParseAddr("203.0.113.1"), uint16(40000+p))
				s.contact = netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 168, 1, byte(10 + p)}), 5060)
				user := fmt.Sprint(100 + p)
				at := time.Duration(p) * time.Second
				for _, resend := range []time.Duration{0, 500 * time.Millisecond, 1500 * time.Millisecond, 3500 * time.Millisecond, 7500 * time.Millisecond} {
					s.register(user, 1, 3600, false, at+resend)
				}
				if tc.oneAnswered && p == tc.phones-1 {
					s.answer(user, 1, 200, 3600, at+8*time.Second)
				}
			}
			if tc.othersAnswerd {
				s.phone, s.contact = netip.MustParseAddrPort("198.51.100.9:5060"), netip.MustParseAddrPort("198.51.100.9:5060")
				s.register("900", 1, 3600, false, 10*time.Second)
				s.answer("900", 1, 200, 3600, 10*time.Second+10*time.Millisecond)
			}
			var unanswered []report.Finding
			for _, f := range s.r.findings(s.t0.Add(time.Minute), hostView{}, nil) {
				if f.ID == IDRegisterUnanswered {
					unanswered = append(unanswered, f)
				}
			}
			if !tc.site {
				for _, f := range unanswered {
					if f.Remedy == remedySiteUnanswered {
						t.Errorf("finding %+v", f)
					}
				}
				if len(unanswered) == 0 {
					t.Error("no register-unanswered finding")
				}
				return
			}
			want := "No phone behind 203.0.113.1 got any response from the registrar 198.51.100.20 (4 phones, 4 accounts, 20 REGISTERs over 11s): " +
				"none of them is registered, and since all fail at once, no phone's settings are the cause"
			if tc.othersAnswerd {
				want += "; the registrar answered others in this capture: it, or a firewall before it, drops the site (a block on its address, fail2ban after failed logins)"
			}
			if len(unanswered) != 1 || unanswered[0].Title != want || unanswered[0].Remedy != remedySiteUnanswered || unanswered[0].Subject != "203.0.113.1" {
				t.Fatalf("findings %+v, want one about the site", unanswered)
			}
		})
	}
}
