package stunprobe

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode"

	"github.com/pion/stun/v3"
)

// Errors a caller may branch on when a datagram is not a usable answer.
var (
	// ErrNotSTUN: the datagram is not a STUN message (RFC 5389 §6: two zero
	// bits, the magic cookie, a length that matches the datagram).
	ErrNotSTUN = errors.New("not a STUN message")
	// ErrBadFingerprint: FINGERPRINT is present and wrong, or not last
	// (RFC 5389 §15.5); the datagram is not trusted.
	ErrBadFingerprint = errors.New("STUN FINGERPRINT check failed")
	// ErrNotBinding: a STUN message of another method than Binding.
	ErrNotBinding = errors.New("not a STUN Binding message")
)

// stunHeaderSize is the fixed STUN header (RFC 5389 §6).
const stunHeaderSize = 20

// maxSoftwareRunes bounds the SOFTWARE text we keep (RFC 5389 §15.10: fewer
// than 128 characters).
const maxSoftwareRunes = 128

// DecodeMessage checks raw as one STUN Binding message in one datagram and
// decodes it. It never allocates more than a small multiple of len(raw).
func DecodeMessage(raw []byte) (*stun.Message, error) {
	if len(raw) < stunHeaderSize || raw[0]&0xc0 != 0 || !stun.IsMessage(raw) {
		return nil, ErrNotSTUN
	}
	// The header length must account for the whole datagram: trailing bytes
	// mean a broken or forged message (RFC 5389 §6).
	if int(raw[2])<<8|int(raw[3]) != len(raw)-stunHeaderSize || len(raw)%4 != 0 {
		return nil, fmt.Errorf("%w: length field does not match %d-byte datagram", ErrNotSTUN, len(raw))
	}
	m := &stun.Message{Raw: append([]byte(nil), raw...)}
	if err := m.Decode(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotSTUN, err)
	}
	if m.Type.Method != stun.MethodBinding {
		return nil, fmt.Errorf("%w: method %s", ErrNotBinding, m.Type.Method)
	}
	if err := checkFingerprint(m); err != nil {
		return nil, err
	}
	return m, nil
}

// checkFingerprint verifies FINGERPRINT when present. pion's check assumes
// it is the last attribute; RFC 5389 §15.5 requires that, so anything else
// is rejected here rather than checked against the wrong bytes.
func checkFingerprint(m *stun.Message) error {
	n := 0
	for _, a := range m.Attributes {
		if a.Type == stun.AttrFingerprint {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if n > 1 || m.Attributes[len(m.Attributes)-1].Type != stun.AttrFingerprint {
		return fmt.Errorf("%w: FINGERPRINT not the last attribute", ErrBadFingerprint)
	}
	if err := stun.Fingerprint.Check(m); err != nil {
		return fmt.Errorf("%w: %w", ErrBadFingerprint, err)
	}
	return nil
}

// Response is one decoded Binding response: the facts it states.
type Response struct {
	TransactionID [stun.TransactionIDSize]byte
	// Success is a Binding success response; false is an error response.
	Success bool
	// Mapped is XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS from an RFC 3489
	// server that has no XOR form (MappedIsXOR tells which).
	Mapped      netip.AddrPort
	MappedIsXOR bool
	// Other is OTHER-ADDRESS (RFC 5780 §7.4, or CHANGED-ADDRESS of RFC 3489):
	// the server's alternate IP and port. Zero: the server has none.
	Other netip.AddrPort
	// Origin is RESPONSE-ORIGIN (RFC 5780 §7.3): where the server says it
	// sent this response from.
	Origin      netip.AddrPort
	Software    string
	Fingerprint bool // FINGERPRINT present (and verified)
	ErrorCode   int
	ErrorReason string
}

// RFC 3489 §11.2 attribute types that old servers still send in place of
// the RFC 5780 ones.
const (
	attrChangedAddress stun.AttrType = 0x0005
	attrSourceAddress  stun.AttrType = 0x0004
)

// ParseResponse decodes raw as a Binding success or error response. A
// request, an indication or a malformed answer is an error.
func ParseResponse(raw []byte) (Response, error) {
	m, err := DecodeMessage(raw)
	if err != nil {
		return Response{}, err
	}
	return responseFrom(m)
}

func responseFrom(m *stun.Message) (Response, error) {
	r := Response{TransactionID: m.TransactionID, Fingerprint: m.Contains(stun.AttrFingerprint)}
	switch m.Type.Class {
	case stun.ClassSuccessResponse:
		r.Success = true
	case stun.ClassErrorResponse:
		var ec stun.ErrorCodeAttribute
		if err := ec.GetFrom(m); err != nil {
			return r, fmt.Errorf("stun: error response without a readable ERROR-CODE: %w", err)
		}
		r.ErrorCode, r.ErrorReason = int(ec.Code), printable(string(ec.Reason))
		return r, nil
	default:
		return r, fmt.Errorf("stun: %s is not a response", m.Type.Class)
	}
	var err error
	if r.Mapped, err = getXORAddr(m); err != nil {
		return r, err
	}
	r.MappedIsXOR = r.Mapped.IsValid()
	if !r.Mapped.IsValid() {
		if r.Mapped, err = getAddr(m, stun.AttrMappedAddress); err != nil {
			return r, err
		}
	}
	if !r.Mapped.IsValid() {
		return r, errors.New("stun: success response without a mapped address")
	}
	if r.Other, err = firstAddr(m, stun.AttrOtherAddress, attrChangedAddress); err != nil {
		return r, err
	}
	if r.Origin, err = firstAddr(m, stun.AttrResponseOrigin, attrSourceAddress); err != nil {
		return r, err
	}
	var sw stun.Software
	if sw.GetFrom(m) == nil {
		r.Software = printable(sw.String())
	}
	return r, nil
}

// firstAddr returns the first of the attribute types present.
func firstAddr(m *stun.Message, types ...stun.AttrType) (netip.AddrPort, error) {
	for _, t := range types {
		a, err := getAddr(m, t)
		if err != nil || a.IsValid() {
			return a, err
		}
	}
	return netip.AddrPort{}, nil
}

// printable makes server-supplied text safe for a terminal: control
// characters (an ANSI escape in SOFTWARE, say) are replaced, and the length
// is bounded.
func printable(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == maxSoftwareRunes {
			break
		}
		if !unicode.IsPrint(r) {
			r = '?'
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// NewBindingRequest builds a Binding request with a fresh transaction ID,
// the given extra attributes and a FINGERPRINT (RFC 5389 §7.1: it lets the
// server and us tell STUN from other traffic on a multiplexed port).
func NewBindingRequest(extra ...stun.Setter) (*stun.Message, error) {
	setters := append([]stun.Setter{stun.TransactionID, stun.BindingRequest}, extra...)
	setters = append(setters, stun.Fingerprint)
	m, err := stun.Build(setters...)
	if err != nil {
		return nil, fmt.Errorf("stun: build binding request: %w", err)
	}
	return m, nil
}
