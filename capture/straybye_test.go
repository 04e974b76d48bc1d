package capture_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/natdoc/natdoc/capture"
)

// TestStrayByeWithdrawn: a Zultys phone sends a BYE just after its ACK,
// then goes on with the call (its DTMF in INFOs) and ends it with another
// BYE. Its own later request shows the first BYE ended nothing: the call
// ends at the last BYE. A NOTIFY after a BYE (a transfer's sipfrag) is
// the subscription's, and withdraws nothing.
func TestStrayByeWithdrawn(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after string
		endMs int
	}{
		{"INFO after the BYE", "INFO", 12000},
		{"NOTIFY after the BYE", "NOTIFY", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, w := createPcap(t, "straybye.pcap", 1)
			phone, pbx := netip.MustParseAddrPort("198.51.100.9:5060"), netip.MustParseAddrPort("203.0.113.5:5060")
			t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			send := func(ms int, src, dst netip.AddrPort, data []byte) {
				writeUDP(t, w, src, dst, data, t0.Add(time.Duration(ms)*time.Millisecond))
			}
			send(0, phone, pbx, ackTagMessage("INVITE sip:music@203.0.113.5 SIP/2.0", "", "1 INVITE", "i1", 5060))
			send(10, pbx, phone, ackTagMessage("SIP/2.0 200 OK", "d1", "1 INVITE", "i1", 5060))
			send(100, phone, pbx, ackTagMessage("ACK sip:music@203.0.113.5 SIP/2.0", "d1", "1 ACK", "k1", 5060))
			send(200, phone, pbx, ackTagMessage("BYE sip:music@203.0.113.5 SIP/2.0", "d1", "6 BYE", "b1", 5060))
			send(210, pbx, phone, ackTagMessage("SIP/2.0 200 OK", "d1", "6 BYE", "b1", 5060))
			send(4000, phone, pbx, ackTagMessage(tc.after+" sip:music@203.0.113.5 SIP/2.0", "d1", "2 "+tc.after, "n1", 5060))
			send(4010, pbx, phone, ackTagMessage("SIP/2.0 200 OK", "d1", "2 "+tc.after, "n1", 5060))
			send(12000, phone, pbx, ackTagMessage("BYE sip:music@203.0.113.5 SIP/2.0", "d1", "7 BYE", "b2", 5060))
			send(12010, pbx, phone, ackTagMessage("SIP/2.0 200 OK", "d1", "7 BYE", "b2", 5060))
			res := capture.AnalyzePath(t, path)
			if len(res.Calls) != 1 {
				t.Fatalf("%d calls, want 1", len(res.Calls))
			}
			if want := t0.Add(time.Duration(tc.endMs) * time.Millisecond); !res.Calls[0].End.Equal(want) {
				t.Errorf("the call ends at %v, want %v", res.Calls[0].End, want)
			}
		})
	}
}
