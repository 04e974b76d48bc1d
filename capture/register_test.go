package capture

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/report"
)

// TestRegistrations: a phone behind NAT registers a private Contact; what
// the registrar's 200 OK echoes and how long the phone then stays silent
// decide the findings.
func TestRegistrations(t *testing.T) {
	phone := netip.MustParseAddrPort("203.0.113.1:40000") // as the registrar sees it
	lanPhone := netip.MustParseAddrPort("192.168.1.10:5060")
	registrar := netip.MustParseAddrPort("198.51.100.20:5060")
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	contact := netip.MustParseAddrPort("192.168.1.10:5060")
	tests := []struct {
		name      string
		src       netip.AddrPort // the REGISTER's source as captured
		received  string         // Via received= in the 200 OK
		fixed     bool           // the 200 OK marks the Contact (received=, alias)
		public    bool           // the Contact is public (a STUN phone)
		keepalive time.Duration  // packets this often after the 200 OK (0: none)
		end       time.Duration  // capture end after the REGISTER
		removeAt  time.Duration  // the phone removes its binding then (0: never)
		want      []report.FindingID
	}{
		{"server side, not fixed, silent", phone, "", false, false, 0, 10 * time.Minute, 0, []report.FindingID{IDRegisterContactNotFixed, IDRegistrationOutlivesNAT}},
		{"server side, fixed, keep-alives", phone, "", true, false, 20 * time.Second, 10 * time.Minute, 0, nil},
		{"server side, fixed, silent", phone, "", true, false, 0, 10 * time.Minute, 0, []report.FindingID{IDRegistrationOutlivesNAT}},
		{"server side, not fixed, capture too short to show silence", phone, "", false, false, 0, time.Minute, 0, []report.FindingID{IDRegisterContactNotFixed}},
		{"phone's LAN, received= shows the NAT", lanPhone, "203.0.113.1", false, false, 25 * time.Second, 10 * time.Minute, 0, []report.FindingID{IDRegisterContactNotFixed}},
		{"phone's LAN, no sign of a NAT", lanPhone, "", false, false, 0, 10 * time.Minute, 0, nil},
		{"public Contact", phone, "", false, true, 0, 10 * time.Minute, 0, nil},
		// The phone leaves (baresip unregisters on exit): what the
		// registrar stored stays a finding; the silence after it does not.
		{"server side, not fixed, removed after 40 s", phone, "", false, false, 0, 10 * time.Minute, 40 * time.Second, []report.FindingID{IDRegisterContactNotFixed}},
		{"phone's LAN, not fixed, removed", lanPhone, "203.0.113.1", false, false, 0, 10 * time.Minute, 40 * time.Second, []report.FindingID{IDRegisterContactNotFixed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRegistrations()
			c := contact
			if tt.public {
				c = phone
			}
			frame := uint64(1)
			r.sip(&sipInfo{sipHeaders: &sipHeaders{Request: true, Method: "REGISTER", ContactAddr: c, Expires: 3600, ToUser: "100"}, Src: tt.src, Dst: registrar, Frame: frame}, t0)
			frame++
			r.sip(&sipInfo{sipHeaders: &sipHeaders{Method: "REGISTER", Status: 200, Expires: 3600, Via: via{Received: tt.received}, extra: &sipExtras{Contacts: []contactBinding{{Addr: c, Fixed: tt.fixed, Expires: 3600}}}}, Src: registrar, Dst: tt.src, Frame: frame}, t0.Add(20*time.Millisecond))
			for at := tt.keepalive; tt.keepalive > 0 && at < tt.end; at += tt.keepalive {
				frame++
				r.activity(tt.src, registrar, frame, t0.Add(at))
			}
			if tt.removeAt > 0 {
				r.sip(&sipInfo{sipHeaders: &sipHeaders{Request: true, Method: "REGISTER", ContactAddr: c, Expires: 0, ToUser: "100"}, Src: tt.src, Dst: registrar, Frame: frame + 1}, t0.Add(tt.removeAt))
				r.sip(&sipInfo{sipHeaders: &sipHeaders{Method: "REGISTER", Status: 200, Expires: -1}, Src: registrar, Dst: tt.src, Frame: frame + 2}, t0.Add(tt.removeAt+time.Millisecond))
			}
			var got []report.FindingID
			for _, f := range r.findings(t0.Add(tt.end), hostView{}, nil) {
				got = append(got, f.ID)
				if len(f.Evidence) == 0 || f.Evidence[0].Frames[0] != 1 {
					t.Errorf("%s: evidence does not name the REGISTER: %+v", f.ID, f.Evidence)
				}
			}
			if len(got) != len(tt.want) || (len(got) > 0 && got[0] != tt.want[0]) || (len(got) > 1 && got[1] != tt.want[1]) {
				t.Errorf("findings %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPrivateRequests: requests from a public to a private address that
// nothing answers give one finding per destination; answered ones none.
func TestPrivateRequests(t *testing.T) {
	server := netip.MustParseAddrPort("198.51.100.20:5060")
	lan := netip.MustParseAddrPort("192.168.1.10:5060")
	other := netip.MustParseAddrPort("192.168.1.11:5060")
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var p privateRequests
	for i := 0; i < 3; i++ { // OPTIONS retransmitted, never answered
		p.sip(&sipInfo{sipHeaders: &sipHeaders{Request: true, Method: "OPTIONS", CallID: "ka1", CSeq: 1}, Src: server, Dst: lan, Frame: uint64(1 + i)}, t0.Add(time.Duration(i)*time.Second))
	}
	p.sip(&sipInfo{sipHeaders: &sipHeaders{Request: true, Method: "NOTIFY", CallID: "n1", CSeq: 7}, Src: server, Dst: lan, Frame: 10}, t0)
	p.sip(&sipInfo{sipHeaders: &sipHeaders{Request: true, Method: "OPTIONS", CallID: "ka2", CSeq: 1}, Src: server, Dst: other, Frame: 20}, t0)
	p.sip(&sipInfo{sipHeaders: &sipHeaders{Method: "OPTIONS", Status: 200, CallID: "ka2", CSeq: 1}, Src: other, Dst: server, Frame: 21}, t0)
	p.sip(&sipInfo{sipHeaders: &sipHeaders{Request: true, Method: "INVITE", CallID: "call", CSeq: 1}, Src: server, Dst: other, Frame: 30}, t0)
	fs := p.findings(nil)
	if len(fs) != 1 || fs[0].ID != IDRequestToPrivate || len(fs[0].Evidence) != 2 || fs[0].Evidence[0].Frames[1] != 3 {
		t.Fatalf("findings %+v, want one for %s with the OPTIONS (frames 1-3) and the NOTIFY", fs, lan)
	}
	// The same capture taken on the phone's LAN (it sends SIP out): the
	// requests came through its NAT and arrived, so nothing is lost on
	// the way (a Chinese cloud video capture: a REGISTER sent to the
	// endpoint, which ignored it).
	p.sip(&sipInfo{sipHeaders: &sipHeaders{Request: true, Method: "REGISTER", CallID: "r1", CSeq: 1}, Src: lan, Dst: server, Frame: 40}, t0)
	if fs := p.findings(nil); len(fs) != 0 {
		t.Errorf("findings %+v for a capture on the phone's side of its NAT", fs)
	}
}

// TestRegisterRefused: a REGISTER refused and never followed by a
// successful one is a finding; a refusal a later 200 OK mends, or a bare
// challenge, is not.
func TestRegisterRefused(t *testing.T) {
	phone := netip.MustParseAddrPort("192.168.1.10:5060")
	registrar := netip.MustParseAddrPort("198.51.100.20:5060")
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		answers []int
		want    bool
	}{
		{"403 after the challenge", []int{401, 403}, true},
		{"challenged again after credentials (Kamailio)", []int{401, 401}, true},
		{"challenged again, then registered", []int{401, 401, 200}, false},
		{"a stale nonce when the capture ends", []int{401, 200, -401}, false},
		{"404 unknown user", []int{404}, true},
		{"challenge, then 200", []int{401, 200}, false},
		{"403, then registered", []int{401, 403, 401, 200}, false},
		{"challenge left unanswered", []int{401}, false},
		{"interval too brief, fixed by the phone", []int{423, 200}, false},
		// A Contact whose host is a name (or "127.0.1", which netip does
		// not read: a GB28181 camera's) binds all the same.
		{"404 to a Contact by name", []int{404}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRegistrations()
			at := t0
			for i, status := range tc.answers {
				at = at.Add(time.Second)
				// Every REGISTER after the first answers a challenge.
				reg := &sipHeaders{Request: true, Method: "REGISTER", ContactAddr: phone, Contact: phone.Addr().String(), Expires: 3600, ToUser: "100", CSeq: uint32(i + 1), Authorized: i > 0}
				if strings.Contains(tc.name, "by name") {
					reg.ContactAddr, reg.Contact = netip.AddrPort{}, "phone.example.net"
				}
				r.sip(&sipInfo{sipHeaders: reg, Src: phone, Dst: registrar, Frame: uint64(2*i + 1)}, at)
				// -401: a challenge with stale=true.
				answer := &sipHeaders{Method: "REGISTER", Status: max(status, -status), Reason: "X", Expires: 3600, CSeq: uint32(i + 1), StaleNonce: status < 0}
				r.sip(&sipInfo{sipHeaders: answer, Src: registrar, Dst: phone, Frame: uint64(2*i + 2)}, at.Add(10*time.Millisecond))
			}
			got := false
			for _, f := range r.findings(at.Add(time.Second), hostView{}, nil) {
				got = got || f.ID == IDRegisterRefused
			}
			if got != tc.want {
				t.Errorf("register-refused %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRegisterRefusalMended: a refusal is mended by a later 200 OK for the
// same address of record and Contact at the registrar, also when that
// REGISTER came from another source port (a host that sent one REGISTER
// from two sockets, answered 401 on one and 500 on the other, then
// registered from the first: Ekiga in viglesiasc/ptavi-p5's capture). A
// server error that nothing mends is a finding with the registrar's
// remedy, not the account's.
func TestRegisterRefusalMended(t *testing.T) {
	registrar := netip.MustParseAddrPort("198.51.100.20:5060")
	sock1 := netip.MustParseAddrPort("203.0.113.1:5060")
	sock2 := netip.MustParseAddrPort("203.0.113.1:1024")
	contact := netip.MustParseAddrPort("203.0.113.1:5060")
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	type msg struct {
		src    netip.AddrPort
		status int // 0: the REGISTER itself
		aor    string
	}
	for _, tc := range []struct {
		name   string
		msgs   []msg
		remedy string // "": no finding
	}{
		{"500 on the second socket, registered from the first", []msg{{sock1, 0, "100"}, {sock2, 0, "100"}, {sock1, 401, ""}, {sock2, 500, ""}, {sock1, 0, "100"}, {sock1, 200, ""}}, ""},
		{"500 on the second socket, nothing registered", []msg{{sock1, 0, "100"}, {sock2, 0, "100"}, {sock1, 401, ""}, {sock2, 500, ""}}, remedyRegistrarFailed},
		{"another user registered from the first socket", []msg{{sock2, 0, "200"}, {sock2, 403, ""}, {sock1, 0, "100"}, {sock1, 200, ""}}, remedyRegisterRefused},
		{"registered, then refused", []msg{{sock1, 0, "100"}, {sock1, 200, ""}, {sock2, 0, "100"}, {sock2, 403, ""}}, remedyRegisterRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRegistrations()
			at := t0
			for i, m := range tc.msgs {
				at = at.Add(10 * time.Millisecond)
				frame := uint64(i + 1)
				if m.status == 0 {
					r.sip(&sipInfo{sipHeaders: &sipHeaders{Request: true, Method: "REGISTER", ContactAddr: contact, Expires: 3600, ToUser: m.aor}, Src: m.src, Dst: registrar, Frame: frame}, at)
					continue
				}
				r.sip(&sipInfo{sipHeaders: &sipHeaders{Method: "REGISTER", Status: m.status, Reason: "X", Expires: 3600}, Src: registrar, Dst: m.src, Frame: frame}, at)
			}
			var remedies []string
			for _, f := range r.findings(at.Add(time.Second), hostView{}, nil) {
				if f.ID == IDRegisterRefused {
					remedies = append(remedies, f.Remedy)
				}
			}
			switch {
			case tc.remedy == "" && len(remedies) != 0:
				t.Errorf("register-refused %d times, want none", len(remedies))
			case tc.remedy != "" && (len(remedies) != 1 || remedies[0] != tc.remedy):
				t.Errorf("register-refused remedies %q, want one: %q", remedies, tc.remedy)
			}
		})
	}
}

// TestRegisterRepeated: a phone that registers again far sooner than each
// 200 OK granted is named (a Zultys phone every 6 s, granted an hour: a
// warning; every two minutes: informational), and says so when the
// answer lists no Contact of its own; renewals at a normal share of the
// time granted, or too few, are not.
func TestRegisterRepeated(t *testing.T) {
	phone := netip.MustParseAddrPort("192.168.10.133:5060")
	registrar := netip.MustParseAddrPort("192.168.1.14:5060")
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		times   int
		every   time.Duration
		granted int
		listed  bool
		want    report.Severity // "": no finding
	}{
		{"every 6 s, granted an hour", 9, 6 * time.Second, 3600, true, report.SeverityWarning},
		{"every 2 minutes, granted an hour", 5, 2 * time.Minute, 3600, true, report.SeverityInfo},
		{"every 6 s, its Contact not in the answer", 9, 6 * time.Second, 3600, false, report.SeverityWarning},
		{"renewed at half the time granted", 9, 30 * time.Second, 60, true, ""},
		{"three registrations", 3, 6 * time.Second, 3600, true, ""},
		{"every 30 s, granted an hour (a NAT keep-alive setting)", 5, 30 * time.Second, 3600, true, report.SeverityInfo},
		{"a burst at start-up", 9, 200 * time.Millisecond, 3600, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRegistrations()
			for i := range tc.times {
				at := t0.Add(time.Duration(i) * tc.every)
				r.sip(&sipInfo{sipHeaders: &sipHeaders{Request: true, Method: "REGISTER", ContactAddr: phone, Contact: phone.Addr().String(), Expires: 3600, ToUser: "1519",
					CSeq: uint32(i + 1)}, Src: phone, Dst: registrar, Frame: uint64(2*i + 1)}, at)
				ok := &sipHeaders{Method: "REGISTER", Status: 200, Expires: tc.granted, CSeq: uint32(i + 1)}
				if tc.listed {
					ok.extra = &sipExtras{Contacts: []contactBinding{{Addr: phone, Expires: tc.granted}}}
				}
				r.sip(&sipInfo{sipHeaders: ok, Src: registrar, Dst: phone, Frame: uint64(2*i + 2)}, at.Add(5*time.Millisecond))
			}
			var got *report.Finding
			for _, f := range r.findings(t0.Add(time.Hour), hostView{}, nil) {
				if f.ID == IDRegisterRepeated {
					got = &f
				}
			}
			switch {
			case tc.want == "" && got != nil:
				t.Errorf("finding %+v", got)
			case tc.want != "" && (got == nil || got.Severity != tc.want || !strings.HasPrefix(got.Title, "1519 registered") ||
				(len(got.Evidence) == 2) == tc.listed):
				t.Errorf("finding %+v, want %s", got, tc.want)
			}
		})
	}
}

// TestRegistrationsAnsweredPastTheBound: a registrar whose phones have
// registered under more Call-IDs than are followed (maxRegistrations):
// the next phone's 200 OK still counts as its answer, so it is not taken
// for unanswered.
func TestRegistrationsAnsweredPastTheBound(t *testing.T) {
	r := newRegistrations()
	registrar := netip.MustParseAddrPort("198.51.100.20:5060")
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	register := func(phone netip.AddrPort, callID string, at time.Time, resends ...time.Duration) {
		for _, resend := range append([]time.Duration{0}, resends...) {
			r.sip(&sipInfo{sipHeaders: &sipHeaders{Request: true, Method: "REGISTER", CallID: callID, CSeq: 1, ContactAddr: phone, Expires: 60, ToUser: "p" + phone.Addr().String()},
				Src: phone, Dst: registrar}, at.Add(resend))
		}
		r.sip(&sipInfo{sipHeaders: &sipHeaders{Method: "REGISTER", CallID: callID, CSeq: 1, Status: 200, Expires: 60}, Src: registrar, Dst: phone}, at.Add(5*time.Second+time.Millisecond))
	}
	busy := netip.MustParseAddrPort("203.0.113.1:5060")
	for i := 0; i < maxRegistrations; i++ { // one phone, a new Call-ID each time
		register(busy, fmt.Sprintf("reg-%d", i), t0.Add(time.Duration(i)*time.Second))
	}
	// The next phone's answer crossed a resend.
	register(netip.MustParseAddrPort("203.0.113.2:5060"), "next", t0.Add(maxRegistrations*time.Second), 5*time.Second)
	for _, f := range r.findings(t0.Add(maxRegistrations*time.Second+time.Hour), hostView{}, nil) {
		if f.ID == IDRegisterUnanswered {
			t.Fatalf("%s", f.Title)
		}
	}
}
