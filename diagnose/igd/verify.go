package igd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/pion/stun/v3"
)

// attrResponsePort is RESPONSE-PORT (RFC 5780 §7.5, IANA STUN attribute
// 0x0027): the server sends its response to this port at the request's
// source address instead of to the source port.
const attrResponsePort stun.AttrType = 0x0027

// responsePort is a stun.Setter adding RESPONSE-PORT: a 16-bit port and
// 16 bits of padding.
type responsePort uint16

func (p responsePort) AddTo(m *stun.Message) error {
	m.Add(attrResponsePort, []byte{byte(p >> 8), byte(p), 0, 0})
	return nil
}

// bindingRequest builds a Binding request, with RESPONSE-PORT when port
// is not zero.
func bindingRequest(port uint16) (*stun.Message, error) {
	setters := []stun.Setter{stun.TransactionID, stun.BindingRequest}
	if port != 0 {
		setters = append(setters, responsePort(port))
	}
	setters = append(setters, stun.Fingerprint)
	return stun.Build(setters...)
}

// parseBindingResponse checks that b is the response to req and returns
// the mapped address, or the server's error code.
func parseBindingResponse(b []byte, req *stun.Message) (netip.AddrPort, error) {
	if !stun.IsMessage(b) {
		return netip.AddrPort{}, errors.New("stun: not a STUN message")
	}
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if err := m.Decode(); err != nil {
		return netip.AddrPort{}, fmt.Errorf("stun: %w", err)
	}
	if m.TransactionID != req.TransactionID {
		return netip.AddrPort{}, errors.New("stun: other transaction")
	}
	if m.Type.Class == stun.ClassErrorResponse {
		var ec stun.ErrorCodeAttribute
		if ec.GetFrom(m) == nil {
			return netip.AddrPort{}, fmt.Errorf("stun: error response %d %s", ec.Code, sanitize(string(ec.Reason), 60))
		}
		return netip.AddrPort{}, errors.New("stun: error response")
	}
	var xa stun.XORMappedAddress
	if err := xa.GetFrom(m); err != nil {
		return netip.AddrPort{}, fmt.Errorf("stun: no XOR-MAPPED-ADDRESS: %w", err)
	}
	a, ok := netip.AddrFromSlice(xa.IP)
	if !ok {
		return netip.AddrPort{}, errors.New("stun: bad mapped address")
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(xa.Port)), nil
}

// VerifyResult says whether an inbound packet arrived through a mapping.
type VerifyResult struct {
	Server netip.AddrPort
	// Arrived: the server's response, sent to external-IP:external-port,
	// reached the mapping's internal port.
	Arrived bool
	// SenderMapped is the public address the server saw for our sending
	// socket (the public IP the answer went to).
	SenderMapped netip.AddrPort
	Err          string
}

// Verify proves a mapping of externalPort → this host's internalPort with
// a real inbound packet (issue #4, RFC 5780 §6.1): a Binding request sent
// from another local socket carries RESPONSE-PORT = externalPort, so the
// server answers to our public address at the external port. That answer
// can only reach the socket on internalPort through the mapping: the
// request's own NAT binding leads back to the sending socket, not there.
func Verify(ctx context.Context, opt Options, server netip.AddrPort, externalPort, internalPort uint16) VerifyResult {
	res := VerifyResult{Server: server}
	listener, err := opt.listenPacket("udp4", fmt.Sprintf(":%d", internalPort))
	if err != nil {
		res.Err = fmt.Sprintf("listen on internal port %d: %v", internalPort, err)
		return res
	}
	defer listener.Close()
	sender, err := opt.listenPacket("udp4", ":0")
	if err != nil {
		res.Err = fmt.Sprintf("listen: %v", err)
		return res
	}
	defer sender.Close()
	req, err := bindingRequest(externalPort)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	// The sender may get an error response (a server without RFC 5780
	// answers 420 Unknown Attribute to the sender's own address).
	senderErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := sender.ReadFrom(buf)
			if err != nil {
				return
			}
			if _, perr := parseBindingResponse(buf[:n], req); perr != nil {
				select {
				case senderErr <- perr:
				default:
				}
				return
			}
		}
	}()
	stop := context.AfterFunc(ctx, func() { listener.SetReadDeadline(time.Now()) })
	defer stop()
	dst := net.UDPAddrFromAddrPort(server)
	buf := make([]byte, 1500)
	rto := stunRTO
	for try := 0; try < stunTries; try++ {
		if _, err := sender.WriteTo(req.Raw, dst); err != nil {
			res.Err = fmt.Sprintf("send to %v: %v", server, err)
			return res
		}
		deadline := time.Now().Add(rto)
		rto *= 2
		for {
			listener.SetReadDeadline(deadline)
			n, from, err := listener.ReadFrom(buf)
			if ctx.Err() != nil {
				res.Err = ctx.Err().Error()
				return res
			}
			if err != nil {
				break
			}
			if ua, ok := from.(*net.UDPAddr); !ok || ua.AddrPort().Addr().Unmap() != server.Addr().Unmap() {
				continue
			}
			mapped, perr := parseBindingResponse(buf[:n], req)
			if perr != nil {
				continue
			}
			res.Arrived, res.SenderMapped = true, mapped
			return res
		}
		select {
		case e := <-senderErr:
			res.Err = fmt.Sprintf("server %v does not honour RESPONSE-PORT: %v", server, e)
			return res
		default:
		}
	}
	res.Err = fmt.Sprintf("no packet arrived at internal port %d after %d tries", internalPort, stunTries)
	return res
}

// MappedAddress asks a STUN server for this host's public address, from
// a fresh socket (for the double-NAT check in discover).
func MappedAddress(ctx context.Context, opt Options, server netip.AddrPort) (netip.AddrPort, error) {
	conn, err := opt.listenPacket("udp4", ":0")
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("stun: listen: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer stop()
	req, err := bindingRequest(0)
	if err != nil {
		return netip.AddrPort{}, err
	}
	buf := make([]byte, 1500)
	rto := stunRTO
	for try := 0; try < stunTries; try++ {
		if _, err := conn.WriteTo(req.Raw, net.UDPAddrFromAddrPort(server)); err != nil {
			return netip.AddrPort{}, fmt.Errorf("stun: send to %v: %w", server, err)
		}
		deadline := time.Now().Add(rto)
		rto *= 2
		for {
			conn.SetReadDeadline(deadline)
			n, _, err := conn.ReadFrom(buf)
			if ctx.Err() != nil {
				return netip.AddrPort{}, ctx.Err()
			}
			if err != nil {
				break
			}
			if a, err := parseBindingResponse(buf[:n], req); err == nil {
				return a, nil
			}
		}
	}
	return netip.AddrPort{}, fmt.Errorf("stun: no answer from %v after %d tries", server, stunTries)
}
