package capture

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/natdoc/natdoc/report"
)

// regScript plays one phone's registrations: REGISTERs and their answers
// between one phone address and one registrar, a frame each.
type regScript struct {
	t                *testing.T
	r                *registrations
	phone, registrar netip.AddrPort
	contact          netip.AddrPort
	t0               time.Time
	frame            uint64
}

func newRegScript(t *testing.T) *regScript {
	return &regScript{t: t, r: newRegistrations(),
		phone:     netip.MustParseAddrPort("203.0.113.1:40000"),
		registrar: netip.MustParseAddrPort("198.51.100.20:5060"),
		contact:   netip.MustParseAddrPort("192.168.1.10:5060"),
		t0:        time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
}

// register sends a REGISTER of user (Call-ID user, CSeq cseq) at after.
func (s *regScript) register(user string, cseq uint32, expires int, authorized bool, after time.Duration) {
	s.frame++
	s.r.sip(&sipInfo{sipHeaders: &sipHeaders{Request: true, Method: "REGISTER", ContactAddr: s.contact, Contact: s.contact.String(),
		Expires: expires, ToUser: user, ToHost: "example.org", CallID: user, CSeq: cseq, Authorized: authorized},
		Src: s.phone, Dst: s.registrar, Frame: s.frame, Transport: "UDP"}, s.t0.Add(after))
}

// answer answers user's REGISTER cseq with status at after; a 200 OK
// grants expires and marks the Contact fixed.
func (s *regScript) answer(user string, cseq uint32, status, expires int, after time.Duration) {
	s.frame++
	h := &sipHeaders{Method: "REGISTER", Status: status, Reason: "Reason", Expires: -1, CallID: user, CSeq: cseq}
	if status == 200 {
		h.Expires = expires
		h.extra = &sipExtras{Contacts: []contactBinding{{Addr: s.contact, Fixed: true, Expires: expires}}}
	}
	s.r.sip(&sipInfo{sipHeaders: h, Src: s.registrar, Dst: s.phone, Frame: s.frame}, s.t0.Add(after))
}

// TestBindingsPerAccount: a phone with three accounts registers them over
// one path (one socket, one Contact, one NAT mapping). Each account is its
// own binding: one refused, one registered (its removal refused leaves it
// so), one never answered. Kept under one key, the registered account's
// 200 OK hid the other's refusal (the zeek capture of a Nero SIPPS phone).
func TestBindingsPerAccount(t *testing.T) {
	s := newRegScript(t)
	s.register("100", 1, 3600, false, 0)
	s.answer("100", 1, 401, 0, 10*time.Millisecond)
	s.register("100", 2, 3600, true, 20*time.Millisecond)
	s.answer("100", 2, 403, 0, 30*time.Millisecond)
	s.register("200", 1, 3600, false, time.Second)
	s.answer("200", 1, 200, 3600, time.Second+10*time.Millisecond)
	s.register("200", 2, 0, false, 2*time.Second) // removal, challenged, never sent again
	s.answer("200", 2, 401, 0, 2*time.Second+10*time.Millisecond)
	for i := range 3 {
		s.register("300", 1, 3600, false, 3*time.Second+time.Duration(i)*4*time.Second)
	}
	end := s.t0.Add(time.Minute)
	fs := s.r.findings(end, hostView{}, nil)
	var got []string
	for _, f := range fs {
		got = append(got, string(f.ID)+":"+f.Subject)
	}
	want := []string{"register-unanswered:300", "register-refused:100"}
	if !slices.Equal(got, want) {
		t.Errorf("findings %v, want %v", got, want)
	}
	rows := s.r.table(end)
	type outcome struct {
		aor      string
		outcome  report.BindingOutcome
		status   int
		requests int
		problem  bool
	}
	var gotRows []outcome
	for _, b := range rows {
		gotRows = append(gotRows, outcome{b.AOR, b.Outcome, b.Status, b.Requests, b.Problem})
	}
	wantRows := []outcome{
		{"100@example.org", report.BindingRefused, 403, 2, true},
		{"200@example.org", report.BindingRegistered, 200, 1, false},
		{"300@example.org", report.BindingUnanswered, 0, 3, true},
	}
	if !slices.Equal(gotRows, wantRows) {
		t.Errorf("rows %+v, want %+v", gotRows, wantRows)
	}
	if rows[1].Expires != time.Hour || rows[1].Accepted != 1 || rows[1].Transport != "UDP" || rows[1].Contact != s.contact.String() {
		t.Errorf("registered row %+v", rows[1])
	}
}

// TestBindingOutcomes: how a binding stood when the capture ended.
func TestBindingOutcomes(t *testing.T) {
	tests := []struct {
		name            string
		play            func(s *regScript)
		end             time.Duration
		want            report.BindingOutcome
		unansweredAfter int
	}{
		{"registered", func(s *regScript) {
			s.register("100", 1, 60, false, 0)
			s.answer("100", 1, 200, 60, time.Millisecond)
		}, 30 * time.Second, report.BindingRegistered, 0},
		{"expired, not renewed", func(s *regScript) {
			s.register("100", 1, 60, false, 0)
			s.answer("100", 1, 200, 60, time.Millisecond)
		}, 5 * time.Minute, report.BindingExpired, 0},
		{"removed", func(s *regScript) {
			s.register("100", 1, 60, false, 0)
			s.answer("100", 1, 200, 60, time.Millisecond)
			s.register("100", 2, 0, false, 10*time.Second)
			s.answer("100", 2, 200, 0, 10*time.Second+time.Millisecond)
		}, 30 * time.Second, report.BindingRemoved, 0},
		{"challenged, no credentials sent", func(s *regScript) {
			s.register("100", 1, 60, false, 0)
			s.answer("100", 1, 407, 0, time.Millisecond)
		}, 30 * time.Second, report.BindingChallenged, 0},
		{"only a 100 Trying", func(s *regScript) {
			s.register("100", 1, 60, false, 0)
			s.answer("100", 1, 100, 0, time.Millisecond)
		}, 30 * time.Second, report.BindingNoFinal, 0},
		{"registered, then renewals unanswered", func(s *regScript) {
			s.register("100", 1, 600, false, 0)
			s.answer("100", 1, 200, 600, time.Millisecond)
			for i := range 4 {
				s.register("100", 2, 600, false, 300*time.Second+time.Duration(i)*time.Second)
			}
		}, 310 * time.Second, report.BindingRegistered, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newRegScript(t)
			tt.play(s)
			end := s.t0.Add(tt.end)
			s.r.findings(end, hostView{}, nil)
			rows := s.r.table(end)
			if len(rows) != 1 {
				t.Fatalf("%d rows, want 1", len(rows))
			}
			if rows[0].Outcome != tt.want || rows[0].UnansweredAfter != tt.unansweredAfter {
				t.Errorf("outcome %s, %d unanswered after; want %s, %d", rows[0].Outcome, rows[0].UnansweredAfter, tt.want, tt.unansweredAfter)
			}
		})
	}
}

// TestBindingsSharePathSilence: two accounts over one path, one renewed
// every 50 s: the NAT mapping stays open for both, so the other's silence
// is no silence of the phone's.
func TestBindingsSharePathSilence(t *testing.T) {
	s := newRegScript(t)
	s.register("100", 1, 3600, false, 0)
	s.answer("100", 1, 200, 3600, time.Millisecond)
	for i := range 12 {
		at := time.Second + time.Duration(i)*50*time.Second
		s.register("200", uint32(i+1), 3600, false, at)
		s.answer("200", uint32(i+1), 200, 3600, at+time.Millisecond)
	}
	for _, f := range s.r.findings(s.t0.Add(10*time.Minute), hostView{}, nil) {
		if f.ID == IDRegistrationOutlivesNAT {
			t.Errorf("a silence found on a path kept busy: %s", f.Title)
		}
	}
	// Both stop: the path falls silent for both.
	s2 := newRegScript(t)
	s2.register("100", 1, 3600, false, 0)
	s2.answer("100", 1, 200, 3600, time.Millisecond)
	s2.register("200", 1, 3600, false, time.Second)
	s2.answer("200", 1, 200, 3600, time.Second+time.Millisecond)
	var ids []report.FindingID
	for _, f := range s2.r.findings(s2.t0.Add(10*time.Minute), hostView{}, nil) {
		ids = append(ids, f.ID)
	}
	if !slices.Equal(ids, []report.FindingID{IDRegistrationOutlivesNAT}) {
		t.Errorf("findings %v, want one %s", ids, IDRegistrationOutlivesNAT)
	}
	for _, b := range s2.r.table(s2.t0.Add(10 * time.Minute)) {
		if !b.Problem || !slices.Contains(b.Findings, IDRegistrationOutlivesNAT) {
			t.Errorf("%s: the path's silence is not linked to it: %+v", b.AOR, b)
		}
	}
}

// TestExpiryUnstated: a 200 OK to a REGISTER that states no expiry (no
// Expires, its Contact without expires=; or cut by the snap length where
// they were) grants what the REGISTER asked for: the binding is not over
// at once (it was, granted -1 s: "its registration had run out" for a call
// a minute later), nor is a grant shown that the capture does not hold.
func TestExpiryUnstated(t *testing.T) {
	s := newRegScript(t)
	s.register("100", 1, 600, false, 0)
	s.frame++
	s.r.sip(&sipInfo{sipHeaders: &sipHeaders{Method: "REGISTER", Status: 200, Reason: "OK", Expires: -1, CallID: "100", CSeq: 1},
		Src: s.registrar, Dst: s.phone, Frame: s.frame, HeadersCut: true}, s.t0.Add(10*time.Millisecond))
	g := s.r.latest[bindingKey{"100", s.registrar, s.contact}]
	if g == nil {
		t.Fatal("no binding")
	}
	if g.expiresStated || g.expires != 600*time.Second || !g.registeredAt(s.t0.Add(time.Minute)) || g.unlisted {
		t.Errorf("stated %v, expires %s, registered a minute on %v, unlisted %v; want false, 10m0s, true, false",
			g.expiresStated, g.expires, g.registeredAt(s.t0.Add(time.Minute)), g.unlisted)
	}
	rows := s.r.table(s.t0.Add(time.Minute))
	if len(rows) != 1 || rows[0].Outcome != report.BindingRegistered || rows[0].Expires != 0 {
		t.Errorf("table %+v: want one binding registered, no grant shown", rows)
	}
	if why, _, ok := unregisteredAt(s.r.bindingsOf("100", s.registrar.Addr()), s.t0.Add(time.Minute)); ok {
		t.Errorf("said not registered a minute on: %s", why)
	}
}
