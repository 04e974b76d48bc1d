package sipcall

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/pion/sdp/v3"
)

// maxSDPSize bounds the SDP a message may carry. SIP over UDP stays below
// the path MTU (RFC 3261 §18.1.1); 16 KiB is far above any real offer.
const maxSDPSize = 16 << 10

// maxMediaStreams bounds the m= lines read; real calls have one to three.
const maxMediaStreams = 16

// Errors from SDP handling; natdoc serve answers 488 Not Acceptable Here
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

// ParseSDP reads an SDP body with bounds checked before anything else.
func ParseSDP(body []byte) (*sdp.SessionDescription, error) {
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
	sd, err := ParseSDP(body)
	if err != nil {
		return MediaAddr{}, err
	}
	return FirstAudio(sd)
}

// FirstAudio returns where the first audio stream of sd asks to receive.
func FirstAudio(sd *sdp.SessionDescription) (MediaAddr, error) {
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

// Offer is a plain PCMU offer or answer (RFC 3264, RFC 3551) receiving at a.
func Offer(a netip.AddrPort) []byte {
	id := strconv.FormatInt(time.Now().UnixNano()%1e9, 10)
	return []byte("v=0\r\no=natdoc " + id + " 1 IN IP4 " + a.Addr().String() + "\r\ns=natdoc\r\nc=IN IP4 " + a.Addr().String() +
		"\r\nt=0 0\r\nm=audio " + strconv.Itoa(int(a.Port())) + " RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n")
}
