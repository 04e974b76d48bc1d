package stunprobe

import (
	"net/netip"
	"time"

	"github.com/natdoc/natdoc/report"
)

// Result is what one probe run observed: plain facts, one per field.
// Interpretation (findings, the verdict) is done by pure functions on it.
type Result struct {
	Network string // "udp4" or "udp6"
	// Local is the main probe socket: the address the route to the first
	// server uses and the bound port (the user's --local-port, or one the
	// kernel chose).
	Local   netip.AddrPort
	Servers []ServerResult // in the order given, all asked from Local
	// RFC5780 is the server used for the mapping and filtering tests (the
	// first to answer with a usable OTHER-ADDRESS); zero when none did.
	RFC5780   netip.AddrPort
	Mapping   MappingResult
	Filtering FilteringResult
	Hairpin   HairpinResult
	// RefusedFirst: whether a packet the NAT refused moves the mapping the
	// local socket's own packet to that peer then gets (nil: not run; it
	// runs when the mapping is endpoint-independent and the filter is not).
	RefusedFirst *RefusedFirstResult
	Lifetime     *LifetimeResult // nil: not asked for (--lifetime)
	TCP          *ServerResult   // nil: not asked for; a Binding over TCP
	// Anomalies counts datagrams not believed: malformed, bad FINGERPRINT,
	// from an unexpected source, of an unknown transaction.
	Anomalies []report.Anomaly
	Took      time.Duration
}

// ServerResult is what one server answered to a plain Binding request.
type ServerResult struct {
	Server   string         // as the user named it
	Addr     netip.AddrPort // as resolved
	Mapped   netip.AddrPort // zero: no answer
	Other    netip.AddrPort // OTHER-ADDRESS
	Origin   netip.AddrPort // RESPONSE-ORIGIN
	Software string
	RTT      time.Duration
	Sent     int    // datagrams sent, retransmissions included
	Err      string // why there is no answer
}

// Answered reports whether the server gave a mapped address.
func (s ServerResult) Answered() bool { return s.Mapped.IsValid() }

// MappingResult holds the RFC 5780 §4.3 tests: the mapped address seen by
// the primary address (test I), the alternate IP at the primary port (II)
// and the alternate IP and port (III). Zero addresses: not run or no answer.
type MappingResult struct {
	Test1, Test2, Test3 netip.AddrPort
	Behaviour           report.Behaviour
	Note                string // why the behaviour is unknown
}

// Outcome is what one filtering test saw.
type Outcome string

const (
	OutcomeNotRun   Outcome = ""
	OutcomeAnswered Outcome = "answered" // from the changed address, verified
	OutcomeNoAnswer Outcome = "no-answer"
	// OutcomeUnchanged: the server answered a CHANGE-REQUEST from the
	// address it was sent to, so the test proves nothing (a one-address
	// server faking RFC 5780).
	OutcomeUnchanged Outcome = "answered-unchanged"
	OutcomeError     Outcome = "error"
)

// FilteringResult holds the RFC 5780 §4.4 tests on a socket that has only
// talked to the servers' primary addresses.
type FilteringResult struct {
	ChangeIPAndPort Outcome // test II
	ChangePort      Outcome // test III
	// ControlAfter: a plain request answered after the negative tests, so a
	// silence was the NAT's filter, not a dead server or path.
	ControlAfter bool
	Behaviour    report.Behaviour
	Note         string
}

// HairpinResult is the RFC 5780 §4.5 test: a second local socket sends to
// the main socket's public mapping.
type HairpinResult struct {
	Works report.Tri
	From  netip.AddrPort // source of the hairpinned packet as received
	Note  string
}

// RefusedFirstResult is the test of a NAT that keeps one mapping for every
// destination but filters: on a fresh socket, Before is the mapping the
// RFC 5780 server's primary address saw; the server's alternate address
// then answered a CHANGE-REQUEST, which the filter should refuse; After
// is the mapping the alternate address saw when the socket sent to it. A
// NAT that keeps the port the refused packet came to for that peer (Linux
// conntrack) gives the socket's own packet another: so does a phone's
// media when the far end's (early media) reaches the NAT first.
type RefusedFirstResult struct {
	Local         netip.AddrPort // the fresh socket
	Before, After netip.AddrPort // zero: no answer
	Other         netip.AddrPort // the alternate address
	// Refused: the alternate address's answer did not arrive, and a plain
	// request to the primary address was answered after it.
	Refused bool
	Note    string // why the test says nothing
}

// Moved reports whether the refused packet moved the mapping.
func (r *RefusedFirstResult) Moved() bool {
	return r != nil && r.Refused && r.Before.IsValid() && r.After.IsValid() && r.After != r.Before
}

// LifetimeResult brackets how long an idle UDP mapping survives (RFC 5780
// §4.6): alive after Min of silence, gone after Max (zero Max: alive after
// the longest idle time tried).
type LifetimeResult struct {
	Min, Max time.Duration
	Trials   []LifetimeTrial
	Note     string
}

// LifetimeTrial is one idle mapping probed from outside after Idle.
type LifetimeTrial struct {
	Idle  time.Duration
	Alive bool
}
