package rtpengine

import (
	"errors"
	"net/netip"

	"github.com/natdoc/natdoc/internal/ng"
)

// Message is one SDP body crossing the SIP server, as the engine is told
// it.
type Message struct {
	// Answer: the body answers an offer (ng answer); else it is one (ng
	// offer).
	Answer bool
	CallID string
	// FromTag is the offerer's tag, ToTag the answerer's (empty on an
	// initial offer).
	FromTag, ToTag string
	SDP            []byte
	// Source is where the sender's SIP came from; SDPAddr the address of
	// its first audio stream in SDP (invalid: none read).
	Source, SDPAddr netip.Addr
	// SenderSide and ReceiverSide are the engine's interfaces facing the
	// sender and the receiver; empty: no direction.
	SenderSide, ReceiverSide string
	// Record asks the engine to record the call.
	Record bool
}

// Command is the ng dictionary for m, with the flags Kamailio's
// rtpengine module would send for a NAT-aware proxy.
func Command(m Message) map[string]any {
	cmd := map[string]any{"command": "offer", "call-id": m.CallID, "from-tag": m.FromTag, "sdp": m.SDP,
		"replace": []any{"origin", "session-connection"}, "ICE": "remove", "transport-protocol": "RTP/AVP",
		"flags": []any{addressFlag(m.SDPAddr, m.Source)}, "record call": "no"}
	if m.Answer {
		cmd["command"] = "answer"
	}
	if m.ToTag != "" {
		cmd["to-tag"] = m.ToTag
	}
	if m.Source.IsValid() {
		family := "IP4"
		if m.Source.Is6() {
			family = "IP6"
		}
		cmd["received-from"] = []any{family, m.Source.String()}
	}
	if m.SenderSide != "" && m.ReceiverSide != "" && !m.Answer {
		// Only offers set a call's interfaces; answers follow them.
		cmd["direction"] = []any{m.SenderSide, m.ReceiverSide}
	}
	if m.Record {
		cmd["record call"] = "yes"
	}
	return cmd
}

// addressFlag chooses where the engine sends before the party's first
// packet: the SDP address when the party can be reached there
// (trust-address), else the SIP source address with the SDP's port
// (SIP-source-address), the case of a phone behind NAT that put its
// private address in SDP. Its real media address is learned from its
// packets either way. A hold (c=0.0.0.0) stays a hold.
func addressFlag(sdpAddr, source netip.Addr) string {
	if !sdpAddr.IsValid() || !source.IsValid() || sdpAddr == source || sdpAddr.IsUnspecified() || reachable(sdpAddr) {
		// No SDP address, the SIP source itself, a hold, or a public
		// address (STUN, a media gateway): it means what it says.
		return "trust-address"
	}
	return "SIP-source-address"
}

// reachable: an address that means the same thing from anywhere (not
// private, shared (RFC 6598), loopback or link-local).
func reachable(a netip.Addr) bool {
	return a.IsGlobalUnicast() && !a.IsPrivate() && !cgnat.Contains(a)
}

// cgnat is RFC 6598's shared address space: carrier-grade NAT.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// reasonNoPorts is rtpengine's error-reason for an offer or answer it
// cannot give media ports: its port range is used up.
const reasonNoPorts = "Ran out of ports"

// OutOfPorts says whether err is an engine refusing for lack of media
// ports: the engine is full for now, not broken.
func OutOfPorts(err error) bool {
	var r *ng.Refusal
	return errors.As(err, &r) && r.Reason == reasonNoPorts
}
