package capture_test

import (
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
)

// encapsulate copies the Ethernet capture at path with every untagged IP
// frame wrapped by wrap(ip, isIPv6), which returns the new EtherType and
// the bytes after the Ethernet header.
func encapsulate(t *testing.T, path string, wrap func(ip []byte, v6 bool) (uint16, []byte)) string {
	return rewriteCapture(t, path, func(data []byte, _ *gopacket.CaptureInfo) []byte {
		typ := binary.BigEndian.Uint16(data[12:14])
		if typ != 0x0800 && typ != 0x86dd {
			return data
		}
		newType, rest := wrap(data[14:], typ == 0x86dd)
		return append(append(append([]byte(nil), data[:12]...), byte(newType>>8), byte(newType)), rest...)
	})
}

// pppoe wraps an IP packet in a PPPoE session frame (RFC 2516) carrying
// PPP (RFC 1661): a DSL link captured between the router and the modem.
func pppoe(ip []byte, v6 bool) (uint16, []byte) {
	proto := uint16(0x0021)
	if v6 {
		proto = 0x0057
	}
	b := []byte{0x11, 0x00, 0x12, 0x34, 0, 0, byte(proto >> 8), byte(proto)}
	binary.BigEndian.PutUint16(b[4:6], uint16(len(ip)+2))
	return 0x8864, append(b, ip...)
}

// mpls puts an IP packet under two MPLS labels (RFC 3032), the bottom
// one marked: a capture on a provider's core link.
func mpls(ip []byte, _ bool) (uint16, []byte) {
	return 0x8847, append([]byte{0x00, 0x06, 0x40, 0x40, 0x00, 0x0c, 0x81, 0x40}, ip...)
}

// TestEncapsulatedIP: calls inside PPPoE sessions or under MPLS labels are
// judged as the same calls on plain Ethernet.
func TestEncapsulatedIP(t *testing.T) {
	path, truths := generate(t, pcapgen.AllKinds(), pcapgen.Options{Seed: 6})
	for name, wrap := range map[string]func([]byte, bool) (uint16, []byte){"PPPoE": pppoe, "MPLS": mpls} {
		t.Run(name, func(t *testing.T) {
			res := capture.AnalyzePath(t, encapsulate(t, path, wrap))
			checkTruth(t, res, truths)
		})
	}
}
