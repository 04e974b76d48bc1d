package capture

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v3"
)

// iceCheck builds a Binding request, a connectivity check when check is
// set (PRIORITY and ICE-CONTROLLING), else a plain STUN request.
func iceCheck(t testing.TB, id byte, check bool) []byte {
	t.Helper()
	setters := []stun.Setter{stun.NewTransactionIDSetter([stun.TransactionIDSize]byte{id}), stun.BindingRequest, stun.NewUsername("a:b")}
	if check {
		setters = append(setters, stun.RawAttribute{Type: stun.AttrPriority, Value: []byte{0x6e, 0, 0x1e, 0xff}},
			stun.RawAttribute{Type: stun.AttrICEControlling, Value: make([]byte, 8)})
	}
	return stun.MustBuild(setters...).Raw
}

func iceAnswer(t testing.TB, id byte) []byte {
	t.Helper()
	return stun.MustBuild(stun.NewTransactionIDSetter([stun.TransactionIDSize]byte{id}), stun.BindingSuccess).Raw
}

// TestICEChecksCounted: connectivity checks count per pair, an answer
// only when it answers one of them (by transaction ID); a plain STUN
// request (a phone asking a server for its mapping) is no check; idle
// pairs are forgotten.
func TestICEChecksCounted(t *testing.T) {
	a, b, srv := netip.MustParseAddrPort("203.0.113.1:10000"), netip.MustParseAddrPort("198.51.100.20:30000"), netip.MustParseAddrPort("198.51.100.9:3478")
	var c iceChecks
	sink := countingSink{}
	at := time.Unix(100, 0)
	send := func(src, dst netip.AddrPort, payload []byte) bool {
		return c.observe(&packet{Src: src, Dst: dst, Payload: payload, Frame: 1, Time: at}, sink)
	}
	if send(a, srv, iceCheck(t, 1, false)) || send(srv, a, iceAnswer(t, 1)) {
		t.Error("a plain STUN request and its answer counted as ICE")
	}
	for id := byte(2); id < 5; id++ {
		if !send(a, b, iceCheck(t, id, true)) {
			t.Fatal("a connectivity check not counted")
		}
	}
	send(b, a, iceAnswer(t, 3))
	send(b, a, iceAnswer(t, 9)) // answers nothing sent
	got := c.toward([]netip.AddrPort{b})
	if got.requests != 3 || got.answers != 1 || len(got.pairs) != 1 || !strings.Contains(got.pairs[0], "203.0.113.1:10000 → 198.51.100.20:30000") {
		t.Errorf("%+v; want 3 requests, 1 answer", got)
	}
	c.prune(at.Add(time.Second))
	if len(c.pairs) != 0 {
		t.Errorf("%d pairs kept past their idle time", len(c.pairs))
	}
	// Bounded, reported once.
	for i := range maxICEPairs + 5 {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 5000)
		send(src, b, iceCheck(t, 1, true))
	}
	if len(c.pairs) != maxICEPairs || sink["ice-pairs-over-limit"] != 1 {
		t.Errorf("%d pairs, anomalies %v", len(c.pairs), sink)
	}
}

// TestICEChecksRefused: error responses on a pair count as refusals,
// with the first one's code and reason, whatever their transaction ID
// (Linphone refuses with one of its own); a role conflict (487) is part
// of ICE, no refusal; a check from an address to itself (the far end's
// candidate is the checking host's own address too) is noted as looped.
func TestICEChecksRefused(t *testing.T) {
	self := netip.MustParseAddrPort("192.168.56.1:7078")
	var c iceChecks
	at := time.Unix(100, 0)
	send := func(payload []byte) {
		c.observe(&packet{Src: self, Dst: self, Payload: payload, Frame: 1, Time: at}, countingSink{})
	}
	refuse := func(id byte, code stun.ErrorCode, reason string) []byte {
		return stun.MustBuild(stun.NewTransactionIDSetter([stun.TransactionIDSize]byte{id}), stun.BindingError,
			&stun.ErrorCodeAttribute{Code: code, Reason: []byte(reason)}).Raw
	}
	send(iceCheck(t, 1, true))
	send(refuse(1, stun.CodeRoleConflict, "Role Conflict"))
	send(iceCheck(t, 2, true))
	send(refuse(7, stun.CodeUnauthorized, "Wrong MESSAGE-INTEGRITY\x1b[31m"))
	got := c.toward([]netip.AddrPort{self})
	if got.requests != 2 || got.answers != 0 || got.refused != 1 || got.refusal != "401 Wrong MESSAGE-INTEGRITY [31m" ||
		len(got.looped) != 1 || !got.loopedOnly() {
		t.Errorf("%+v; want 2 checks, 1 refused with 401, looped", got)
	}
}

// FuzzICEObserve reads arbitrary datagrams as possible checks and answers.
func FuzzICEObserve(f *testing.F) {
	f.Add(iceCheck(f, 1, true), true)
	f.Add(iceAnswer(f, 1), false)
	f.Add(iceCheck(f, 2, false), true)
	f.Add(stun.MustBuild(stun.NewTransactionIDSetter([stun.TransactionIDSize]byte{7}), stun.BindingError,
		&stun.ErrorCodeAttribute{Code: stun.CodeUnauthorized, Reason: []byte("Wrong MESSAGE-INTEGRITY attribute")}).Raw, false)
	f.Fuzz(func(t *testing.T, b []byte, request bool) {
		var c iceChecks
		a, z := netip.MustParseAddrPort("203.0.113.1:10000"), netip.MustParseAddrPort("198.51.100.20:30000")
		c.observe(&packet{Src: a, Dst: z, Payload: iceCheck(t, 1, true)}, countingSink{})
		if !request {
			a, z = z, a
		}
		c.observe(&packet{Src: a, Dst: z, Payload: b}, countingSink{})
		if len(c.pairs) > 2 {
			t.Fatalf("%d pairs from two datagrams", len(c.pairs))
		}
	})
}
