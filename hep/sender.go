package hep

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// SenderOptions configure a HEP sender.
type SenderOptions struct {
	// CaptureID identifies natdoc among the collector's agents.
	CaptureID uint32
	// AuthKey, when set, is sent in every packet (HOMER's capture
	// password).
	AuthKey string
	// NodeName, when set, names the sending node.
	NodeName string
}

// sendTimeout bounds a write to a TCP collector that stopped reading; a
// late copy for HOMER is dropped rather than stalling natdoc.
const sendTimeout = time.Second

// Sender sends HEPv3 to a collector over UDP or TCP. It is safe for
// concurrent use; a failed send is counted, never fatal: the copy to
// HOMER must not stop the diagnosis.
type Sender struct {
	network, addr string
	opt           SenderOptions

	mu      sync.Mutex
	conn    net.Conn
	buf     []byte
	sent    uint64
	failed  uint64
	lastErr error
}

// Dial prepares a sender to addr ("udp" or "tcp"). UDP needs no answer;
// TCP connects now and again after a failure.
func Dial(network, addr string, opt SenderOptions) (*Sender, error) {
	if network != "udp" && network != "tcp" {
		return nil, fmt.Errorf("hep: send over %q: want udp or tcp", network)
	}
	s := &Sender{network: network, addr: addr, opt: opt, buf: make([]byte, 0, 4096)}
	c, err := net.DialTimeout(network, addr, sendTimeout)
	if err != nil {
		return nil, fmt.Errorf("hep: dial %s %s: %w", network, addr, err)
	}
	s.conn = c
	return s, nil
}

// Send encodes p with the sender's capture ID and keys and sends it.
func (s *Sender) Send(p *Packet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p.CaptureID = s.opt.CaptureID
	if s.opt.AuthKey != "" {
		p.AuthKey = []byte(s.opt.AuthKey)
	}
	if s.opt.NodeName != "" {
		p.NodeName = []byte(s.opt.NodeName)
	}
	var err error
	if s.buf, err = AppendV3(s.buf[:0], p); err == nil {
		err = s.write(s.buf)
	}
	if err != nil {
		s.failed++
		s.lastErr = err
		return
	}
	s.sent++
}

// SendSIP sends one SIP message as natdoc saw or handled it, correlated
// by its Call-ID.
func (s *Sender) SendSIP(src, dst netip.AddrPort, proto uint8, at time.Time, msg []byte, callID string) {
	s.Send(&Packet{Proto: proto, Src: src, Dst: dst, Time: at, Type: TypeSIP, Payload: msg, CorrelationID: []byte(callID)})
}

// SendLog sends a log line (natdoc's JSON verdict of a call) correlated to
// a Call-ID, so HOMER shows it with the call's messages.
func (s *Sender) SendLog(src, dst netip.AddrPort, at time.Time, line []byte, callID string) {
	s.Send(&Packet{Proto: 17, Src: src, Dst: dst, Time: at, Type: TypeLog, Payload: line, CorrelationID: []byte(callID)})
}

func (s *Sender) write(b []byte) error {
	if s.conn == nil {
		c, err := net.DialTimeout(s.network, s.addr, sendTimeout)
		if err != nil {
			return err
		}
		s.conn = c
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(sendTimeout))
	_, err := s.conn.Write(b)
	if err != nil && s.network == "tcp" {
		s.conn.Close() // reconnect at the next send: the stream's framing may be cut
		s.conn = nil
	}
	return err
}

// Stats returns how many packets were sent and failed, and the last error.
func (s *Sender) Stats() (sent, failed uint64, last error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent, s.failed, s.lastErr
}

// Close closes the connection.
func (s *Sender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}
