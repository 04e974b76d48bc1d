package capture_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// withByeReason copies the capture at path with reason added as a Reason
// header to every BYE.
func withByeReason(t *testing.T, path, reason string) string {
	return rewriteUDP(t, path, func(_ *layers.IPv4, udp *layers.UDP) []byte {
		if !bytes.HasPrefix(udp.Payload, []byte("BYE ")) {
			return nil
		}
		line := bytes.Index(udp.Payload, []byte("\r\n")) + 2
		return append(append(append([]byte(nil), udp.Payload[:line]...), "Reason: "+reason+"\r\n"...), udp.Payload[line:]...)
	})
}

// TestCallEndedWithCause: a BYE whose Reason is not normal clearing is an
// info finding naming who ended the call and why; normal clearing and a
// vendor's own code are none, and the verdict is the media's.
func TestCallEndedWithCause(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.Normal, Media: 2 * time.Second}}, pcapgen.Options{Seed: 3})
	for _, tc := range []struct {
		reason, want string
	}{
		{`Q.850;cause=41`, "with a cause other than normal clearing: Q.850 cause 41 (temporary failure)"},
		{`SIP;cause=408;text="RTP timeout"`, `SIP cause 408 "RTP timeout" (it stopped receiving RTP)`},
		{`Q.850;cause=16;text="NORMAL_CLEARING"`, ""},
		{`X.int;reasoncode=0x0000030B`, ""},
	} {
		res := capture.AnalyzePath(t, withByeReason(t, path, tc.reason))
		if len(res.Calls) != 1 || res.Calls[0].Verdict != report.VerdictTwoWay {
			t.Fatalf("%s: calls %+v", tc.reason, res.Calls)
		}
		var got []string
		for _, f := range res.Calls[0].Findings {
			if f.ID == capture.IDCallEndedWithCause {
				got = append(got, f.Title)
			}
		}
		switch {
		case tc.want == "" && len(got) > 0:
			t.Errorf("%s: %q, want no finding", tc.reason, got)
		case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want) || !strings.HasPrefix(got[0], "The caller ")):
			t.Errorf("%s: %q, want one from the caller with %q", tc.reason, got, tc.want)
		}
	}
}
