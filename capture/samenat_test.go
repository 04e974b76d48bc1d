package capture_test

import (
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// TestPhonesBehindOneNAT: an office's phones, behind one NAT, call each
// other through a hosted proxy. Both legs run between the same two
// addresses and differ only in the phones' ports: they are told apart
// (two legs, the callee's own identity, no fork). When the proxy anchors
// the media the call is two-way; when it passes the phones' LAN addresses
// on, the media stays on the LAN and the capture cannot judge it: not
// no-way, and no SIP ALG suspected of the proxy.
func TestPhonesBehindOneNAT(t *testing.T) {
	path, truths := generate(t, []pcapgen.Call{
		{Kind: pcapgen.Normal, Media: 6 * time.Second}, // RTP elsewhere in the capture
		{Kind: pcapgen.SameNAT, Start: time.Second, Media: 4 * time.Second},
		{Kind: pcapgen.SameNATDirect, Start: 2 * time.Second, Media: 4 * time.Second},
	}, pcapgen.Options{Seed: 3})
	res := capture.AnalyzePath(t, path)
	checkTruth(t, res, truths)
	for _, c := range res.Calls {
		kind := kindOf(truths, c.CallID)
		if kind == pcapgen.Normal {
			continue
		}
		if len(c.Legs) != 2 || len(c.EarlyDialogs) != 0 || c.Callee.User != "200" {
			t.Errorf("%s: %d legs, %d early dialogs, callee %q; want 2, 0, 200", kind, len(c.Legs), len(c.EarlyDialogs), c.Callee.User)
		}
		if kind == pcapgen.SameNATDirect && !strings.Contains(c.Explain, "behind the same NAT (203.0.113.1)") {
			t.Errorf("%s: %s", kind, c.Explain)
		}
		for _, f := range c.Findings {
			if f.ID == capture.IDSIPALGSuspected || f.Severity == report.SeverityError {
				t.Errorf("%s: %s %s (%s)", kind, f.Severity, f.ID, f.Title)
			}
		}
	}
}
