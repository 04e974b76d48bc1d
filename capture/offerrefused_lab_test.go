//go:build linux

package capture

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// TestLabMediaOfferRefused: a caller (sipp) offers Bob's baresip (PCMU
// only, registered at a Kamailio) media it cannot take: G.729 only, SRTP
// only, or its one stream disabled (port 0). Each call is refused 488,
// and its media-offer-refused finding says which.
func TestLabMediaOfferRefused(t *testing.T) {
	t.Parallel() // it waits on the phones
	l := newKamailioLab(t, natKamailio{})
	bob := natlab.StartBaresip(t, l.lab.PublicHost("bob", "203.0.113.12"), natlab.BaresipConfig{User: "200", Registrar: l.registrar, AutoAnswer: true})
	time.Sleep(2 * time.Second) // registered
	scenario, err := filepath.Abs(filepath.Join("testdata", "sipp", "offer-uac.xml"))
	if err != nil {
		t.Fatal(err)
	}
	caller := l.lab.PublicHost("caller", "203.0.113.11")
	offers := []struct {
		name                   string
		port, proto, pt, codec string
		attr                   string
		want                   string
	}{
		{"G.729 only", "4000", "RTP/AVP", "18", "G729/8000", "a=sendrecv", "the other side takes none of its codecs (G729/8000) over RTP/AVP"},
		{"SRTP only", "4000", "RTP/SAVP", "0", "PCMU/8000", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz",
			"it offers encrypted media only (RTP/SAVP)"},
		{"stream disabled", "0", "RTP/AVP", "0", "PCMU/8000", "a=sendrecv", "it has no active stream, every m= line on port 0 (disabled)"},
	}
	for _, o := range offers {
		uac := caller.Start(t, "sipp", "-sf", scenario, "203.0.113.20:5060", "-i", "203.0.113.11", "-p", "5060", "-m", "1", "-nostdin", "-timeout", "10s",
			"-key", "mport", o.port, "-key", "proto", o.proto, "-key", "pt", o.pt, "-key", "codec", o.codec, "-key", "attr", o.attr)
		if err := uac.Wait(); err != nil {
			t.Logf("sipp (%s): %v\n%s", o.name, err, uac.Log())
		}
	}
	bob.Proc.Stop()
	res := l.analyze(t, "offer-refused.pcap")
	if len(res.Calls) != len(offers) {
		t.Fatalf("%d calls, want %d", len(res.Calls), len(offers))
	}
	for i, c := range res.Calls {
		f := findingOf(c, IDMediaOfferRefused)
		if c.NotAnswered == nil || c.NotAnswered.Status != 488 || f == nil || f.Severity != report.SeverityWarning || !strings.Contains(f.Title, offers[i].want) {
			t.Errorf("%s: %+v, finding %+v; want refused 488 and %q", offers[i].name, c.NotAnswered, f, offers[i].want)
		}
	}
}
