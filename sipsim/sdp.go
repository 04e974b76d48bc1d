package sipsim

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// maxSDPSize bounds the SDP a message may carry. SIP over UDP stays below
// the path MTU (RFC 3261 §18.1.1); 16 KiB is far above any real offer.
const maxSDPSize = 16 << 10

// maxMediaStreams bounds the m= lines read; real calls have one to three.
const maxMediaStreams = 16

// Errors from SDP handling; the server answers 488 Not Acceptable Here
// (RFC 3261 §21.4.26) to offers it cannot anchor.
var (
	ErrSDPTooLarge  = errors.New("sdp: larger than 16 KiB")
	ErrSDPPortCount = errors.New("sdp: m= port count other than 1 (RFC 4566 §5.14) is not relayed")
	ErrSDPNoAudio   = errors.New("sdp: no audio stream to relay")
	ErrSDPTooMany   = errors.New("sdp: too many media streams")
)

// MediaAddr is where one SDP asked to receive the first audio stream.
type MediaAddr struct {
	RTP  netip.AddrPort // c= address and m= port; Addr invalid if c= is a name
	RTCP netip.AddrPort // a=rtcp (RFC 3605), else invalid (means RTP+1)
	// Host is the c= address as written (a name or an IP).
	Host string
	// Index is the m= line's position.
	Index int
	// Inactive: port 0, c=0.0.0.0 or a=inactive (RFC 3264 §8.4 hold).
	Inactive bool
}

// parseSDP reads an SDP body with bounds checked before anything else.
func parseSDP(body []byte) (*sdp.SessionDescription, error) {
	if len(body) > maxSDPSize {
		return nil, ErrSDPTooLarge
	}
	if strings.Count(string(body), "\nm=") > maxMediaStreams {
		return nil, ErrSDPTooMany
	}
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return nil, fmt.Errorf("sdp: %w", err)
	}
	return &sd, nil
}

// AudioAddr returns the first audio stream's receive address.
func AudioAddr(body []byte) (MediaAddr, error) {
	sd, err := parseSDP(body)
	if err != nil {
		return MediaAddr{}, err
	}
	return audioAddr(sd)
}

func audioAddr(sd *sdp.SessionDescription) (MediaAddr, error) {
	for i, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" {
			continue
		}
		if md.MediaName.Port.Range != nil && *md.MediaName.Port.Range != 1 {
			return MediaAddr{}, ErrSDPPortCount
		}
		port := md.MediaName.Port.Value
		if port < 0 || port > 65535 {
			return MediaAddr{}, fmt.Errorf("sdp: m= port %d out of range", port)
		}
		host := connectionHost(sd, md)
		ma := MediaAddr{Host: host, Index: i}
		ip, err := netip.ParseAddr(host)
		if err == nil {
			ip = ip.Unmap()
			ma.RTP = netip.AddrPortFrom(ip, uint16(port))
			if rp, ok := rtcpAttr(md); ok && rp > 0 && rp <= 65535 {
				ma.RTCP = netip.AddrPortFrom(ip, uint16(rp))
			}
		}
		ma.Inactive = port == 0 || (err == nil && ip.IsUnspecified()) || hasAttr(sd, md, "inactive")
		return ma, nil
	}
	return MediaAddr{}, ErrSDPNoAudio
}

func connectionHost(sd *sdp.SessionDescription, md *sdp.MediaDescription) string {
	if md.ConnectionInformation != nil && md.ConnectionInformation.Address != nil {
		return md.ConnectionInformation.Address.Address
	}
	if sd.ConnectionInformation != nil && sd.ConnectionInformation.Address != nil {
		return sd.ConnectionInformation.Address.Address
	}
	return ""
}

// rtcpAttr reads "a=rtcp:PORT [IN IP4 addr]" (RFC 3605); only the port is
// used: the relay sends RTCP to the address RTP latched to.
func rtcpAttr(md *sdp.MediaDescription) (int, bool) {
	v, ok := md.Attribute("rtcp")
	if !ok {
		return 0, false
	}
	f := strings.Fields(v)
	if len(f) == 0 {
		return 0, false
	}
	p, err := strconv.Atoi(f[0])
	return p, err == nil
}

func hasAttr(sd *sdp.SessionDescription, md *sdp.MediaDescription, key string) bool {
	if _, ok := md.Attribute(key); ok {
		return true
	}
	_, ok := sd.Attribute(key)
	return ok
}

// Anchor rewrites an SDP so the first audio stream's media goes to the relay
// at addr:port (RTCP port+1), and reports where the party itself asked to
// receive. Other streams are refused (port 0, RFC 3264 §6): the relay
// anchors one audio stream per call. ICE attributes are dropped, since
// candidates would let the phones bypass the relay.
func Anchor(body []byte, addr netip.Addr, port int) ([]byte, MediaAddr, error) {
	sd, err := parseSDP(body)
	if err != nil {
		return nil, MediaAddr{}, err
	}
	orig, err := audioAddr(sd)
	if err != nil {
		return nil, MediaAddr{}, err
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
		return nil, MediaAddr{}, fmt.Errorf("sdp: marshal: %w", err)
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
