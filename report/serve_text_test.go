package report

import (
	"strings"
	"testing"
)

// Media on rtpengine: the engines and each call's engine reach the text.
func TestServeTextShowsEngines(t *testing.T) {
	r := New("serve", "test")
	r.Serve = &ServeReport{Listen: []string{"udp 203.0.113.10:5060"}, Fix: true, Media: "rtpengine", Engines: []MediaEngine{
		{Address: "udp:10.0.0.5:2223,weight=2", Weight: 2, Up: true, Calls: 12, Active: 1, Stats: []KeyValue{{Key: "packets/s", Value: "150"}}},
		{Address: "udp:10.0.0.6:2223", Weight: 1, Calls: 3, Outages: 1, Failures: 2, LastError: "ng: ping to 10.0.0.6:2223: no reply"},
	}, Calls: []RelayedCall{{CallID: "c1", From: "alice", To: "bob", Engine: "10.0.0.5:2223",
		Legs: []RelayLeg{{Party: "alice", Packets: 100, Latched: "203.0.113.1:4000", SDPAddr: "192.168.1.10:4000"}}}}}
	text := stripANSI(RenderText(r, Options{}))
	for _, want := range []string{
		"media:      rtpengine", "rtpengine udp:10.0.0.5:2223,weight=2 up", "12 calls (1 active), 0 failed requests, 0 outages", "packets/s 150",
		"rtpengine udp:10.0.0.6:2223 down: ng: ping to 10.0.0.6:2223: no reply", "3 calls (0 active), 2 failed requests, 1 outages",
		"media on rtpengine 10.0.0.5:2223", "to alice    100 packets (latched 203.0.113.1:4000, SDP 192.168.1.10:4000)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
}
