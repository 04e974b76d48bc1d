package igd

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// Session adds mappings through one protocol and remembers them, journal
// first, so that Close (or Cleanup after a crash) can remove them.
type Session struct {
	m       mapper
	journal *Journal
	gateway *Gateway // UPnP only: for read-back
	// listGateway is the UPnP IGD on the same router, when a PCP or
	// NAT-PMP session has one: its table shows what natdoc must not touch.
	listGateway *Gateway
	client      netip.Addr
	log         func(msg string, args ...any)

	// op serialises the renewal of one held mapping with its release, so
	// a renewal never re-creates a mapping just deleted.
	op    sync.Mutex
	mu    sync.Mutex
	held  []held
	notes []string // quirks met on the way (lease retries)
}

type held struct {
	m       mapping
	entryID string
}

// Via names the protocol the session uses: "upnp-igd1", "upnp-igd2",
// "nat-pmp" or "pcp".
func (s *Session) Via() string { return s.m.via() }

// Client is the internal client address natdoc maps to (this host).
func (s *Session) Client() netip.Addr { return s.client }

// Gateway is the UPnP gateway in use, nil for NAT-PMP and PCP.
func (s *Session) Gateway() *Gateway { return s.gateway }

// Protocols natdoc can map with, for Options-level choice.
const (
	ViaAuto   = "auto"
	ViaUPnP   = "upnp"
	ViaNATPMP = "nat-pmp"
	ViaPCP    = "pcp"
)

// ErrNoMapper means nothing on the network offered the chosen protocol.
var ErrNoMapper = errors.New("no port-mapping service answered")

// NewSession picks the protocol: via "auto" takes the chosen UPnP IGD,
// else PCP, else NAT-PMP (the order tailscale's portmapper prefers too:
// UPnP tables can be read back, PCP carries a nonce for safe deletes).
func NewSession(d *Discovery, opt Options, via string, j *Journal) (*Session, error) {
	s := &Session{journal: j, log: opt.log().Info}
	g := d.Best()
	switch {
	case (via == ViaAuto || via == ViaUPnP) && g != nil:
		s.client = LocalAddrToward(g)
		if !s.client.IsValid() {
			return nil, fmt.Errorf("upnp: no local address toward %v", g.host)
		}
		s.m, s.gateway = &upnpMapper{g: g, client: s.client}, g
	case (via == ViaAuto || via == ViaPCP) && d.PCP.Answered:
		s.client, s.listGateway = d.localToward(d.PCP.Gateway), d.upnpAt(d.PCP.Gateway)
		s.m = &pcpMapper{opt: &opt, gw: d.PCP.Gateway, client: s.client, nonce: newNonce()}
	case (via == ViaAuto || via == ViaNATPMP) && d.NATPMP.Answered:
		s.client, s.listGateway = d.localToward(d.NATPMP.Gateway), d.upnpAt(d.NATPMP.Gateway)
		s.m = &natpmpMapper{env: opt.Env, gw: d.NATPMP.Gateway}
	default:
		return nil, fmt.Errorf("%s: %w", via, ErrNoMapper)
	}
	return s, nil
}

// Map adds one mapping: journal entry first, then the router. Lease
// quirks are handled here: a router that only takes permanent leases
// (725) gets lease 0, a router that refuses lease 0 gets one hour.
func (s *Session) Map(ctx context.Context, r Request) (mapping, error) {
	entry, err := s.journal.recordAdd(s.m.journalFields(r))
	if err != nil {
		return nil, err
	}
	m, err := s.m.add(ctx, r, entry)
	if err != nil {
		if retry, note := leaseRetry(r, err); retry != nil {
			s.note(note)
			m, err = s.m.add(ctx, *retry, entry)
		}
	}
	if err == nil && entry.AnyPort {
		err = s.journal.recordPort(entry.ID, m.External().Port())
		if err != nil {
			// Without the port on disk a crash could not undo it.
			m.Release(ctx)
			m = nil
		}
	}
	if err != nil {
		// A refusal made nothing. Any other error (timeout) may have made
		// the mapping anyway: keep the entry for Cleanup, which checks.
		if RefusalCode(err) != 0 {
			s.journal.recordDone(entry.ID)
		} else {
			s.mu.Lock()
			s.held = append(s.held, held{m: s.m.uncertain(r), entryID: entry.ID})
			s.mu.Unlock()
		}
		return nil, err
	}
	s.mu.Lock()
	s.held = append(s.held, held{m: m, entryID: entry.ID})
	s.mu.Unlock()
	return m, nil
}

// leaseRetry decides whether a refused AddPortMapping is a lease quirk
// worth one retry, and with what.
func leaseRetry(r Request, err error) (*Request, string) {
	switch code := ErrorCode(err); {
	case code == ErrOnlyPermanentLeases && r.Lease != 0:
		// UPnP IGD v1 §2.4.16: 725 OnlyPermanentLeasesSupported.
		r.Lease = 0
		return &r, "router supports only permanent leases (725); retried with lease 0"
	case r.Lease == 0 && (code == ErrInvalidArgs || code == ErrActionFailed):
		// IGDv2 forbids lease 0 (WANIPConnection:2 §2.3.16) and some
		// v1 firmware refuses it too; ask for one hour instead.
		r.Lease = time.Hour
		return &r, fmt.Sprintf("router refused a permanent lease (%d); retried with 3600 s", code)
	}
	return nil, ""
}

func (s *Session) note(n string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.notes {
		if x == n {
			return
		}
	}
	s.notes = append(s.notes, n)
}

// Notes are the quirks met while mapping.
func (s *Session) Notes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.notes...)
}

// ReadBack reads one mapping back from a UPnP router; (nil, false, nil)
// when the protocol cannot read back.
func (s *Session) ReadBack(ctx context.Context, proto string, port uint16) (*Entry, bool, error) {
	if s.gateway == nil {
		return nil, false, nil
	}
	e, err := readBack(ctx, s.gateway.wan, proto, port)
	return e, true, err
}

// Release removes one held mapping and marks it done in the journal.
func (s *Session) Release(ctx context.Context, m mapping) error {
	s.op.Lock()
	defer s.op.Unlock()
	if s.indexOf(m) < 0 {
		return errors.New("release: not a mapping of this session")
	}
	relErr := m.Release(ctx)
	if relErr != nil && !errors.Is(relErr, errNotOurs) && !errors.Is(relErr, errAlreadyGone) {
		return relErr
	}
	s.mu.Lock()
	idx := s.indexLocked(m)
	id := s.held[idx].entryID
	s.held = append(s.held[:idx], s.held[idx+1:]...)
	s.mu.Unlock()
	if err := s.journal.recordDone(id); err != nil {
		return err
	}
	return relErr // errNotOurs, errAlreadyGone: nothing of ours is left there
}

// indexOf is m's place in held, -1 when the session does not hold it.
func (s *Session) indexOf(m mapping) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.indexLocked(m)
}

func (s *Session) indexLocked(m mapping) int {
	for i, h := range s.held {
		if h.m == m {
			return i
		}
	}
	return -1
}

// Close releases every mapping the session still holds, newest first. It
// runs with its own deadline even when ctx was cancelled (Ctrl-C), because
// leaving the router as it was is the point. It returns how many were
// removed and the errors of the others.
func (s *Session) Close(ctx context.Context) (removed int, err error) {
	s.mu.Lock()
	budget := min(max(deleteTimeout, time.Duration(len(s.held))*deletePerMapping), deleteTimeoutMax)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), budget)
	defer cancel()
	var errs []error
	for {
		s.mu.Lock()
		if len(s.held) == 0 {
			s.mu.Unlock()
			break
		}
		h := s.held[len(s.held)-1]
		s.mu.Unlock()
		e := s.Release(ctx, h.m)
		if errors.Is(e, errNotOurs) || errors.Is(e, errAlreadyGone) {
			continue // nothing of ours there (someone else's mapping is left alone)
		}
		if e != nil {
			errs = append(errs, e)
			s.mu.Lock()
			s.held = s.held[:len(s.held)-1] // stays in the journal for Cleanup
			s.mu.Unlock()
			continue
		}
		removed++
	}
	if len(errs) == 0 {
		s.journal.Compact()
	}
	return removed, errors.Join(errs...)
}

// Renew asks again for every mapping the session holds, with the same
// external ports, so their leases start over (serve --upnp runs it before
// they run out). A mapping released meanwhile is not asked for again.
func (s *Session) Renew(ctx context.Context) error {
	s.mu.Lock()
	hs := append([]held(nil), s.held...)
	s.mu.Unlock()
	var errs []error
	for _, h := range hs {
		if err := s.renewOne(ctx, h.m); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Session) renewOne(ctx context.Context, m mapping) error {
	s.op.Lock()
	defer s.op.Unlock()
	if s.indexOf(m) < 0 {
		return nil
	}
	return m.renew(ctx)
}

// NextExpiry is when the first held mapping's lease runs out (zero: none
// does).
func (s *Session) NextExpiry() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first time.Time
	for _, h := range s.held {
		if u := h.m.GoodUntil(); !u.IsZero() && (first.IsZero() || u.Before(first)) {
			first = u
		}
	}
	return first
}

// Keep forgets the held mappings without removing them (`upnp map`
// without --for): they stay in the journal for `unmap` and `cleanup`.
func (s *Session) Keep() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, h := range s.held {
		errs = append(errs, s.journal.recordKeep(h.entryID))
	}
	s.held = nil
	return errors.Join(errs...)
}
