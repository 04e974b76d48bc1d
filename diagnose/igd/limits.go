package igd

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// LimitOptions configure the limit test.
type LimitOptions struct {
	Proto     string // "UDP" (default) or "TCP"
	StartPort uint16 // first external (and internal) port tried
	Max       int    // stop after this many accepted mappings
	Lease     time.Duration
	// VerifyServer, when valid, proves each accepted mapping with an
	// inbound STUN packet (RFC 5780 RESPONSE-PORT).
	VerifyServer netip.AddrPort
	// Progress is called after each attempt (done attempts, Max).
	Progress func(done, max int)
}

// MappingResult is one mapping asked for, and what came of it.
type MappingResult struct {
	Request
	Via        string
	Accepted   bool
	ErrorCode  int // UPnP error code of a refusal
	Err        string
	External   netip.AddrPort
	ReadBack   *Entry // nil: absent on read-back, or not read back
	ReadBackOK Tri    // present and pointing at us
	Verify     *VerifyResult
}

// Tri is "not checked" / yes / no.
type Tri int8

const (
	Unknown Tri = iota
	Yes
	No
)

// LimitResult is what the limit test measured.
type LimitResult struct {
	Via      string
	Client   netip.Addr
	Proto    string
	Asked    int
	Accepted int
	Applied  int // present on read-back (UPnP only)
	ReadBack bool
	Verified int
	Verify   bool
	// Refusal is the attempt the router refused, ending the test; nil if
	// it accepted Max mappings.
	Refusal *MappingResult
	// Skipped are ports already in the router's table for another
	// mapping: natdoc does not touch them.
	Skipped   []uint16
	Conflicts int // 718: the port was held by another client
	Mappings  []MappingResult
	Notes     []string
	Removed   int
	RemoveErr string
	// Interrupted: the context ended before the test did.
	Interrupted bool
}

// Reached reports whether the test found the router's limit (it refused
// before Max).
func (r *LimitResult) Reached() bool { return r.Refusal != nil }

// Limits adds mappings one by one until the router refuses or Max are
// accepted, reads each back, optionally verifies each with a packet, and
// removes them all (also when ctx is cancelled).
func Limits(ctx context.Context, s *Session, opt Options, lo LimitOptions) (res *LimitResult, err error) {
	if lo.Proto == "" {
		lo.Proto = "UDP"
	}
	if lo.Max <= 0 || lo.StartPort == 0 {
		return nil, errors.New("limits: need Max > 0 and a start port")
	}
	res = &LimitResult{Via: s.Via(), Client: s.Client(), Proto: upnpProtocol(lo.Proto), Verify: lo.VerifyServer.IsValid()}
	defer func() {
		n, cerr := s.Close(ctx)
		res.Removed = n
		if cerr != nil {
			res.RemoveErr = cerr.Error()
		}
		res.Notes = s.Notes()
	}()
	occupied, err := occupiedPorts(ctx, s, res.Proto)
	if err != nil {
		return res, err
	}
	port := int(lo.StartPort)
	for res.Accepted < lo.Max && port <= 65535 {
		if ctx.Err() != nil {
			res.Interrupted = true
			return res, nil
		}
		p := uint16(port)
		port++
		if occupied[p] {
			res.Skipped = append(res.Skipped, p)
			continue
		}
		mr := attempt(ctx, s, opt, Request{Proto: res.Proto, ExternalPort: p, InternalPort: p, Lease: lo.Lease}, lo.VerifyServer)
		res.Asked++
		res.Mappings = append(res.Mappings, mr)
		if lo.Progress != nil {
			lo.Progress(res.Accepted+boolInt(mr.Accepted), lo.Max)
		}
		switch {
		case mr.Accepted:
			res.Accepted++
			res.ReadBack = res.ReadBack || mr.ReadBackOK != Unknown
			if mr.ReadBackOK == Yes {
				res.Applied++
			}
			if mr.Verify != nil && mr.Verify.Arrived {
				res.Verified++
			}
		case mr.ErrorCode == ErrConflictInMapping:
			res.Conflicts++ // another client holds it: not the limit
		case ctx.Err() != nil:
			res.Interrupted = true
			return res, nil
		default:
			res.Refusal = &res.Mappings[len(res.Mappings)-1]
			return res, nil
		}
	}
	return res, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// occupiedPorts lists the ports of proto already in a UPnP router's table:
// re-adding one of our own host's mappings would silently overwrite it
// (miniupnpd does), and deleting it afterwards would destroy what the user
// had. NAT-PMP and PCP cannot list; they key mappings by our address and
// internal port, so we cannot overwrite another host's.
func occupiedPorts(ctx context.Context, s *Session, proto string) (map[uint16]bool, error) {
	out := map[uint16]bool{}
	if s.gateway == nil {
		return out, nil
	}
	table, err := List(ctx, s.gateway)
	if err != nil {
		return nil, fmt.Errorf("limits: read the table first: %w", err)
	}
	for _, e := range table {
		if e.Proto == proto {
			out[e.ExternalPort] = true
		}
	}
	return out, nil
}

// attempt adds one mapping, reads it back and optionally verifies it.
func attempt(ctx context.Context, s *Session, opt Options, r Request, verify netip.AddrPort) MappingResult {
	mr := MappingResult{Request: r, Via: s.Via()}
	m, err := s.Map(ctx, r)
	if err != nil {
		mr.Err, mr.ErrorCode = err.Error(), ErrorCode(err)
		var pe *PCPError
		if errors.As(err, &pe) {
			mr.ErrorCode = pe.Code
		}
		return mr
	}
	mr.Accepted, mr.External = true, m.External()
	mr.ReadBackOK = checkReadBack(ctx, s, &mr)
	if verify.IsValid() {
		v := Verify(ctx, opt, verify, m.External().Port(), r.InternalPort)
		mr.Verify = &v
	}
	return mr
}

// checkReadBack fills mr.ReadBack and says whether the router really
// holds the mapping as asked.
func checkReadBack(ctx context.Context, s *Session, mr *MappingResult) Tri {
	e, can, err := s.ReadBack(ctx, mr.Proto, mr.ExternalPort)
	switch {
	case !can:
		return Unknown
	case err != nil:
		mr.Err = err.Error()
		return Unknown
	case e == nil:
		return No
	}
	mr.ReadBack = e
	if e.InternalClient != s.Client().String() || e.InternalPort != mr.InternalPort {
		return No
	}
	return Yes
}
