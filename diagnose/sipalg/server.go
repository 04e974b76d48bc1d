package sipalg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/natdoc/natdoc/internal/ratelimit"
)

// Mirror answers SIP requests with what it received, over UDP and TCP.
type Mirror struct {
	UDP *net.UDPConn
	TCP net.Listener
	// Callback, when set, sends the callback packets requests ask for
	// (HeaderCallback), from its own port so that they match no NAT
	// binding the request created.
	Callback *net.UDPConn
	// Limit is each source address's request budget; zero uses
	// DefaultRateLimit.
	Limit RateLimit

	limiter *ratelimit.PerSource
	stats   Stats
}

// Stats counts what the mirror did.
type Stats struct {
	Answered, Ignored, RateLimited atomic.Uint64
}

// Stats returns the mirror's counters.
func (m *Mirror) Stats() *Stats { return &m.stats }

func (m *Mirror) answer(raw []byte, from netip.AddrPort, transport string) []byte {
	if !m.limiter.Allow(from.Addr(), time.Now()) {
		m.stats.RateLimited.Add(1)
		return nil
	}
	sent := m.callBack(raw, from)
	resp := MirrorResponseCallbacks(raw, from, transport, sent)
	if resp == nil {
		m.stats.Ignored.Add(1)
		return nil
	}
	m.stats.Answered.Add(1)
	return resp
}

// RateLimit allows Burst requests per source address and Per period.
type RateLimit struct {
	Burst int
	Per   time.Duration
}

// DefaultRateLimit: a diagnose run sends a handful of requests with
// retransmissions (ALG test over UDP and TCP, path probes, the callback
// request, the two fragment probes): about 8, up to 23 on a lossy path;
// 40 per 10 s leaves room for that and nothing for a flood.
var DefaultRateLimit = RateLimit{Burst: 40, Per: 10 * time.Second}

// tcpReadTimeout bounds one TCP connection: a client sends its request right
// after connecting; a slow sender is no natdoc client.
const tcpReadTimeout = 5 * time.Second

// Serve answers on both sockets until ctx ends or they are closed. Either
// socket may be nil.
func (m *Mirror) Serve(ctx context.Context) error {
	if m.Limit.Burst == 0 {
		m.Limit = DefaultRateLimit
	}
	m.limiter = newLimiter(m.Limit)
	go func() {
		<-ctx.Done()
		if m.UDP != nil {
			m.UDP.Close()
		}
		if m.TCP != nil {
			m.TCP.Close()
		}
		if m.Callback != nil {
			m.Callback.Close()
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	if m.UDP != nil {
		wg.Go(func() { errs <- m.serveUDP() })
	}
	if m.TCP != nil {
		wg.Go(func() { errs <- m.serveTCP(ctx) })
	}
	wg.Wait()
	close(errs)
	if ctx.Err() != nil {
		return nil
	}
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

func (m *Mirror) serveUDP() error {
	buf := make([]byte, MaxMessage)
	for {
		n, from, err := m.UDP.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("mirror: read udp: %w", err)
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if resp := m.answer(buf[:n], from, "udp"); resp != nil {
			_, _ = m.UDP.WriteToUDPAddrPort(resp, from)
		}
	}
}

func (m *Mirror) serveTCP(ctx context.Context) error {
	for {
		c, err := m.TCP.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("mirror: accept tcp: %w", err)
		}
		go m.serveConn(c)
	}
}

func (m *Mirror) serveConn(c net.Conn) {
	defer c.Close()
	from, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	_ = c.SetDeadline(time.Now().Add(tcpReadTimeout))
	r := bufio.NewReaderSize(c, 4096)
	for {
		raw, err := ReadStreamMessage(r)
		if err != nil {
			return
		}
		if resp := m.answer(raw, from, "tcp"); resp != nil {
			if _, err := c.Write(resp); err != nil {
				return
			}
		}
	}
}

// callBack sends the packets a request asks for, only ever to the
// request's own source address, and returns the ports it sent to.
func (m *Mirror) callBack(raw []byte, from netip.AddrPort) []uint16 {
	if m.Callback == nil {
		return nil
	}
	ports, callID := CallbackRequest(raw)
	var sent []uint16
	for _, p := range ports {
		if _, err := m.Callback.WriteToUDPAddrPort(CallbackPayload(callID, p), netip.AddrPortFrom(from.Addr(), p)); err == nil {
			sent = append(sent, p)
		}
	}
	return sent
}

// maxHeaderBytes bounds the header part of a message on a stream.
const maxHeaderBytes = 16 << 10

// ReadStreamMessage reads one SIP message from a stream, framed by its
// Content-Length (RFC 3261 §18.3), with the header part and the body both
// bounded before anything is allocated by their size.
func ReadStreamMessage(r *bufio.Reader) ([]byte, error) {
	var msg []byte
	length := -1
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return nil, errors.New("sipalg: header line too long")
			}
			return nil, err
		}
		msg = append(msg, line...)
		if len(msg) > maxHeaderBytes {
			return nil, errors.New("sipalg: header too long")
		}
		trimmed := strings.TrimRight(string(line), "\r\n")
		if trimmed == "" {
			if len(msg) <= 2 {
				msg = msg[:0] // keep-alive CRLF between messages (RFC 5626 §3.5.1)
				continue
			}
			break
		}
		if name, value, ok := strings.Cut(trimmed, ":"); ok && canonicalName(name) == "Content-Length" {
			n, err := strconv.Atoi(strings.TrimSpace(value))
			if err != nil || n < 0 || n > MaxMessage {
				return nil, fmt.Errorf("sipalg: bad Content-Length %q", strings.TrimSpace(value))
			}
			length = n
		}
	}
	if length < 0 {
		return nil, errors.New("sipalg: no Content-Length on a stream")
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("sipalg: body: %w", err)
	}
	return append(msg, body...), nil
}

// maxTrackedSources bounds the limiter's memory.
const maxTrackedSources = 4096

// newLimiter turns a request budget into a per-source token bucket.
func newLimiter(cfg RateLimit) *ratelimit.PerSource {
	return ratelimit.New(float64(cfg.Burst)/cfg.Per.Seconds(), float64(cfg.Burst), maxTrackedSources)
}
