package sipserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/natdoc/natdoc/diagnose/netenv"
	"github.com/natdoc/natdoc/internal/transact"
)

// Config names the server.
type Config struct {
	// Target is "host", "host:port" or "ip:port" as the user gave it.
	Target string
	// LocalAddr is this host's address for Via/Contact.
	LocalAddr netip.Addr
	// SIPPort is the local port to send from (0: any; a busy port falls
	// back to any).
	SIPPort int
	Env     netenv.Env
	// DNSServer, when set, receives every DNS query (tests).
	DNSServer string
}

// SRV is one SRV record.
type SRV struct {
	Target   string
	Port     uint16
	Priority uint16
	Weight   uint16
}

// Leak is a private address the server put in its answer.
type Leak struct {
	Where string // "Contact", "Record-Route", "Via", "SDP c=", "SDP o="
	Value string
	Addr  netip.Addr
}

// Result is what the server check saw. Fields are facts; findings are
// derived elsewhere.
type Result struct {
	Target string
	Host   string
	Port   int
	// IsName: Target is a DNS name (not an IP literal).
	IsName     bool
	SRV        []SRV
	Addrs      []netip.Addr
	ResolveErr string
	// Contacted is the address the OPTIONS went to.
	Contacted netip.AddrPort
	LocalAddr netip.AddrPort
	Answered  bool
	Status    int
	Reason    string
	RTT       time.Duration
	Attempts  int
	// Rport is the rport value the server wrote into our Via (0: none, the
	// server ignores RFC 3581); Received its received= value.
	Rport    int
	Received string
	Leaks    []Leak
	Server   string // Server or User-Agent header
	Err      string
}

// Timeouts: RFC 3261 §17.1.2.2 timer E starts at T1 = 500 ms and doubles;
// optionsGiveUp allows four sends. dnsTimeout bounds resolution: a resolver
// that needs longer will make every call set-up slow too.
const (
	sipT1         = 500 * time.Millisecond
	optionsGiveUp = 5 * time.Second
	dnsTimeout    = 3 * time.Second
)

var optionsSchedule = transact.Schedule{RTO: sipT1, Window: optionsGiveUp}

// Check resolves the server and pings it.
func Check(ctx context.Context, cfg Config) *Result {
	res := &Result{Target: cfg.Target}
	if err := resolve(ctx, cfg, res); err != nil {
		res.ResolveErr = err.Error()
		return res
	}
	ping(ctx, cfg, res)
	return res
}

// splitTarget parses host[:port]; the port is 0 when not given.
func splitTarget(t string) (string, int, error) {
	if ap, err := netip.ParseAddrPort(t); err == nil {
		return ap.Addr().String(), int(ap.Port()), nil
	}
	if a, err := netip.ParseAddr(strings.Trim(t, "[]")); err == nil {
		return a.String(), 0, nil
	}
	host, port, err := net.SplitHostPort(t)
	if err != nil {
		if strings.Contains(t, ":") {
			return "", 0, fmt.Errorf("sipserver: bad server %q", t)
		}
		return t, 0, nil
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535 {
		return "", 0, fmt.Errorf("sipserver: bad port in %q", t)
	}
	return host, p, nil
}

func resolve(ctx context.Context, cfg Config, res *Result) error {
	host, port, err := splitTarget(cfg.Target)
	if err != nil {
		return err
	}
	res.Host, res.Port = host, port
	if a, err := netip.ParseAddr(host); err == nil {
		res.Addrs = []netip.Addr{a.Unmap()}
		if res.Port == 0 {
			res.Port = 5060
		}
		return nil
	}
	res.IsName = true
	ctx, cancel := context.WithTimeout(ctx, dnsTimeout)
	defer cancel()
	r := cfg.Env.Resolver(cfg.DNSServer)
	lookup := host
	// RFC 3263 §4.2: without an explicit port, SRV decides host and port.
	if port == 0 {
		if _, srvs, err := r.LookupSRV(ctx, "sip", "udp", host); err == nil && len(srvs) > 0 {
			for _, s := range srvs {
				res.SRV = append(res.SRV, SRV{strings.TrimSuffix(s.Target, "."), s.Port, s.Priority, s.Weight})
			}
			lookup, res.Port = res.SRV[0].Target, int(res.SRV[0].Port)
		}
	}
	if res.Port == 0 {
		res.Port = 5060
	}
	addrs, err := r.LookupNetIP(ctx, "ip", lookup)
	if err != nil {
		return fmt.Errorf("sipserver: resolve %s: %w", lookup, err)
	}
	for _, a := range addrs {
		res.Addrs = append(res.Addrs, a.Unmap())
	}
	if len(res.Addrs) == 0 {
		return fmt.Errorf("sipserver: %s has no address", lookup)
	}
	return nil
}

func ping(ctx context.Context, cfg Config, res *Result) {
	dst := netip.AddrPortFrom(res.Addrs[0], uint16(res.Port))
	for _, a := range res.Addrs { // prefer IPv4: phones behind home NAT mostly use it
		if a.Is4() {
			dst = netip.AddrPortFrom(a, uint16(res.Port))
			break
		}
	}
	res.Contacted = dst
	network := "udp4"
	if dst.Addr().Is6() {
		network = "udp6"
	}
	c, err := cfg.Env.ListenUDP(network, &net.UDPAddr{Port: cfg.SIPPort})
	if err != nil {
		c, err = cfg.Env.ListenUDP(network, &net.UDPAddr{})
	}
	if err != nil {
		res.Err = fmt.Sprintf("udp socket: %v", err)
		return
	}
	defer c.Close()
	local := netip.AddrPortFrom(cfg.LocalAddr, uint16(c.LocalAddr().(*net.UDPAddr).Port))
	res.LocalAddr = local
	callID := transact.NewID()
	req := buildOptions(dst, local, callID)
	resp, st, err := transact.UDP(ctx, optionsSchedule, c, dst, req, func(d transact.Datagram) (*sip.Response, bool) {
		if d.From.Addr() != dst.Addr() {
			return nil, false
		}
		resp, ok := parseResponse(d.Data, callID)
		// A provisional answer: keep waiting for the final one.
		return resp, ok && resp.StatusCode >= 200
	})
	res.Attempts = st.Sends
	switch {
	case errors.Is(err, transact.ErrNoAnswer) || ctx.Err() != nil:
		return
	case err != nil:
		res.Err = err.Error()
		return
	}
	res.RTT = time.Since(st.First)
	res.Answered = true
	Inspect(resp, res)
}

func parseResponse(raw []byte, callID string) (*sip.Response, bool) {
	msg, err := sip.ParseMessage(raw)
	if err != nil {
		return nil, false
	}
	resp, ok := msg.(*sip.Response)
	if !ok || resp.CallID() == nil || resp.CallID().Value() != callID {
		return nil, false
	}
	return resp, true
}

// Inspect records what a final answer says: status, rport/received on our
// Via, the server's software, and private addresses it leaks.
func Inspect(resp *sip.Response, res *Result) {
	res.Status, res.Reason = resp.StatusCode, resp.Reason
	if v := resp.Via(); v != nil && v.Params != nil {
		if rp, ok := v.Params.Get("rport"); ok {
			res.Rport, _ = strconv.Atoi(rp)
		}
		res.Received, _ = v.Params.Get("received")
	}
	for _, name := range []string{"Server", "User-Agent"} {
		if h := resp.GetHeader(name); h != nil && res.Server == "" {
			res.Server = h.Value()
		}
	}
	res.Leaks = FindLeaks(resp)
}

// FindLeaks lists private addresses in the headers a server writes about
// itself (Contact, Record-Route, Vias below ours) and in its SDP (c=, o=).
func FindLeaks(resp *sip.Response) []Leak {
	var out []Leak
	vias := resp.GetHeaders("Via")
	for i, h := range vias {
		if i == 0 {
			continue // the top Via is ours, with our own private address
		}
		out = append(out, leaksIn("Via", h.Value())...)
	}
	for _, name := range []string{"Contact", "Record-Route"} {
		for _, h := range resp.GetHeaders(name) {
			out = append(out, leaksIn(name, h.Value())...)
		}
	}
	for _, line := range strings.Split(string(resp.Body()), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "c=") || strings.HasPrefix(line, "o=") {
			out = append(out, leaksIn("SDP "+line[:2], line)...)
		}
	}
	return out
}

// leaksIn finds private IPv4/IPv6 literals in a header value.
func leaksIn(where, value string) []Leak {
	var out []Leak
	for _, tok := range strings.FieldsFunc(value, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r == '.' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F' || r == ':')
	}) {
		a, ok := parseHostToken(tok)
		if ok && (a.IsPrivate() || isCGNAT(a) || a.IsLinkLocalUnicast()) {
			out = append(out, Leak{Where: where, Value: value, Addr: a})
		}
	}
	return out
}

func parseHostToken(tok string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(tok); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(tok); err == nil {
		return ap.Addr().Unmap(), true
	}
	// "sip:10.0.0.10:5060" leaves ":10.0.0.10:5060": an IPv4 literal
	// between colons.
	for _, piece := range strings.Split(tok, ":") {
		if strings.Count(piece, ".") == 3 {
			if a, err := netip.ParseAddr(piece); err == nil {
				return a, true
			}
		}
	}
	return netip.Addr{}, false
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

func isCGNAT(a netip.Addr) bool { return cgnat.Contains(a) }

// buildOptions is an out-of-dialog OPTIONS as a phone sends it to check its
// server (RFC 3261 §11), with rport (RFC 3581).
func buildOptions(dst, local netip.AddrPort, callID string) []byte {
	var b strings.Builder
	uri := "sip:" + dst.String()
	fmt.Fprintf(&b, "OPTIONS %s SIP/2.0\r\n", uri)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK-%s;rport\r\n", local, callID)
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:natdoc@%s>;tag=%s\r\n", local.Addr(), callID[:8])
	fmt.Fprintf(&b, "To: <%s>\r\n", uri)
	fmt.Fprintf(&b, "Call-ID: %s\r\n", callID)
	b.WriteString("CSeq: 1 OPTIONS\r\n")
	fmt.Fprintf(&b, "Contact: <sip:natdoc@%s>\r\n", local)
	b.WriteString("Accept: application/sdp\r\n")
	b.WriteString("User-Agent: natdoc diagnose\r\n")
	b.WriteString("Content-Length: 0\r\n\r\n")
	return []byte(b.String())
}
