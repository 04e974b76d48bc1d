//go:build linux

package capture

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/hep"
	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// TestLabHEPOutToSipcapture: natdoc analyze --hep-out sends the SIP of a
// recorded real call and its verdict to Kamailio's sipcapture, a real HEP
// collector, which logs every SIP message under the call's Call-ID and
// the JSON verdict correlated to it.
func TestLabHEPOutToSipcapture(t *testing.T) {
	lab := natlab.New(t)
	host := lab.PublicHost("homer", hepCollector.Addr().String())
	collector := natlab.KamailioCollector(t, host, hepCollector)
	var sender *hep.Sender
	if err := host.Do(func() (err error) {
		sender, err = hep.Dial("udp", hepCollector.String(), hep.SenderOptions{CaptureID: 4242, AuthKey: "natdoc"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	res, err := Analyze(context.Background(), Options{Files: []string{filepath.Join("..", "testdata", "natlab-one-way-private-sdp.pcap")}, HEPOut: sender})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Calls) != 1 || res.Calls[0].Verdict != report.VerdictOneWay {
		t.Fatalf("calls %+v", res.Calls)
	}
	c := res.Calls[0]
	sent, failed, last := sender.Stats()
	t.Logf("sent %d HEP packets, %d failed (%v)", sent, failed, last)
	if failed > 0 || sent < 5 {
		t.Fatalf("sent %d, failed %d: %v", sent, failed, last)
	}
	want := []string{
		"type=1 cid=4242",
		"corr=" + c.CallID + " key=natdoc",
		"HEPDATA INVITE sip:",
		"type=100 cid=4242",
		`HEPDATA {"source":"natdoc","call_id":"` + c.CallID + `","verdict":"one-way","cannot_hear":"caller"`,
	}
	collector.WaitLog(t, 5*time.Second, want...)
	if n := strings.Count(collector.Log(), "type=1 "); uint64(n) != sent-1 {
		t.Errorf("sipcapture logged %d SIP packets of %d sent", n, sent-1)
	}
}
