package proxy

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/natdoc/natdoc/diagnose/sipalg"
)

// Registration limits, each with its reason.
const (
	// defaultExpires when a REGISTER names none (RFC 3261 §10.2.1.1 lets
	// the registrar choose); 3600 s is what most phones ask for.
	defaultExpires = 3600 * time.Second
	// maxExpires caps what a phone may ask; NAT keepalive does the rest.
	maxExpires = 3600 * time.Second
	// minExpires: below this a phone re-registers so often it floods us
	// (RFC 3261 §10.3 step 7 allows 423 Interval Too Brief).
	minExpires = 60 * time.Second
)

// Binding is one registered user: where its Contact says it is and where
// its REGISTER really came from. Requests go to Source (RFC 3581 §4: the
// NAT's public mapping), not to a private Contact.
type Binding struct {
	User      string
	Contact   sip.Uri
	Source    netip.AddrPort
	Transport string
	UserAgent string
	Expires   time.Time
	// LAN: the source is inside a --lan prefix, so the additional (local)
	// address is the one to give this peer.
	LAN bool
}

// registrar holds bindings, bounded in number.
type registrar struct {
	mu       sync.Mutex
	bindings map[string]*Binding
	max      int
}

func newRegistrar(max int) *registrar {
	return &registrar{bindings: make(map[string]*Binding), max: max}
}

// put stores b, replacing the user's old binding (no forking). It reports
// false when the table is full.
func (r *registrar) put(b *Binding) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.bindings[b.User]; !ok && len(r.bindings) >= r.max {
		return false
	}
	r.bindings[b.User] = b
	return true
}

func (r *registrar) remove(user string) {
	r.mu.Lock()
	delete(r.bindings, user)
	r.mu.Unlock()
}

func (r *registrar) lookup(user string, now time.Time) (Binding, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.bindings[user]
	if !ok || now.After(b.Expires) {
		return Binding{}, false
	}
	return *b, true
}

// expire drops bindings past their expiry and returns the rest.
func (r *registrar) expire(now time.Time) []Binding {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Binding, 0, len(r.bindings))
	for u, b := range r.bindings {
		if now.After(b.Expires) {
			delete(r.bindings, u)
			continue
		}
		out = append(out, *b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].User < out[j].User })
	return out
}

func (s *Server) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	s.Counters.Requests.Add(1)
	s.Counters.Registers.Add(1)
	src := sourceOf(req)
	authUser, ok := s.authorize(req, tx, src)
	if !ok {
		return
	}
	to := req.To()
	if to == nil || to.Address.User == "" {
		s.respond(tx, req, 400, "Bad Request: no user in To")
		return
	}
	user := to.Address.User
	if (authUser != "" && authUser != user) || (s.cfg.Echo && user == EchoUser) || (s.cfg.Mirror != nil && user == sipalg.MirrorUser) {
		s.Counters.Forbidden.Add(1)
		s.respond(tx, req, 403, "Forbidden")
		return
	}
	contact := req.Contact()
	if contact == nil {
		s.respond(tx, req, 200, "OK") // a query (RFC 3261 §10.2.3)
		return
	}
	exp, ok := requestedExpiry(req, contact)
	if !ok {
		s.respond(tx, req, 400, "Bad Request: expires")
		return
	}
	if exp == 0 || contact.Address.Wildcard {
		s.reg.remove(user)
		s.respond(tx, req, 200, "OK")
		s.event(Event{Kind: "unregister", User: user, Addr: src.String()})
		return
	}
	if exp < minExpires {
		res := sip.NewResponseFromRequest(req, 423, "Interval Too Brief", nil)
		res.AppendHeader(sip.NewHeader("Min-Expires", strconv.Itoa(int(minExpires.Seconds()))))
		s.send(tx, req, res)
		return
	}
	exp = min(exp, maxExpires)
	b := &Binding{User: user, Contact: *contact.Address.Clone(), Source: src, Transport: req.Transport(),
		Expires: s.cfg.Now().Add(exp), LAN: s.inLAN(src.Addr())}
	if h := req.GetHeader("User-Agent"); h != nil {
		b.UserAgent = h.Value()
	}
	if !s.reg.put(b) {
		s.respond(tx, req, 503, "Service Unavailable: registration table full")
		return
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	c := contact.Clone()
	c.Params.Add("expires", strconv.Itoa(int(exp.Seconds())))
	res.AppendHeader(c)
	s.send(tx, req, res)
	detail := contactDetail(contact.Address, src)
	if a, ok := s.nat64.addrOf(src, s.publicIP()); ok {
		detail += fmt.Sprintf("; through NAT64: given this server at %s", a)
	}
	s.event(Event{Kind: "register", User: user, Addr: src.String(), Detail: detail})
}

// contactDetail says whether the Contact differs from the real source,
// the first sign of a NATed phone.
func contactDetail(c sip.Uri, src netip.AddrPort) string {
	port := c.Port
	if port == 0 {
		port = 5060
	}
	if c.Host == src.Addr().String() && port == int(src.Port()) {
		return "contact matches source"
	}
	return fmt.Sprintf("contact %s:%d differs from source %s: behind NAT, requests go to the source", c.Host, port, src)
}

// keepalive pings every registered phone from the SIP socket so its NAT
// binding stays open, and drops expired bindings.
func (s *Server) keepalive(ctx context.Context) {
	every(ctx, s.cfg.Keepalive, func() {
		for _, b := range s.reg.expire(s.cfg.Now()) {
			s.ping(b)
		}
	})
}

// ping sends an out-of-dialog OPTIONS without a transaction: the answer
// does not matter, the packet through the NAT does.
func (s *Server) ping(b Binding) {
	req := sip.NewRequest(sip.OPTIONS, b.Contact)
	host, _ := s.addrFor(b.Source)
	req.AppendHeader(&sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: b.Transport, Host: host, Port: s.portFor(b.Source.Addr()),
		Params: sip.HeaderParams{{K: "branch", V: sip.GenerateBranchN(16)}, {K: "rport", V: ""}}})
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "natdoc", Host: host}, Params: sip.HeaderParams{{K: "tag", V: sip.GenerateTagN(10)}}}
	to := &sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: b.User, Host: host}}
	callID := sip.CallIDHeader(sip.GenerateTagN(16))
	maxf := sip.MaxForwardsHeader(70)
	for _, h := range []sip.Header{from, to, &callID, &sip.CSeqHeader{SeqNo: 1, MethodName: sip.OPTIONS}, &maxf} {
		req.AppendHeader(h)
	}
	req.SetBody(nil)
	req.SetTransport(b.Transport)
	req.SetDestination(b.Source.String())
	if err := s.client.WriteRequest(req, s.fromListener); err != nil {
		s.cfg.Log.Debug("keepalive", "user", b.User, "err", err)
	}
}

// Registrations returns the live bindings.
func (s *Server) Registrations() []Binding { return s.reg.expire(s.cfg.Now()) }

// requestedExpiry reads the expiry a REGISTER asks for: the Contact's
// expires parameter, else the Expires header, else the default (RFC 3261
// §10.3 step 6).
func requestedExpiry(req *sip.Request, c *sip.ContactHeader) (time.Duration, bool) {
	if v, ok := c.Params.Get("expires"); ok {
		return parseSeconds(v)
	}
	if h := req.GetHeader("Expires"); h != nil {
		return parseSeconds(h.Value())
	}
	return defaultExpires, true
}

func parseSeconds(v string) (time.Duration, bool) {
	n := 0
	if v == "" || len(v) > 10 {
		return 0, false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return time.Duration(n) * time.Second, true
}
