package report

import "time"

// Binding is one registration a capture shows (natdoc analyze): an
// address of record's Contact at a registrar (RFC 3261 §10), from one
// source address, and how it stood when the capture ended. A phone that
// "won't register" or "can't be called" shows here first.
type Binding struct {
	AOR     string `json:"aor"`     // the To's user@host
	Contact string `json:"contact"` // as the phone wrote it
	// From is where its (last) REGISTERs came from, as captured; SeenAs the
	// public address the registrar saw them from (the source, or the
	// received= of its answer), when that is known.
	From   string `json:"from"`
	SeenAs string `json:"seen_as,omitempty"`
	// EarlierMappings are the public addresses the registrar saw this
	// Contact's REGISTERs come from before, in order: mappings the phone's
	// NAT dropped while it was registered (registration-outlives-nat).
	EarlierMappings []string `json:"earlier_mappings,omitempty"`
	BehindNAT       bool     `json:"behind_nat,omitempty"` // a private Contact seen from a public address
	Registrar       string   `json:"registrar"`
	Transport       string   `json:"transport,omitempty"`
	UserAgent       string   `json:"user_agent,omitempty"`
	// Scanner: the User-Agent is a SIP scanning tool's (sipvicious and
	// its kin, guessing accounts and passwords), not a phone's.
	Scanner bool `json:"scanner,omitempty"`

	Outcome BindingOutcome `json:"outcome"`
	// Status and Reason are the last final answer's.
	Status int    `json:"status,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Expires is what the last 200 OK granted; Until when it ran out.
	Expires time.Duration `json:"expires_ns,omitempty"`
	Until   time.Time     `json:"until,omitzero"`
	// Requests counts the REGISTERs (resends too), Accepted the 200 OKs
	// that registered it (a second or more apart); UnansweredAfter the
	// REGISTERs sent after the last final answer that got none.
	Requests        int `json:"requests"`
	Accepted        int `json:"accepted,omitempty"`
	UnansweredAfter int `json:"unanswered_after,omitempty"`

	First      time.Time `json:"first"`
	Last       time.Time `json:"last"`
	FirstFrame uint64    `json:"first_frame"`
	LastFrame  uint64    `json:"last_frame"`
	// Findings name the report's findings about it; Problem says one of
	// them is a warning or an error.
	Findings []FindingID `json:"findings,omitempty"`
	Problem  bool        `json:"problem,omitempty"`
}

// BindingOutcome is how a registration stood when the capture ended.
type BindingOutcome string

const (
	// BindingRegistered: the last answer was a 200 OK whose time had not
	// run out.
	BindingRegistered BindingOutcome = "registered"
	// BindingExpired: registered, but its time ran out within the capture
	// and no renewal came.
	BindingExpired BindingOutcome = "expired"
	// BindingRemoved: the phone removed it (Expires 0) and the registrar
	// confirmed.
	BindingRemoved BindingOutcome = "removed"
	// BindingRefused: the last final answer refused it (403, 404, 5xx,
	// credentials challenged again).
	BindingRefused BindingOutcome = "refused"
	// BindingChallenged: the registrar asked for credentials and the
	// phone sent none after.
	BindingChallenged BindingOutcome = "challenged"
	// BindingUnanswered: no response at all came to its REGISTERs.
	BindingUnanswered BindingOutcome = "unanswered"
	// BindingNoFinal: only provisional responses came.
	BindingNoFinal BindingOutcome = "no-final-response"
)

// bindingOutcomes orders the outcomes in summaries.
var bindingOutcomes = []BindingOutcome{BindingRegistered, BindingExpired, BindingRemoved, BindingRefused,
	BindingChallenged, BindingUnanswered, BindingNoFinal}
