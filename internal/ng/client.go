package ng

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/natdoc/natdoc/internal/transact"
)

// DefaultSchedule: an engine on the same network answers in a millisecond
// or two; 500 ms without an answer is a lost datagram or a busy engine,
// three sends over 2 s is as long as a SIP INVITE should wait for its
// media before the caller hears a 503 (its own INVITE retransmissions stay
// inside the server's transaction meanwhile).
var DefaultSchedule = transact.Schedule{RTO: 500 * time.Millisecond, Sends: 3, Window: 2 * time.Second}

// Errors a request ends with (wrapped with the command and engine).
var (
	// ErrFailed: the engine answered with result "error".
	ErrFailed = errors.New("engine refused")
	// ErrNoReply: no reply within the schedule.
	ErrNoReply = errors.New("no reply")
	// ErrRefused: nothing listens at the engine's address.
	ErrRefused = errors.New("connection refused")
)

// Refusal is an engine's reply with result "error"; it is ErrFailed.
type Refusal struct {
	Reason string // the reply's error-reason, as the engine wrote it
}

func (r *Refusal) Error() string { return fmt.Sprintf("%v: %q", ErrFailed, r.Reason) }
func (r *Refusal) Unwrap() error { return ErrFailed }

// Options are a client's seams and schedule.
type Options struct {
	// Dial opens the socket, connected to the engine (default
	// net.DialUDP); tests open it inside a lab namespace.
	Dial func(addr netip.AddrPort) (*net.UDPConn, error)
	// Schedule of each request (default DefaultSchedule).
	Schedule transact.Schedule
}

// Client sends ng requests to one engine. It is safe for concurrent use.
type Client struct {
	addr     netip.AddrPort
	conn     *net.UDPConn
	prefix   string
	schedule transact.Schedule
	seq      atomic.Uint64

	mu      sync.Mutex
	waiting map[string]chan arrival
	done    chan struct{}

	// Malformed counts datagrams that were no ng reply (no cookie, no
	// dictionary); Stray counts replies no request waited for (late).
	Malformed, Stray atomic.Uint64
}

// arrival is what the reader hands a waiting request: a reply or why none
// will come.
type arrival struct {
	dict map[string]any
	err  error
}

// Dial connects to an engine's ng address with the default options.
func Dial(addr netip.AddrPort) (*Client, error) { return New(addr, Options{}) }

// New connects to an engine's ng address. The cookie prefix keeps replies
// of different clients and runs apart.
func New(addr netip.AddrPort, o Options) (*Client, error) {
	if o.Dial == nil {
		o.Dial = func(a netip.AddrPort) (*net.UDPConn, error) {
			return net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(a))
		}
	}
	if o.Schedule.RTO == 0 {
		o.Schedule = DefaultSchedule
	}
	conn, err := o.Dial(addr)
	if err != nil {
		return nil, fmt.Errorf("ng: dial %s: %w", addr, err)
	}
	c := &Client{addr: addr, conn: conn, schedule: o.Schedule, waiting: map[string]chan arrival{}, done: make(chan struct{}),
		prefix: strconv.FormatInt(time.Now().UnixNano(), 36) + transact.NewID()[:4]}
	go c.read()
	return c, nil
}

// Addr is the engine's ng address.
func (c *Client) Addr() netip.AddrPort { return c.addr }

// LocalAddr is this host's address and port toward the engine.
func (c *Client) LocalAddr() netip.AddrPort {
	a, _ := c.conn.LocalAddr().(*net.UDPAddr)
	if a == nil {
		return netip.AddrPort{}
	}
	ap := a.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Close closes the socket; requests in flight end with an error.
func (c *Client) Close() error {
	err := c.conn.Close()
	<-c.done
	return err
}

// readErrorPause keeps a socket with a persistent error from spinning.
const readErrorPause = 5 * time.Millisecond

// read hands each reply to the request waiting for its cookie until the
// socket is closed.
func (c *Client) read() {
	defer close(c.done)
	buf := make([]byte, maxMessage)
	for {
		n, err := c.conn.Read(buf)
		switch {
		case errors.Is(err, net.ErrClosed):
			c.broadcast(arrival{err: net.ErrClosed})
			return
		case errors.Is(err, syscall.ECONNREFUSED):
			c.broadcast(arrival{err: ErrRefused})
			continue
		case err != nil:
			time.Sleep(readErrorPause)
			continue
		}
		c.deliver(buf[:n])
	}
}

// deliver parses one datagram and hands it to its request. A reply whose
// cookie is readable but whose body is not still ends that request, with
// the parse error: an engine that answers garbage is told apart from one
// that does not answer.
func (c *Client) deliver(b []byte) {
	cookie, dict, err := Parse(b)
	if cookie == "" {
		c.Malformed.Add(1)
		return
	}
	if err != nil {
		c.Malformed.Add(1)
	}
	c.mu.Lock()
	ch := c.waiting[cookie]
	c.mu.Unlock()
	if ch == nil {
		c.Stray.Add(1)
		return
	}
	select {
	case ch <- arrival{dict: dict, err: err}:
	default: // a reply to a resend, after the first was taken
	}
}

func (c *Client) broadcast(a arrival) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range c.waiting {
		select {
		case ch <- a:
		default:
		}
	}
}

// Request sends one command dictionary and returns the reply dictionary.
// A reply with result "error" is returned with ErrFailed.
func (c *Client) Request(ctx context.Context, cmd map[string]any) (map[string]any, error) {
	name, _ := cmd["command"].(string)
	fail := func(err error) error { return fmt.Errorf("ng: %s to %s: %w", name, c.addr, err) }
	body, err := Encode(nil, cmd)
	if err != nil {
		return nil, fail(err)
	}
	cookie := c.prefix + "_" + strconv.FormatUint(c.seq.Add(1), 10)
	msg := append([]byte(cookie+" "), body...)
	ch := make(chan arrival, 1)
	c.mu.Lock()
	c.waiting[cookie] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiting, cookie)
		c.mu.Unlock()
	}()
	send := func() error {
		_, err := c.conn.Write(msg)
		return err
	}
	a, _, err := transact.Run(ctx, c.schedule, send, ch, func(a arrival) (arrival, bool) { return a, true })
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return nil, fail(ErrRefused)
	case errors.Is(err, transact.ErrNoAnswer):
		return nil, fail(fmt.Errorf("%w: %w", ErrNoReply, err))
	case err != nil:
		return nil, fail(err)
	case a.err != nil:
		return nil, fail(a.err)
	}
	return a.dict, checkResult(a.dict, fail)
}

// checkResult reads the reply's result: "error" is the engine's refusal,
// with its reason; a reply without a result is no ng reply.
func checkResult(d map[string]any, fail func(error) error) error {
	r, ok := d["result"].(string)
	switch {
	case !ok:
		return fail(fmt.Errorf("%w: reply without a result", ErrBencode))
	case r == "error":
		reason, _ := d["error-reason"].(string)
		return fail(&Refusal{Reason: reason})
	}
	return nil
}

// Parse splits a datagram into its cookie and dictionary. The cookie is
// returned even when the dictionary cannot be read.
func Parse(b []byte) (string, map[string]any, error) {
	sp := bytes.IndexByte(b, ' ')
	if sp < 1 || sp > maxCookie {
		return "", nil, fmt.Errorf("%w: no cookie", ErrBencode)
	}
	cookie := string(b[:sp])
	v, err := Decode(b[sp+1:])
	if err != nil {
		return cookie, nil, err
	}
	d, ok := v.(map[string]any)
	if !ok {
		return cookie, nil, fmt.Errorf("%w: not a dictionary", ErrBencode)
	}
	return cookie, d, nil
}

// maxCookie bounds the cookie: rtpengine's and ours are under 40 bytes.
const maxCookie = 64

// Reply builds the datagram answering cookie with dict.
func Reply(cookie string, dict map[string]any) []byte {
	body, err := Encode(nil, dict)
	if err != nil {
		body, _ = Encode(nil, map[string]any{"result": "error", "error-reason": err.Error()})
	}
	return append([]byte(cookie+" "), body...)
}
