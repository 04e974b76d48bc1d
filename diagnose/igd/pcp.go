package igd

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/natdoc/natdoc/diagnose/netenv"
	"github.com/natdoc/natdoc/internal/transact"
)

// A minimal PCP client (RFC 6887): ANNOUNCE to see whether the gateway
// speaks PCP, and MAP to add or (lifetime 0) delete a mapping. Options,
// PEER, THIRD_PARTY and IPv6 are not implemented.

const (
	pcpPort       = 5351 // RFC 6887 §19.1
	pcpVersion    = 2
	pcpOpAnnounce = 0
	pcpOpMap      = 1
	pcpReplyBit   = 0x80
	pcpHeaderLen  = 24
	pcpMapLen     = 36
	pcpMaxMessage = 1100 // §7: messages never exceed 1100 octets
	// pcpOptPreferFailure (§13.2): fail rather than map another external
	// port. natdoc asks for exact ports (SIP and RTP are configured by
	// number) unless it lets the router choose (Request.AnyPort).
	pcpOptPreferFailure = 2
)

// PCP result codes (RFC 6887 §7.4).
const (
	PCPSuccess          = 0
	PCPUnsuppVersion    = 1
	PCPNotAuthorized    = 2
	PCPNoResources      = 8
	PCPUnsuppProtocol   = 9
	PCPUserExQuota      = 10
	PCPCannotProvideExt = 11
	PCPAddressMismatch  = 12
)

// pcpResultText names a PCP result code.
func pcpResultText(code int) string {
	names := []string{"success", "unsupported version", "not authorized", "malformed request",
		"unsupported opcode", "unsupported option", "malformed option", "network failure",
		"no resources", "unsupported protocol", "user exceeded quota", "cannot provide external",
		"address mismatch", "excessive remote peers"}
	if code >= 0 && code < len(names) {
		return names[code]
	}
	return fmt.Sprintf("result %d", code)
}

// pcpMapRequest is a MAP request (§11.1).
type pcpMapRequest struct {
	Nonce        [12]byte
	Protocol     uint8 // IANA: 17 UDP, 6 TCP
	InternalPort uint16
	SuggestedExt netip.AddrPort // zero: no suggestion
	Lifetime     uint32
	Client       netip.Addr // our address as the gateway sees it
	// AnyPort leaves PREFER_FAILURE out, so the server may map another
	// external port than SuggestedExt.
	AnyPort bool
}

func pcpAddr16(a netip.Addr) [16]byte {
	if !a.IsValid() {
		// §11.1: all-zeros IPv4 (::ffff:0.0.0.0) means no preference.
		return netip.AddrFrom4([4]byte{}).As16()
	}
	return netip.AddrFrom16(a.As16()).As16()
}

// marshalPCPRequest encodes the common header (§7.1) and, for MAP, the
// opcode payload.
func marshalPCPRequest(op uint8, lifetime uint32, client netip.Addr, m *pcpMapRequest) []byte {
	b := make([]byte, pcpHeaderLen, pcpHeaderLen+pcpMapLen+4)
	b[0], b[1] = pcpVersion, op
	binary.BigEndian.PutUint32(b[4:8], lifetime)
	c := pcpAddr16(client)
	copy(b[8:24], c[:])
	if op == pcpOpMap && m != nil {
		p := make([]byte, pcpMapLen)
		copy(p[0:12], m.Nonce[:])
		p[12] = m.Protocol
		binary.BigEndian.PutUint16(p[16:18], m.InternalPort)
		binary.BigEndian.PutUint16(p[18:20], m.SuggestedExt.Port())
		e := pcpAddr16(m.SuggestedExt.Addr())
		copy(p[20:36], e[:])
		b = append(b, p...)
		if lifetime != 0 && m.SuggestedExt.Port() != 0 && !m.AnyPort {
			b = append(b, pcpOptPreferFailure, 0, 0, 0) // code, reserved, length 0
		}
	}
	return b
}

// pcpResponse is a parsed response header plus MAP payload.
type pcpResponse struct {
	Version    uint8
	Opcode     uint8
	ResultCode uint8
	Lifetime   uint32
	Epoch      uint32
	// MAP only:
	Nonce        [12]byte
	Protocol     uint8
	InternalPort uint16
	External     netip.AddrPort
}

var errPCPShort = errors.New("pcp: short response")

// parsePCPResponse decodes a response (§7.2, §11.2). A NAT-PMP-only
// gateway answers a version-2 packet with a version-0 "unsupported
// version" reply (RFC 6887 §9); that parses with Version 0.
func parsePCPResponse(b []byte) (pcpResponse, error) {
	var r pcpResponse
	if len(b) < 4 {
		return r, errPCPShort
	}
	r.Version = b[0]
	if r.Version == 0 {
		// NAT-PMP reply: version 0, opcode, result code (16 bits).
		r.Opcode = b[1] &^ pcpReplyBit
		r.ResultCode = uint8(min(binary.BigEndian.Uint16(b[2:4]), 255))
		return r, nil
	}
	if r.Version != pcpVersion {
		return r, fmt.Errorf("pcp: version %d", r.Version)
	}
	if len(b) < pcpHeaderLen {
		return r, errPCPShort
	}
	if len(b) > pcpMaxMessage || len(b)%4 != 0 {
		return r, fmt.Errorf("pcp: response of %d bytes", len(b))
	}
	if b[1]&pcpReplyBit == 0 {
		return r, errors.New("pcp: not a response")
	}
	r.Opcode = b[1] &^ pcpReplyBit
	r.ResultCode = b[3]
	r.Lifetime = binary.BigEndian.Uint32(b[4:8])
	r.Epoch = binary.BigEndian.Uint32(b[8:12])
	if r.Opcode != pcpOpMap || r.ResultCode != PCPSuccess {
		return r, nil
	}
	if len(b) < pcpHeaderLen+pcpMapLen {
		return r, errPCPShort
	}
	p := b[pcpHeaderLen:]
	copy(r.Nonce[:], p[0:12])
	r.Protocol = p[12]
	r.InternalPort = binary.BigEndian.Uint16(p[16:18])
	ext := netip.AddrFrom16([16]byte(p[20:36])).Unmap()
	r.External = netip.AddrPortFrom(ext, binary.BigEndian.Uint16(p[18:20]))
	return r, nil
}

// pcpExchange sends req to gw and waits for a response matching op (and
// nonce, for MAP), retransmitting per RFC 6887 §8.1.1 (pcpSchedule).
func pcpExchange(ctx context.Context, opt *Options, gw netip.Addr, req []byte, op uint8, nonce *[12]byte) (pcpResponse, error) {
	conn, err := opt.listenUDP()
	if err != nil {
		return pcpResponse{}, fmt.Errorf("pcp: listen: %w", err)
	}
	defer conn.Close()
	port := uint16(pcpPort)
	if opt.pcpPort != 0 {
		port = opt.pcpPort
	}
	dst := netip.AddrPortFrom(gw, port)
	r, _, err := transact.UDP(ctx, pcpSchedule, conn, dst, req, func(d transact.Datagram) (pcpResponse, bool) {
		if d.From.Addr() != gw {
			return pcpResponse{}, false // §8.3: only the server we asked
		}
		r, err := parsePCPResponse(d.Data)
		if err != nil || (r.Version == pcpVersion && (r.Opcode != op || (nonce != nil && r.ResultCode == PCPSuccess && r.Nonce != *nonce))) {
			return pcpResponse{}, false
		}
		return r, true
	})
	switch {
	case ctx.Err() != nil:
		return pcpResponse{}, ctx.Err()
	case errors.Is(err, transact.ErrNoAnswer):
		return pcpResponse{}, fmt.Errorf("pcp: no answer from %v after %d tries", gw, pcpSchedule.Sends)
	case err != nil:
		return pcpResponse{}, fmt.Errorf("pcp: %v: %w", dst, err)
	}
	return r, nil
}

// probePCP sends ANNOUNCE (§14.1) to see whether the gateway speaks PCP.
func probePCP(ctx context.Context, opt *Options, gw, client netip.Addr) PMPProbe {
	p := PMPProbe{Tried: true, Gateway: gw}
	r, err := pcpExchange(ctx, opt, gw, marshalPCPRequest(pcpOpAnnounce, 0, client, nil), pcpOpAnnounce, nil)
	if err != nil {
		p.Err = err.Error()
		return p
	}
	p.ResultCode = int(r.ResultCode)
	if r.Version != pcpVersion {
		p.Err = "answers only NAT-PMP (version 0)"
		return p
	}
	p.Answered = true
	if r.ResultCode != PCPSuccess {
		p.Err = pcpResultText(int(r.ResultCode))
	}
	return p
}

// newNonce returns a random MAP nonce (§11.1: the client must remember
// it to renew or delete the mapping).
func newNonce() [12]byte {
	var n [12]byte
	rand.Read(n[:])
	return n
}

// localAddrToward returns the source address the kernel would use to
// reach dst (zero when there is no route).
func localAddrToward(env netenv.Env, dst netip.Addr) netip.Addr {
	a, err := env.SourceAddr("udp4", netip.AddrPortFrom(dst, 9))
	if err != nil {
		return netip.Addr{}
	}
	return a
}
