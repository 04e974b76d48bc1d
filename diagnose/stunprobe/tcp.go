package stunprobe

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"
)

// maxTCPMessage bounds a STUN message read from a TCP stream: the length
// field is the peer's claim, so it is checked before anything is read.
const maxTCPMessage = 1500

// askTCP asks the first answering server for the mapping of a TCP
// connection (RFC 5389 §7.2.2). NATs map TCP separately; VoIP over TCP or
// TLS needs this address.
func (p *probe) askTCP(ctx context.Context, servers []ServerResult) *ServerResult {
	// Prefer a server that answered over UDP; with none (UDP blocked), the
	// first one that resolved: a TCP answer then proves the network works.
	srv := firstAnswer(servers)
	for i := 0; !srv.Answered() && i < len(servers); i++ {
		if servers[i].Addr.IsValid() {
			srv = servers[i]
			break
		}
	}
	if !srv.Addr.IsValid() {
		return &ServerResult{Err: "no server address to try TCP with"}
	}
	out := &ServerResult{Server: srv.Server, Addr: srv.Addr}
	ctx, cancel := context.WithTimeout(ctx, serverWindow)
	defer cancel()
	network := "tcp4"
	if p.cfg.Network == "udp6" {
		network = "tcp6"
	}
	start := time.Now()
	c, err := p.cfg.Env.DialContext(ctx, network, srv.Addr.String())
	if err != nil {
		out.Err = fmt.Sprintf("tcp connect: %v", err)
		return out
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	r, err := tcpRoundTrip(c)
	if err != nil {
		out.Err = err.Error()
		return out
	}
	out.Mapped, out.Other, out.Origin, out.Software, out.RTT, out.Sent = r.Mapped, r.Other, r.Origin, r.Software, time.Since(start), 1
	return out
}

func tcpRoundTrip(c net.Conn) (Response, error) {
	req, err := NewBindingRequest()
	if err != nil {
		return Response{}, err
	}
	if _, err := c.Write(req.Raw); err != nil {
		return Response{}, fmt.Errorf("tcp send: %w", err)
	}
	raw, err := readTCPMessage(c)
	if err != nil {
		return Response{}, err
	}
	r, err := ParseResponse(raw)
	if err != nil {
		return r, fmt.Errorf("tcp answer: %w", err)
	}
	if r.TransactionID != req.TransactionID {
		return r, fmt.Errorf("tcp answer: %w: transaction ID does not match", ErrNotSTUN)
	}
	if !r.Success {
		return r, fmt.Errorf("tcp answer: error %d %s", r.ErrorCode, r.ErrorReason)
	}
	return r, nil
}

// readTCPMessage reads one STUN message from a stream, bounded.
func readTCPMessage(r io.Reader) ([]byte, error) {
	var hdr [stunHeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("tcp read header: %w", err)
	}
	n := int(binary.BigEndian.Uint16(hdr[2:4]))
	if stunHeaderSize+n > maxTCPMessage {
		return nil, fmt.Errorf("tcp answer: %w: claims %d bytes", ErrNotSTUN, n)
	}
	buf := make([]byte, stunHeaderSize+n)
	copy(buf, hdr[:])
	if _, err := io.ReadFull(r, buf[stunHeaderSize:]); err != nil {
		return nil, fmt.Errorf("tcp read body: %w", err)
	}
	return buf, nil
}
