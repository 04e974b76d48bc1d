package capture

import (
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// TestSerialIP: the IP packet behind each serial framing; nothing for the
// link's own protocols (Cisco SLARP keepalives, PPP's LCP) or a frame cut
// inside its header.
func TestSerialIP(t *testing.T) {
	ip := []byte{0x45, 0, 0, 20}
	for _, tc := range []struct {
		name  string
		link  layers.LinkType
		frame []byte
		ok    bool
	}{
		{"Cisco HDLC IPv4", linkTypeCiscoHDLC, []byte{0x0f, 0, 0x08, 0x00}, true},
		{"Cisco HDLC broadcast IPv6", linkTypeCiscoHDLC, []byte{0x8f, 0, 0x86, 0xdd}, true},
		{"Cisco SLARP keepalive", linkTypeCiscoHDLC, []byte{0x8f, 0, 0x80, 0x35}, false},
		{"Cisco HDLC cut short", linkTypeCiscoHDLC, []byte{0x0f, 0}, false},
		{"PPP in HDLC framing", linkTypePPPSerial, []byte{0xff, 0x03, 0x00, 0x21}, true},
		{"Cisco HDLC on a PPP serial link", linkTypePPPSerial, []byte{0x0f, 0, 0x08, 0x00}, true},
		{"PPP LCP", linkTypePPPSerial, []byte{0xff, 0x03, 0xc0, 0x21}, false},
		{"PPP without address and control", layers.LinkTypePPP, []byte{0x00, 0x57}, true},
		{"PPP protocol compressed", layers.LinkTypePPP, []byte{0x21}, true},
		{"PPP address only", layers.LinkTypePPP, []byte{0xff}, false},
	} {
		frame := append(append([]byte(nil), tc.frame...), ip...)
		if tc.name == "Cisco HDLC cut short" || tc.name == "PPP address only" {
			frame = tc.frame
		}
		got, ok := serialIP(tc.link, frame)
		if ok != tc.ok || (ok && string(got) != string(ip)) {
			t.Errorf("%s: %v, % x", tc.name, ok, got)
		}
	}
}
