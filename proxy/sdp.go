package proxy

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/natdoc/natdoc/internal/sipcall"
	"github.com/pion/sdp/v3"
)

// Anchor rewrites an SDP so the first audio stream's media goes to the relay
// at addr:port (RTCP port+1), and reports where the party itself asked to
// receive. Other streams are refused (port 0, RFC 3264 §6): the relay
// anchors one audio stream per call. ICE attributes are dropped, since
// candidates would let the phones bypass the relay.
func Anchor(body []byte, addr netip.Addr, port int) ([]byte, sipcall.MediaAddr, error) {
	sd, err := sipcall.ParseSDP(body)
	if err != nil {
		return nil, sipcall.MediaAddr{}, err
	}
	orig, err := sipcall.FirstAudio(sd)
	if err != nil {
		return nil, sipcall.MediaAddr{}, err
	}
	addrType := "IP4"
	if addr.Is6() && !addr.Is4In6() {
		addrType = "IP6"
	}
	conn := func() *sdp.ConnectionInformation {
		return &sdp.ConnectionInformation{NetworkType: "IN", AddressType: addrType, Address: &sdp.Address{Address: addr.Unmap().String()}}
	}
	sd.Origin.NetworkType, sd.Origin.AddressType, sd.Origin.UnicastAddress = "IN", addrType, addr.Unmap().String()
	if sd.ConnectionInformation != nil {
		sd.ConnectionInformation = conn()
	}
	sd.Attributes = dropICE(sd.Attributes)
	for i, md := range sd.MediaDescriptions {
		md.Attributes = dropICE(md.Attributes)
		if i != orig.Index {
			md.MediaName.Port = sdp.RangedPort{Value: 0}
			continue
		}
		md.ConnectionInformation = conn()
		if md.MediaName.Port.Value != 0 {
			md.MediaName.Port = sdp.RangedPort{Value: port}
		}
		if orig.RTP.IsValid() && orig.RTP.Addr().IsUnspecified() {
			// Hold the old way (RFC 2543 c=0.0.0.0): keep it a hold.
			md.ConnectionInformation.Address.Address = orig.RTP.Addr().String()
		}
		md.Attributes = setRTCP(md.Attributes, port+1, orig.Inactive)
	}
	out, err := sd.Marshal()
	if err != nil {
		return nil, sipcall.MediaAddr{}, fmt.Errorf("sdp: marshal: %w", err)
	}
	return out, orig, nil
}

func dropICE(attrs []sdp.Attribute) []sdp.Attribute {
	out := attrs[:0]
	for _, a := range attrs {
		switch a.Key {
		case "candidate", "ice-ufrag", "ice-pwd", "ice-options", "ice-lite", "end-of-candidates", "remote-candidates":
			continue
		}
		out = append(out, a)
	}
	return out
}

// setRTCP replaces a=rtcp with the relay's RTCP port (phones that do not
// assume RTP+1 read it, RFC 3605).
func setRTCP(attrs []sdp.Attribute, port int, inactive bool) []sdp.Attribute {
	for i, a := range attrs {
		if a.Key == "rtcp" {
			if inactive {
				return append(attrs[:i], attrs[i+1:]...)
			}
			attrs[i].Value = strconv.Itoa(port)
			return attrs
		}
	}
	return attrs
}
