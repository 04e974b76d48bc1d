package capture

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/natdoc/natdoc/report"
)

// TestRegisterScans: one host on the internet trying many accounts at a
// registrar, a REGISTER and its credentials each, and getting none, is one
// register-scan finding (info) in place of a refusal per account; not
// when one account got in, not from a LAN, not for phones that retry
// their account again and again, not for a handful of accounts, not for
// an office's phones behind one NAT, each with its own LAN address.
func TestRegisterScans(t *testing.T) {
	tests := []struct {
		name       string
		src        string
		accounts   int
		tries      int  // REGISTER transactions per account (with credentials from the second)
		registered bool // the last account's last REGISTER gets a 200 OK
		lan        bool // each account's Contact is its own LAN address: phones behind NAT
		scan       bool
	}{
		{"scan", "198.51.100.66", 12, 2, false, false, true},
		{"one account got in", "198.51.100.66", 12, 2, true, false, false},
		{"a LAN's phones", "192.168.1.50", 12, 2, false, false, false},
		{"phones retrying", "198.51.100.66", 12, 6, false, false, false},
		{"a handful of accounts", "198.51.100.66", 9, 2, false, false, false},
		{"an office's phones behind NAT, all refused", "198.51.100.66", 12, 2, false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newRegScript(t)
			at := time.Duration(0)
			for a := range tt.accounts {
				s.phone = netip.AddrPortFrom(netip.MustParseAddr(tt.src), uint16(40000+a)) // its own source port
				s.contact = s.phone
				if tt.lan {
					s.contact = netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 168, 1, byte(10 + a)}), 5060)
				}
				user := fmt.Sprint(100 + a)
				for i := range tt.tries {
					cseq := uint32(i + 1)
					s.register(user, cseq, 3600, i > 0, at)
					status := 403
					if i == 0 {
						status = 401
					}
					if tt.registered && a == tt.accounts-1 && i == tt.tries-1 {
						status = 200
					}
					s.answer(user, cseq, status, 3600, at+10*time.Millisecond)
					at += 100 * time.Millisecond
				}
			}
			fs := s.r.findings(s.t0.Add(time.Minute), hostView{}, nil)
			counts := map[report.FindingID]int{}
			for _, f := range fs {
				counts[f.ID]++
			}
			if tt.scan {
				if counts[IDRegisterScan] != 1 || counts[IDRegisterRefused] != 0 || len(fs) != 1 || fs[0].Severity != report.SeverityInfo || fs[0].Subject != tt.src {
					t.Fatalf("findings %v, want one register-scan (info) alone", counts)
				}
				for _, b := range s.r.table(s.t0.Add(time.Minute)) {
					if !b.Scanner || b.Findings[0] != IDRegisterScan {
						t.Errorf("row %s not marked as the scan's: %+v", b.AOR, b)
					}
				}
				return
			}
			if counts[IDRegisterScan] != 0 || counts[IDRegisterRefused] == 0 || (tt.lan && counts[IDRegisterRefused] != 1) {
				t.Errorf("findings %v, want refusals (one, the site's, for an office) and no scan", counts)
			}
		})
	}
}
