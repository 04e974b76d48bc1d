package capture

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// TestMirrorNesting: a frame in VXLAN in VXLAN (a mirror of mirrored
// traffic) is read; one nested deeper than maxDepth is reported as
// an anomaly, not decoded without end.
func TestMirrorNesting(t *testing.T) {
	frame := seedCapture(t)[40 : 40+214]
	vxlan := func(inner []byte) []byte {
		return mirrorSeed(vxlanPort, append([]byte{0x08, 0, 0, 0, 0, 0, 7, 0}, inner...))
	}
	for _, tc := range []struct {
		depth   int
		packets int
	}{{1, 1}, {2, 1}, {maxDepth, 1}, {maxDepth + 1, 0}} {
		b := frame
		for range tc.depth {
			b = vxlan(b)
		}
		s := newState()
		d := newDecoder(&s.anomalies)
		var got int
		d.decode(Record{Data: b, Time: time.Unix(1, 0), WireLen: len(b), LinkType: layers.LinkTypeEthernet}, 1, func(p *packet) {
			if p.Src.Port() != 49152 {
				got++
			}
		})
		deep := len(s.anomalies.list()) == 1 && s.anomalies.list()[0].Kind == "encapsulation-too-deep"
		if got != tc.packets || deep != (tc.packets == 0) {
			t.Errorf("%d deep: %d packets out, anomalies %+v", tc.depth, got, s.anomalies.list())
		}
	}
}

// TestMirroredFrameRefusesLookalikes: RTP or garbage sent to a mirror port
// is not taken for an encapsulation.
func TestMirroredFrameRefusesLookalikes(t *testing.T) {
	frame := seedCapture(t)[40 : 40+214]
	rtp := append([]byte{0x80, 0x00, 0x12, 0x34, 0, 0, 0, 160, 1, 2, 3, 4}, make([]byte, 160)...)
	for name, tc := range map[string]struct {
		port uint16
		b    []byte
	}{
		"RTP to 4789":                  {vxlanPort, rtp},
		"RTP to 6081":                  {genevePort, rtp},
		"RTP to 37008":                 {tzspPort, rtp},
		"VXLAN without the I flag":     {vxlanPort, append([]byte{0, 0, 0, 0, 0, 0, 7, 0}, frame...)},
		"VXLAN around no IP":           {vxlanPort, append([]byte{0x08, 0, 0, 0, 0, 0, 7, 0}, append(frame[:12:12], 0x08, 0x06)...)},
		"Geneve version 1":             {genevePort, append([]byte{0x40, 0, 0x65, 0x58, 0, 0, 7, 0}, frame...)},
		"Geneve options past the end":  {genevePort, []byte{0x3f, 0, 0x65, 0x58, 0, 0, 7, 0, 1, 2}},
		"TZSP of 802.11":               {tzspPort, append([]byte{1, 0, 0, 18, 1}, frame...)},
		"TZSP tag length past the end": {tzspPort, []byte{1, 0, 0, 1, 0x29, 200, 1}},
		"TZSP with no END tag":         {tzspPort, []byte{1, 0, 0, 1, 0, 0, 0}},
		"a port no mirror sends to":    {5060, append([]byte{0x08, 0, 0, 0, 0, 0, 7, 0}, frame...)},
	} {
		if inner, _, ok := mirroredFrame(49152, tc.port, tc.b); ok {
			t.Errorf("%s: taken for a mirrored frame of %d bytes", name, len(inner))
		}
	}
}

// TestTunnelNesting: PPP in GRE in IP nested many times reaches its
// innermost packet in one pass of gopacket's full decoder (encapsulatedIP
// takes the last IP layer), not one pass per level.
func TestTunnelNesting(t *testing.T) {
	ip := seedCapture(t)[40+14 : 40+214]
	pptp := func(inner []byte) []byte {
		b := []byte{0x45, 0, 0, 0, 0, 0, 0, 0, 64, 47, 0, 0, 10, 99, 0, 1, 10, 99, 0, 2,
			0x30, 0x81, 0x88, 0x0b, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0x03, 0x00, 0x21}
		binary.BigEndian.PutUint16(b[2:4], uint16(len(b)+len(inner)))
		binary.BigEndian.PutUint16(b[24:26], uint16(len(inner)+4))
		return append(b, inner...)
	}
	for _, tc := range []struct{ depth, packets int }{{1, 1}, {maxDepth, 1}, {3 * maxDepth, 1}} {
		b := ip
		for range tc.depth {
			b = pptp(b)
		}
		s := newState()
		d := newDecoder(&s.anomalies)
		got := 0
		d.decode(Record{Data: b, Time: time.Unix(1, 0), WireLen: len(b), LinkType: layers.LinkTypeRaw}, 1, func(*packet) { got++ })
		if got != tc.packets || len(s.anomalies.list()) != 0 || d.depth != 0 {
			t.Errorf("%d deep: %d packets out, anomalies %+v", tc.depth, got, s.anomalies.list())
		}
	}
}
