package ng

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Client timeouts, each with its reason.
const (
	// replyTimeout: the relay is a local process; a reply later than this
	// under load means it is overloaded, and a retry is due.
	replyTimeout = 2 * time.Second
	// retries: ng requests are idempotent for the same cookie (rtpengine
	// caches replies by cookie), so a lost datagram is simply resent.
	retries = 3
)

// ErrFailed: the relay answered with result "error".
var ErrFailed = errors.New("ng: request failed")

// Client sends ng requests to one relay.
type Client struct {
	conn   *net.UDPConn
	prefix string
	seq    atomic.Uint64
	buf    []byte
}

// Dial connects to the relay's ng address. The cookie prefix keeps replies
// of different runs apart.
func Dial(addr netip.AddrPort) (*Client, error) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, fmt.Errorf("ng: dial %s: %w", addr, err)
	}
	return &Client{conn: c, prefix: strconv.FormatInt(time.Now().UnixNano(), 36), buf: make([]byte, maxMessage)}, nil
}

// Close closes the socket.
func (c *Client) Close() error { return c.conn.Close() }

// Request sends one command dictionary and returns the reply dictionary. It
// is not safe for concurrent use.
func (c *Client) Request(ctx context.Context, cmd map[string]any) (map[string]any, error) {
	cookie := c.prefix + "_" + strconv.FormatUint(c.seq.Add(1), 10)
	body, err := Encode(nil, cmd)
	if err != nil {
		return nil, err
	}
	msg := append([]byte(cookie+" "), body...)
	for try := 0; try < retries; try++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, err := c.conn.Write(msg); err != nil {
			return nil, fmt.Errorf("ng: %v: %w", cmd["command"], err)
		}
		reply, err := c.await(cookie)
		if errors.Is(err, errTimeout) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("ng: %v: %w", cmd["command"], err)
		}
		if r, _ := reply["result"].(string); r == "error" {
			reason, _ := reply["error-reason"].(string)
			return reply, fmt.Errorf("%w: %v: %s", ErrFailed, cmd["command"], reason)
		}
		return reply, nil
	}
	return nil, fmt.Errorf("ng: %v: no reply after %d tries of %s", cmd["command"], retries, replyTimeout)
}

var errTimeout = errors.New("timeout")

// await reads datagrams until the one carrying cookie arrives; replies to
// earlier, retried requests are skipped.
func (c *Client) await(cookie string) (map[string]any, error) {
	c.conn.SetReadDeadline(time.Now().Add(replyTimeout))
	for {
		n, err := c.conn.Read(c.buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return nil, errTimeout
			}
			return nil, err
		}
		got, dict, err := Parse(c.buf[:n])
		if err != nil || got != cookie {
			continue
		}
		return dict, nil
	}
}

// Parse splits a datagram into its cookie and dictionary.
func Parse(b []byte) (string, map[string]any, error) {
	sp := bytes.IndexByte(b, ' ')
	if sp < 1 || sp > 64 {
		return "", nil, fmt.Errorf("%w: no cookie", ErrBencode)
	}
	v, err := Decode(b[sp+1:])
	if err != nil {
		return "", nil, err
	}
	d, ok := v.(map[string]any)
	if !ok {
		return "", nil, fmt.Errorf("%w: not a dictionary", ErrBencode)
	}
	return string(b[:sp]), d, nil
}

// Reply builds the datagram answering cookie with dict.
func Reply(cookie string, dict map[string]any) []byte {
	body, err := Encode(nil, dict)
	if err != nil {
		body, _ = Encode(nil, map[string]any{"result": "error", "error-reason": err.Error()})
	}
	return append([]byte(cookie+" "), body...)
}

// Offer sends the caller's SDP and returns the SDP for the callee (the
// relay's address facing the callee).
func (c *Client) Offer(ctx context.Context, callID, fromTag, sdp string) (string, error) {
	r, err := c.Request(ctx, map[string]any{"command": "offer", "call-id": callID, "from-tag": fromTag, "sdp": sdp})
	if err != nil {
		return "", err
	}
	s, _ := r["sdp"].(string)
	return s, nil
}

// Answer sends the callee's SDP and returns the SDP for the caller.
func (c *Client) Answer(ctx context.Context, callID, fromTag, toTag, sdp string) (string, error) {
	r, err := c.Request(ctx, map[string]any{"command": "answer", "call-id": callID, "from-tag": fromTag, "to-tag": toTag, "sdp": sdp})
	if err != nil {
		return "", err
	}
	s, _ := r["sdp"].(string)
	return s, nil
}

// Delete ends a call.
func (c *Client) Delete(ctx context.Context, callID, fromTag string) error {
	_, err := c.Request(ctx, map[string]any{"command": "delete", "call-id": callID, "from-tag": fromTag})
	return err
}

// Ping checks that the relay answers.
func (c *Client) Ping(ctx context.Context) error {
	r, err := c.Request(ctx, map[string]any{"command": "ping"})
	if err != nil {
		return err
	}
	if res, _ := r["result"].(string); res != "pong" {
		return fmt.Errorf("ng: ping: result %q", res)
	}
	return nil
}

// AudioSDP is a minimal G.711 offer or answer receiving RTP at addr.
func AudioSDP(addr netip.AddrPort, sessionID int) string {
	ip := addr.Addr().String()
	return "v=0\r\n" +
		"o=- " + strconv.Itoa(sessionID) + " 1 IN IP4 " + ip + "\r\n" +
		"s=natdoc-bench\r\n" +
		"c=IN IP4 " + ip + "\r\n" +
		"t=0 0\r\n" +
		"m=audio " + strconv.Itoa(int(addr.Port())) + " RTP/AVP 0\r\n" +
		"a=rtpmap:0 PCMU/8000\r\n" +
		"a=sendrecv\r\n"
}

// MediaAddr reads the first audio stream's address from an SDP body: the
// media-level c= line if present, else the session-level one (RFC 4566
// §5.7), and the port of the first m=audio line.
func MediaAddr(sdp string) (netip.AddrPort, error) {
	var session, media string
	port := -1
lines:
	for line := range strings.Lines(sdp) {
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(line, "m="):
			if port >= 0 {
				break lines // the next stream's lines are not ours
			}
			f := strings.Fields(line[2:])
			if len(f) >= 2 && f[0] == "audio" {
				p, err := strconv.Atoi(f[1])
				if err != nil || p < 0 || p > 65535 {
					return netip.AddrPort{}, fmt.Errorf("sdp: bad port in %q", line)
				}
				port = p
			}
		case strings.HasPrefix(line, "c=IN IP4 ") || strings.HasPrefix(line, "c=IN IP6 "):
			a := strings.Fields(line[len("c=IN IP4 "):])
			if len(a) == 0 {
				continue
			}
			if port >= 0 && media == "" {
				media = a[0]
			} else if port < 0 {
				session = a[0]
			}
		}
	}
	if port < 0 {
		return netip.AddrPort{}, errors.New("sdp: no m=audio line")
	}
	host := media
	if host == "" {
		host = session
	}
	ip, err := netip.ParseAddr(strings.SplitN(host, "/", 2)[0])
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("sdp: connection address %q: %w", host, err)
	}
	return netip.AddrPortFrom(ip, uint16(port)), nil
}
