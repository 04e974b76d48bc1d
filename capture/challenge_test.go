package capture_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/gopacket/gopacket"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// TestChallengeThenRinging: a PBX challenges the INVITE (401) on the
// To-tag it then rings on, and the capture ends while the retry rings. The
// setup is in progress, as it would be without the challenge: the 401 was
// answered by the retry, it is not the call's outcome.
func TestChallengeThenRinging(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.Challenged, Media: 4 * time.Second}}, pcapgen.Options{})
	cut := false
	path = rewriteCapture(t, path, func(data []byte, _ *gopacket.CaptureInfo) []byte {
		if bytes.Contains(data, []byte("SIP/2.0 200 OK")) {
			cut = true
		}
		if cut {
			return nil
		}
		return data
	})
	res := capture.AnalyzePath(t, path)
	if len(res.Calls) != 1 {
		t.Fatalf("got %d calls, want 1", len(res.Calls))
	}
	c := res.Calls[0]
	if c.Verdict != report.VerdictIncompleteCapture || c.State != "in-progress" || c.Status != 180 {
		t.Errorf("verdict %s, state %s, status %d, want incomplete-capture, in-progress, 180; %s", c.Verdict, c.State, c.Status, c.Explain)
	}
}
