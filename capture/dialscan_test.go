package capture

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/natdoc/natdoc/report"
)

// TestDialOutScans: a host on the internet dialling abroad through many
// servers, or one number with several outside-line prefixes, is one
// dial-out-scan finding: information when none answered, a warning
// naming the servers that answered; not a caller dialling abroad through
// its one or two carriers, nor a LAN's phone, nor national numbers.
func TestDialOutScans(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		servers  int
		numbers  []string
		answered int
		want     report.Severity // "": none
	}{
		{"many servers, none answered", "198.51.100.66", 8, []string{"01148185422016"}, 0, report.SeverityInfo},
		{"many servers, two answered", "198.51.100.66", 8, []string{"01148185422016", "901148185422016"}, 2, report.SeverityWarning},
		{"one server, three prefixes", "198.51.100.66", 1, []string{"01148185422016", "901148185422016", "0001148185422016"}, 0, report.SeverityInfo},
		{"a caller through its carriers", "198.51.100.66", 2, []string{"01148185422016"}, 2, ""},
		{"a LAN's phone", "192.168.1.20", 8, []string{"01148185422016"}, 0, ""},
		{"national numbers", "198.51.100.66", 8, []string{"2125550100"}, 0, ""},
		{"an SBC routing many numbers abroad through its carriers", "198.51.100.66", 6,
			[]string{"01148185422016", "01144207946000", "01133142681234", "01149305551234"}, 6, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d dialScans
			n := 0
			for i := range tt.servers {
				for _, number := range tt.numbers {
					n++
					c := &sipCall{Callee: report.Party{User: number}}
					c.setup = setupTrack{src: netip.MustParseAddrPort(tt.src + ":5060"), dst: netip.MustParseAddrPort(fmt.Sprintf("203.0.113.%d:5060", 10+i)),
						sent: 1, firstFrame: uint64(n), lastFrame: uint64(n)}
					verdict := report.VerdictNotAnswered
					if n <= tt.answered {
						verdict = report.VerdictTwoWay
					}
					d.started(c, &sipInfo{Src: c.setup.src, Dst: c.setup.dst, Frame: uint64(n)})
					d.judged(c, verdict, n)
				}
			}
			if (d.scanning(netip.MustParseAddr(tt.src)) != nil) != (tt.want != "") {
				t.Errorf("scanning: %v, want %v", d.scanning(netip.MustParseAddr(tt.src)) != nil, tt.want != "")
			}
			fs := d.findings()
			if tt.want == "" {
				if len(fs) > 0 {
					t.Errorf("unexpected %+v", fs[0])
				}
				return
			}
			if len(fs) != 1 || fs[0].ID != IDDialOutScan || fs[0].Severity != tt.want || fs[0].Subject != tt.src {
				t.Fatalf("findings %+v, want one %s %s", fs, IDDialOutScan, tt.want)
			}
			if tt.answered > 0 && (!strings.Contains(fs[0].Title, fmt.Sprintf("; %d answered, by 203.0.113.10 (", tt.answered)) || fs[0].Remedy != remedyOpenDialOut) {
				t.Errorf("the answering servers are not named: %s", fs[0].Title)
			}
		})
	}
}
