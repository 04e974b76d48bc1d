package capture

import (
	"fmt"

	"github.com/gopacket/gopacket/layers"
	"github.com/natdoc/natdoc/hep"
)

// linkTypeHEP marks records that are whole HEP packets as received by
// natdoc capture --hep: LINKTYPE_USER15, a value pcap reserves for private
// use, so no capture file's records are mistaken for them.
const linkTypeHEP layers.LinkType = 162

// hepPort is where HEP collectors listen (HOMER's heplify-server, Kamailio
// sipcapture); captures of HEP traffic are unwrapped on it, as Wireshark's
// HEP dissector does.
const hepPort = 9060

// unwrapHEP decodes a UDP payload to or from the HEP port that is a HEP
// packet and emits what it carries instead of the outer datagram. It
// reports whether it took the packet.
func (d *decoder) unwrapHEP(pkt *packet, emit func(*packet)) bool {
	if pkt.Proto != protoUDP || (pkt.Src.Port() != hepPort && pkt.Dst.Port() != hepPort) || !hep.Is(pkt.Payload) {
		return false
	}
	d.decodeHEP(pkt.Payload, pkt, emit)
	return true
}

// decodeHEP emits the message one HEP packet carries as if it had been
// captured where the HEP agent saw it: its addresses, ports, transport and
// time stamp. SIP and RTP are analysed like captured packets; a SIP
// message traced over TCP or TLS is whole (agents trace messages, not
// segments). RTCP reports sent as JSON (hep_rtcp.go) are analysed as the
// RTCP packets they describe, which is what verdicts go on when the feed
// carries no RTP. Other payloads (QoS summaries, logs) are counted as not
// used.
func (d *decoder) decodeHEP(b []byte, pkt *packet, emit func(*packet)) {
	h := &d.hep
	if _, err := hep.Decode(b, h); err != nil {
		d.sink.anomaly("malformed-hep", pkt.Offset, pkt.Frame, err.Error())
		return
	}
	if h.Keepalive {
		return
	}
	switch h.Type {
	case hep.TypeSIP, hep.TypeRTP, hep.TypeRTCPJSON:
	default:
		d.sink.anomaly("hep-payload-not-used", pkt.Offset, pkt.Frame,
			fmt.Sprintf("HEP %s payloads are not used for verdicts", h.Type))
		return
	}
	payload := h.Payload
	if h.Compressed {
		var err error
		if payload, err = h.Inflate(d.hepBuf[:0]); err != nil {
			d.sink.anomaly("malformed-hep", pkt.Offset, pkt.Frame, err.Error())
			return
		}
		d.hepBuf = payload
	}
	if h.Type == hep.TypeRTCPJSON {
		bin, err := rtcpFromJSON(payload)
		if err != nil {
			d.sink.anomaly("malformed-hep-rtcp", pkt.Offset, pkt.Frame, err.Error())
			return
		}
		payload, h.Proto = bin, protoUDP
	}
	pkt.Src, pkt.Dst, pkt.Payload = h.Src, h.Dst, payload
	if !h.Time.IsZero() { // HEPv1 has none: the packet's own time stands
		pkt.Time = h.Time
	}
	switch h.Proto {
	case protoTCP:
		pkt.Proto, pkt.Whole = protoTCP, true
	case protoSCTP:
		pkt.Proto = protoSCTP
	default:
		pkt.Proto = protoUDP
	}
	emit(pkt)
}
