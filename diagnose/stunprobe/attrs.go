package stunprobe

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/pion/stun/v3"
)

// ChangeRequest is the RFC 5780 §7.2 CHANGE-REQUEST attribute: it asks the
// server to answer from its alternate IP address, its alternate port, or
// both. pion/stun knows the attribute type but has no codec for it.
type ChangeRequest struct {
	ChangeIP   bool
	ChangePort bool
}

// RFC 5780 §7.2: flag bits in the last byte of the 32-bit value.
const (
	changeIPFlag   = 0x04
	changePortFlag = 0x02
)

// AddTo appends CHANGE-REQUEST to m.
func (c ChangeRequest) AddTo(m *stun.Message) error {
	var v [4]byte
	if c.ChangeIP {
		v[3] |= changeIPFlag
	}
	if c.ChangePort {
		v[3] |= changePortFlag
	}
	m.Add(stun.AttrChangeRequest, v[:])
	return nil
}

// GetFrom reads CHANGE-REQUEST from m; the value must be exactly 4 bytes.
func (c *ChangeRequest) GetFrom(m *stun.Message) error {
	v, err := m.Get(stun.AttrChangeRequest)
	if err != nil {
		return err
	}
	if len(v) != 4 {
		return fmt.Errorf("stun: CHANGE-REQUEST of %d bytes, want 4", len(v))
	}
	c.ChangeIP = v[3]&changeIPFlag != 0
	c.ChangePort = v[3]&changePortFlag != 0
	return nil
}

// ResponsePort is the RFC 5780 §7.5 RESPONSE-PORT attribute: the server
// sends its answer to the request's source IP at this port. The binding
// lifetime test (§4.6) uses it to reach an idle mapping from outside.
type ResponsePort uint16

// AddTo appends RESPONSE-PORT to m (a 16-bit port and 16 bits of padding).
func (p ResponsePort) AddTo(m *stun.Message) error {
	var v [4]byte
	binary.BigEndian.PutUint16(v[:2], uint16(p))
	m.Add(stun.AttrResponsePort, v[:])
	return nil
}

// GetFrom reads RESPONSE-PORT from m; the value must be exactly 4 bytes.
func (p *ResponsePort) GetFrom(m *stun.Message) error {
	v, err := m.Get(stun.AttrResponsePort)
	if err != nil {
		return err
	}
	if len(v) != 4 {
		return fmt.Errorf("stun: RESPONSE-PORT of %d bytes, want 4", len(v))
	}
	*p = ResponsePort(binary.BigEndian.Uint16(v[:2]))
	return nil
}

// STUN address families (RFC 5389 §15.1).
const (
	familyIPv4 = 0x01
	familyIPv6 = 0x02
)

// addressValue checks the length of an address attribute's value against
// its family before pion decodes it: pion accepts a value shorter than the
// family's address and zero-fills the rest, which would turn a truncated
// answer into a wrong address.
func addressValue(m *stun.Message, t stun.AttrType) (present bool, err error) {
	v, err := m.Get(t)
	if err != nil {
		return false, nil
	}
	if len(v) < 4 {
		return true, fmt.Errorf("stun: %s of %d bytes", t, len(v))
	}
	switch fam := binary.BigEndian.Uint16(v[:2]); {
	case fam == familyIPv4 && len(v) == 8, fam == familyIPv6 && len(v) == 20:
		return true, nil
	default:
		return true, fmt.Errorf("stun: %s family %d with %d bytes", t, fam, len(v))
	}
}

// getAddr decodes a plain (non-XOR) address attribute of type t.
func getAddr(m *stun.Message, t stun.AttrType) (netip.AddrPort, error) {
	present, err := addressValue(m, t)
	if !present || err != nil {
		return netip.AddrPort{}, err
	}
	var a stun.MappedAddress
	if err := a.GetFromAs(m, t); err != nil {
		return netip.AddrPort{}, fmt.Errorf("stun: %s: %w", t, err)
	}
	return addrPort(a.IP, a.Port)
}

// getXORAddr decodes XOR-MAPPED-ADDRESS.
func getXORAddr(m *stun.Message) (netip.AddrPort, error) {
	present, err := addressValue(m, stun.AttrXORMappedAddress)
	if !present || err != nil {
		return netip.AddrPort{}, err
	}
	var a stun.XORMappedAddress
	if err := a.GetFrom(m); err != nil {
		return netip.AddrPort{}, fmt.Errorf("stun: XOR-MAPPED-ADDRESS: %w", err)
	}
	return addrPort(a.IP, a.Port)
}

func addrPort(ip []byte, port int) (netip.AddrPort, error) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("stun: address of %d bytes", len(ip))
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
}
