package stunserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v3"

	"github.com/natdoc/natdoc/diagnose/netenv"
	"github.com/natdoc/natdoc/diagnose/stunprobe"
	"github.com/natdoc/natdoc/internal/ratelimit"
)

// maxAmplification bounds an answer's size against its request's: an
// IPv6 RFC 5780 answer (XOR-MAPPED-ADDRESS, RESPONSE-ORIGIN and
// OTHER-ADDRESS, 24 bytes each) to a bare 20-byte request is 92 bytes,
// so 5 lets every legitimate answer out and nothing bigger.
const maxAmplification = 5

// readErrorPause is the wait after a read error before reading again.
const readErrorPause = 5 * time.Millisecond

// maxDatagram is the read buffer; longer datagrams are truncated and then
// fail the STUN length check.
const maxDatagram = 1500

// Config says where to listen.
type Config struct {
	// Primary is the address and port the server is known by (3478).
	Primary netip.AddrPort
	// Alternate, when valid, is the second IP and port for RFC 5780; it
	// must differ from Primary in both and be of the same family.
	Alternate netip.AddrPort
	// Rate and Burst limit answers per source IP (token bucket); zero
	// values mean 50/s with a burst of 100, enough for a full natdoc
	// probe (about 25 requests within a second) from behind one NAT.
	Rate  float64
	Burst int

	// Env makes the sockets (tests: inside a lab namespace); the zero
	// value uses the host's own network.
	Env netenv.Env
	Log *slog.Logger
}

// Stats counts what the server did; safe to read while it runs.
type Stats struct {
	Received, Answered, Errors420                     atomic.Uint64
	Malformed, NotBindingRequest, RateLimited, TooBig atomic.Uint64
	AnsweredFromOther                                 atomic.Uint64 // CHANGE-REQUEST honoured
}

// socket index bits: which IP and which port a socket listens on.
const (
	altIP   = 1
	altPort = 2
)

// maxTrackedSources bounds the rate limiter's memory: a flood of spoofed
// sources can at worst make it forget, never grow it.
const maxTrackedSources = 16384

// Server answers STUN Binding requests.
type Server struct {
	cfg   Config
	conns [4]*net.UDPConn // by altIP|altPort bits; only [0] without Alternate
	addrs [4]netip.AddrPort
	limit *ratelimit.PerSource
	Stats Stats
	log   *slog.Logger
}

// ErrBadAlternate: the alternate address cannot serve RFC 5780.
var ErrBadAlternate = errors.New("stunserver: the alternate address must differ from the primary in IP and port and be of the same family")

// Listen opens the server's sockets. Serve answers on them.
func Listen(cfg Config) (*Server, error) {
	if !cfg.Primary.IsValid() {
		return nil, errors.New("stunserver: no primary address")
	}
	if cfg.Alternate.IsValid() && (cfg.Alternate.Addr() == cfg.Primary.Addr() || cfg.Alternate.Port() == cfg.Primary.Port() ||
		cfg.Alternate.Addr().Is4() != cfg.Primary.Addr().Is4()) {
		return nil, ErrBadAlternate
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 50
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 100
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, limit: ratelimit.New(cfg.Rate, float64(cfg.Burst), maxTrackedSources), log: cfg.Log}
	n := 1
	if cfg.Alternate.IsValid() {
		n = 4
	}
	network := "udp4"
	if cfg.Primary.Addr().Is6() {
		network = "udp6"
	}
	for i := range n {
		s.addrs[i] = s.addrOf(i)
		c, err := cfg.Env.ListenUDP(network, net.UDPAddrFromAddrPort(s.addrs[i]))
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("stunserver: listen %s: %w", s.addrs[i], err)
		}
		s.conns[i] = c
		s.addrs[i] = c.LocalAddr().(*net.UDPAddr).AddrPort() // port 0 resolved
	}
	return s, nil
}

// addrOf is the address of socket i before binding.
func (s *Server) addrOf(i int) netip.AddrPort {
	ip, port := s.cfg.Primary.Addr(), s.cfg.Primary.Port()
	if i&altIP != 0 {
		ip = s.cfg.Alternate.Addr()
	}
	if i&altPort != 0 {
		port = s.cfg.Alternate.Port()
	}
	return netip.AddrPortFrom(ip, port)
}

// Addrs lists the addresses the server answers on.
func (s *Server) Addrs() []netip.AddrPort {
	var out []netip.AddrPort
	for i, c := range s.conns {
		if c != nil {
			out = append(out, s.addrs[i])
		}
	}
	return out
}

// RFC5780 reports whether the server has an alternate address.
func (s *Server) RFC5780() bool { return s.cfg.Alternate.IsValid() }

// Close closes the sockets; Serve returns.
func (s *Server) Close() {
	for _, c := range s.conns {
		if c != nil {
			c.Close()
		}
	}
}

// Serve answers until ctx ends, then closes the sockets.
func (s *Server) Serve(ctx context.Context) error {
	var wg sync.WaitGroup
	for i, c := range s.conns {
		if c != nil {
			wg.Go(func() { s.readLoop(i, c) })
		}
	}
	<-ctx.Done()
	s.Close()
	wg.Wait()
	return nil
}

func (s *Server) readLoop(idx int, c *net.UDPConn) {
	buf := make([]byte, maxDatagram)
	out := make([]byte, 0, maxDatagram)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(readErrorPause) // transient; do not spin on a persistent one
			continue
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		s.Stats.Received.Add(1)
		if !s.limit.Allow(from.Addr(), time.Now()) {
			s.Stats.RateLimited.Add(1)
			continue
		}
		ans, err := s.answer(idx, from, buf[:n], out[:0])
		if err != nil {
			s.log.Debug("stun request dropped", "from", from, "err", err)
			continue
		}
		if _, err := s.conns[ans.via].WriteToUDPAddrPort(ans.raw, ans.to); err != nil {
			s.log.Debug("stun answer not sent", "to", ans.to, "err", err)
			continue
		}
		s.Stats.Answered.Add(1)
		if ans.via != idx {
			s.Stats.AnsweredFromOther.Add(1)
		}
	}
}

// answerTo is one answer and where it goes.
type answerTo struct {
	raw []byte
	via int // socket index to send from
	to  netip.AddrPort
}

// Errors that make the server drop a datagram without answering.
var (
	errNotRequest = errors.New("not a Binding request")
	errTooBig     = errors.New("answer would amplify")
)

// answer builds the answer to one datagram received on socket idx.
func (s *Server) answer(idx int, from netip.AddrPort, raw, buf []byte) (answerTo, error) {
	req, err := stunprobe.DecodeMessage(raw)
	if err != nil {
		if errors.Is(err, stunprobe.ErrNotBinding) {
			s.Stats.NotBindingRequest.Add(1)
		} else {
			s.Stats.Malformed.Add(1)
		}
		return answerTo{}, err
	}
	if req.Type != stun.BindingRequest {
		s.Stats.NotBindingRequest.Add(1)
		return answerTo{}, errNotRequest
	}
	ans := answerTo{via: idx, to: from}
	var resp *stun.Message
	if unknown := s.unknownRequired(req); len(unknown) > 0 {
		s.Stats.Errors420.Add(1)
		resp, err = stun.Build(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingError,
			stun.CodeUnknownAttribute, stun.UnknownAttributes(unknown))
	} else {
		ans, err = s.route(idx, from, req)
		if err != nil {
			s.Stats.Malformed.Add(1)
			return answerTo{}, err
		}
		resp, err = s.success(req, from, ans.via, idx)
	}
	if err != nil {
		return answerTo{}, fmt.Errorf("stunserver: build answer: %w", err)
	}
	if req.Contains(stun.AttrFingerprint) {
		if err := stun.Fingerprint.AddTo(resp); err != nil {
			return answerTo{}, err
		}
	}
	if len(resp.Raw) > maxAmplification*len(raw) {
		s.Stats.TooBig.Add(1)
		return answerTo{}, errTooBig
	}
	ans.raw = append(buf, resp.Raw...)
	return ans, nil
}

// unknownRequired lists comprehension-required attributes (RFC 5389 §15:
// types below 0x8000) the server does not implement; they get 420.
// CHANGE-REQUEST is unknown to a server without an alternate address, as
// RFC 5780 §6.1 asks, unless it asks for no change.
func (s *Server) unknownRequired(req *stun.Message) []stun.AttrType {
	var out []stun.AttrType
	for _, a := range req.Attributes {
		switch {
		case a.Type >= 0x8000, a.Type == stun.AttrResponsePort:
		case a.Type == stun.AttrChangeRequest:
			var c stunprobe.ChangeRequest
			if c.GetFrom(req) != nil || ((c.ChangeIP || c.ChangePort) && !s.RFC5780()) {
				out = append(out, a.Type)
			}
		default:
			out = append(out, a.Type)
		}
		if len(out) == 8 { // bound the error answer's size
			break
		}
	}
	return out
}

// route picks the socket to answer from (CHANGE-REQUEST) and the
// destination (RESPONSE-PORT, RFC 5780 §6.1: same IP, that port).
func (s *Server) route(idx int, from netip.AddrPort, req *stun.Message) (answerTo, error) {
	ans := answerTo{via: idx, to: from}
	var c stunprobe.ChangeRequest
	if c.GetFrom(req) == nil {
		if c.ChangeIP {
			ans.via ^= altIP
		}
		if c.ChangePort {
			ans.via ^= altPort
		}
	}
	if req.Contains(stun.AttrResponsePort) {
		var p stunprobe.ResponsePort
		if err := p.GetFrom(req); err != nil {
			return ans, err
		}
		if p == 0 {
			return ans, errors.New("RESPONSE-PORT 0")
		}
		ans.to = netip.AddrPortFrom(from.Addr(), uint16(p))
	}
	return ans, nil
}

// success builds the Binding success answer: XOR-MAPPED-ADDRESS always;
// with an alternate address also RESPONSE-ORIGIN (the socket it is sent
// from) and OTHER-ADDRESS (the alternate IP and port relative to the
// socket the request arrived on), RFC 5780 §6.1.
func (s *Server) success(req *stun.Message, from netip.AddrPort, via, recv int) (*stun.Message, error) {
	setters := []stun.Setter{
		stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
		&stun.XORMappedAddress{IP: from.Addr().AsSlice(), Port: int(from.Port())},
	}
	if s.RFC5780() {
		origin, other := s.addrs[via], s.addrs[recv^(altIP|altPort)]
		setters = append(setters,
			&stun.ResponseOrigin{IP: origin.Addr().AsSlice(), Port: int(origin.Port())},
			&stun.OtherAddress{IP: other.Addr().AsSlice(), Port: int(other.Port())})
	}
	return stun.Build(setters...)
}
