package capture

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/report"
)

// TestRegistrationRemapped: a phone behind NAT registers its private
// Contact for an hour; 90 s later its REGISTER comes from another public
// port. Only when nothing more came from the old one, over UDP, while the
// first registration still ran, is that its NAT's new mapping: one
// finding with the proof, one row in the table.
func TestRegistrationRemapped(t *testing.T) {
	registrar := netip.MustParseAddrPort("198.51.100.20:5060")
	contact := netip.MustParseAddrPort("192.168.1.10:5060")
	oldPort := netip.MustParseAddrPort("203.0.113.1:40000")
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		newSrc    netip.AddrPort
		transport string
		granted   int  // seconds the first 200 OK grants
		oldAgain  bool // the old source sends again after the new REGISTER
		public    bool // the Contact is the public source itself
		moved     bool
	}{
		{"new port", netip.MustParseAddrPort("203.0.113.1:40001"), "UDP", 3600, false, false, true},
		{"new address", netip.MustParseAddrPort("203.0.113.7:40000"), "UDP", 3600, false, false, true},
		{"a second phone sharing the Contact", netip.MustParseAddrPort("203.0.113.1:40001"), "UDP", 3600, true, false, false},
		{"over TCP: a new connection", netip.MustParseAddrPort("203.0.113.1:40001"), "TCP", 3600, false, false, false},
		{"registration expired before", netip.MustParseAddrPort("203.0.113.1:40001"), "UDP", 60, false, false, false},
		{"public Contact", netip.MustParseAddrPort("203.0.113.1:40001"), "UDP", 3600, false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRegistrations()
			frame := uint64(0)
			register := func(src netip.AddrPort, at time.Duration, cseq uint32) {
				c := contact
				if tc.public {
					c = src
				}
				frame++
				r.sip(&sipInfo{sipHeaders: &sipHeaders{Request: true, Method: "REGISTER", ContactAddr: c, Expires: 3600, ToUser: "100", CallID: "reg-1", CSeq: cseq},
					Src: src, Dst: registrar, Frame: frame, Transport: tc.transport}, t0.Add(at))
				frame++
				r.sip(&sipInfo{sipHeaders: &sipHeaders{Method: "REGISTER", Status: 200, Expires: tc.granted, CallID: "reg-1", CSeq: cseq,
					extra: &sipExtras{Contacts: []contactBinding{{Addr: c, Expires: tc.granted}}}}, Src: registrar, Dst: src, Frame: frame, Transport: tc.transport}, t0.Add(at+20*time.Millisecond))
			}
			register(oldPort, 0, 1)
			frame++
			invite := frame // a call for the phone, sent where its REGISTER came from
			r.sip(&sipInfo{sipHeaders: &sipHeaders{Request: true, Method: "INVITE", CallID: "call-1", CSeq: 1}, Src: registrar, Dst: oldPort, Frame: frame, Transport: tc.transport}, t0.Add(70*time.Second))
			register(tc.newSrc, 90*time.Second, 2)
			if tc.oldAgain {
				frame++
				r.activity(oldPort, registrar, frame, t0.Add(100*time.Second))
			}
			var got []report.Finding
			for _, f := range r.findings(t0.Add(5*time.Minute), hostView{}, nil) {
				if f.ID == IDRegistrationOutlivesNAT {
					got = append(got, f)
				}
			}
			rows := r.table(t0.Add(5 * time.Minute))
			// The INVITE sent 70 s into the phone's silence went into its
			// old mapping: dropped, as its next REGISTER shows; without
			// that proof, only one sent past NATs' idle timeout (2 min) is
			// said to be.
			dead, later := r.mappingOf(oldPort, t0.Add(70*time.Second), false), r.mappingOf(oldPort, t0.Add(3*time.Minute), false)
			switch {
			case tc.moved && (dead == nil || !strings.HasSuffix(dead.deadMappingText(t0.Add(70*time.Second), false),
				"for 1m10s; its next REGISTER came from "+tc.newSrc.String()+" (frame 4): its NAT had dropped the mapping")):
				t.Errorf("the INVITE into the old mapping: %v", dead)
			case !tc.moved && dead != nil:
				t.Errorf("the INVITE into the old mapping: %s", dead.deadMappingText(t0.Add(70*time.Second), false))
			case !tc.moved && tc.transport == "UDP" && !tc.public && !tc.oldAgain && (later == nil || !strings.HasSuffix(later.deadMappingText(t0.Add(3*time.Minute), false),
				"for 3m0s, longer than NATs keep an idle UDP mapping (30 s to a few minutes): its NAT had most likely dropped it")):
				t.Errorf("an INVITE into the old mapping 3 minutes on: %v", later)
			case (tc.transport == "TCP" || tc.public || tc.oldAgain) && later != nil:
				t.Errorf("an INVITE into the old mapping 3 minutes on: %s", later.deadMappingText(t0.Add(3*time.Minute), false))
			}
			// The NAT's port unreachable for it proves the mapping gone too.
			closed := r.mappingOf(oldPort, t0.Add(70*time.Second), true)
			if wantClosed := tc.transport == "UDP" && !tc.public && !tc.oldAgain; (closed != nil) != wantClosed ||
				(closed != nil && !tc.moved && !strings.HasSuffix(closed.deadMappingText(t0.Add(70*time.Second), true), "; its NAT answered port unreachable: it had dropped the mapping")) {
				t.Errorf("the INVITE into the old mapping, refused by the NAT: %v", closed)
			}
			if !tc.moved {
				for _, f := range got {
					if strings.Contains(f.Title, "dropped the mapping") {
						t.Errorf("finding %+v", f)
					}
				}
				if len(rows) != 2 || rows[1].EarlierMappings != nil {
					t.Errorf("rows %+v, want two", rows)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("%d %s findings, want 1", len(got), IDRegistrationOutlivesNAT)
			}
			f := got[0]
			what := "a new port"
			if tc.newSrc.Addr() != oldPort.Addr() {
				what = "a new public address"
			}
			if !strings.HasPrefix(f.Title, "100's NAT dropped the mapping of its SIP port while the phone was registered: after 1m30s of silence its next REGISTER came from "+
				what+", "+tc.newSrc.String()+" (before: 203.0.113.1:40000), so calls sent to the phone in between went into a mapping that was gone") {
				t.Errorf("title %q", f.Title)
			}
			if (what == "a new port") != strings.HasSuffix(f.Title, "; the router forgets an idle UDP mapping in less than 1m30s") {
				t.Errorf("title %q", f.Title)
			}
			if len(f.Evidence) != 3 || !slices.Equal(f.Evidence[1].Frames, []uint64{1, invite + 1}) ||
				!strings.HasPrefix(f.Evidence[2].Text, "INVITE 198.51.100.20:5060 → 203.0.113.1:40000, the old mapping, sent once after the phone's last packet from there") {
				t.Errorf("evidence %+v", f.Evidence)
			}
			if len(rows) != 1 || rows[0].From != tc.newSrc.String() || !slices.Equal(rows[0].EarlierMappings, []string{oldPort.String()}) ||
				rows[0].Requests != 2 || rows[0].Accepted != 2 || rows[0].FirstFrame != 1 || !rows[0].Problem {
				t.Errorf("rows %+v, want the binding's one", rows)
			}
		})
	}
}

// TestRegistrationRemappedSeenInAnswer: the same phone captured on its
// own LAN: its REGISTERs all come from one address, and the registrar's
// answers tell (Via received=, rport=) from which public port it saw each.
func TestRegistrationRemappedSeenInAnswer(t *testing.T) {
	registrar := netip.MustParseAddrPort("198.51.100.20:5060")
	phone := netip.MustParseAddrPort("192.168.1.10:5060")
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		rports    [2]string
		transport string
		granted   int
		moved     bool
	}{
		{"new port", [2]string{"40000", "40001"}, "UDP", 3600, true},
		{"same port", [2]string{"40000", "40000"}, "UDP", 3600, false},
		{"over TCP", [2]string{"40000", "40001"}, "TCP", 3600, false},
		{"registration expired before", [2]string{"40000", "40001"}, "UDP", 60, false},
		{"no rport", [2]string{"", ""}, "UDP", 3600, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRegistrations()
			for i, rport := range tc.rports {
				at := t0.Add(time.Duration(i) * 90 * time.Second)
				cseq := uint32(i + 1)
				r.sip(&sipInfo{sipHeaders: &sipHeaders{Request: true, Method: "REGISTER", ContactAddr: phone, Expires: 3600, ToUser: "100", CallID: "reg-1", CSeq: cseq},
					Src: phone, Dst: registrar, Frame: uint64(2*i + 1), Transport: tc.transport}, at)
				r.sip(&sipInfo{sipHeaders: &sipHeaders{Method: "REGISTER", Status: 200, Expires: tc.granted, CallID: "reg-1", CSeq: cseq,
					Via: via{Received: "203.0.113.1", RPort: rport}, extra: &sipExtras{Contacts: []contactBinding{{Addr: phone, Expires: tc.granted}}}},
					Src: registrar, Dst: phone, Frame: uint64(2*i + 2), Transport: tc.transport}, at.Add(20*time.Millisecond))
			}
			var got *report.Finding
			for _, f := range r.findings(t0.Add(5*time.Minute), hostView{}, nil) {
				if f.ID == IDRegistrationOutlivesNAT && strings.Contains(f.Title, "dropped the mapping") {
					got = &f
				}
			}
			rows := r.table(t0.Add(5 * time.Minute))
			if !tc.moved {
				if got != nil || len(rows) != 1 || rows[0].EarlierMappings != nil {
					t.Errorf("finding %+v, rows %+v", got, rows)
				}
				return
			}
			if got == nil || !strings.Contains(got.Title, "its next REGISTER came from a new port, 203.0.113.1:40001 (before: 203.0.113.1:40000)") ||
				len(got.Evidence) != 2 || !slices.Equal(got.Evidence[0].Frames, []uint64{2}) || !slices.Equal(got.Evidence[1].Frames, []uint64{1, 4}) ||
				!strings.HasSuffix(got.Evidence[1].Text, "1m30s later the registrar saw its REGISTER come from 203.0.113.1:40001, as its answer's Via says (received=, rport=)") {
				t.Errorf("finding %+v", got)
			}
			if len(rows) != 1 || !slices.Equal(rows[0].EarlierMappings, []string{"203.0.113.1:40000"}) || !rows[0].Problem {
				t.Errorf("rows %+v", rows)
			}
		})
	}
}

// TestRegistrationRemappedAccounts: a phone with two accounts over one
// socket: its NAT's new mapping moves both, one move for the finding.
func TestRegistrationRemappedAccounts(t *testing.T) {
	s := newRegScript(t)
	s.phone = netip.MustParseAddrPort("203.0.113.1:40000")
	for i, user := range []string{"100", "101"} {
		s.register(user, 1, 3600, false, time.Duration(i)*time.Millisecond)
		s.answer(user, 1, 200, 3600, time.Duration(i)*time.Millisecond+5*time.Millisecond)
	}
	s.phone = netip.MustParseAddrPort("203.0.113.1:40001")
	for i, user := range []string{"100", "101"} {
		s.register(user, 2, 3600, false, time.Minute+time.Duration(i)*time.Millisecond)
		s.answer(user, 2, 200, 3600, time.Minute+time.Duration(i)*time.Millisecond+5*time.Millisecond)
	}
	var got []report.Finding
	for _, f := range s.r.findings(s.t0.Add(2*time.Minute), hostView{}, nil) {
		if f.ID == IDRegistrationOutlivesNAT {
			got = append(got, f)
		}
	}
	if len(got) != 1 || !strings.HasPrefix(got[0].Title, "100's NAT dropped the mapping of its SIP port while the phone was registered: after 1m0s of silence its next REGISTER came from a new port, 203.0.113.1:40001") {
		t.Errorf("findings %+v, want one move", got)
	}
	if rows := s.r.table(s.t0.Add(2 * time.Minute)); len(rows) != 2 || !slices.Equal(rows[0].EarlierMappings, []string{"203.0.113.1:40000"}) {
		t.Errorf("rows %+v, want each account once with its earlier mapping", rows)
	}
}

// TestRequestFromAnotherServer: a request sent to a phone's NAT mapping
// still in use, from an address none of the mapping's REGISTERs went to,
// met the NAT's filter: filteredFrom names the registration. From the
// registrar itself, into a mapping idle past the NAT's timeout, or over
// TCP, it does not.
func TestRequestFromAnotherServer(t *testing.T) {
	registrar := netip.MustParseAddrPort("198.51.100.20:5060")
	node2 := netip.MustParseAddrPort("198.51.100.21:5060")
	mapping := netip.MustParseAddrPort("203.0.113.1:40000")
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		src       netip.AddrPort
		after     time.Duration
		transport string
		filtered  bool
	}{
		{"another node, at once", node2, 5 * time.Second, "UDP", true},
		{"another node, before the REGISTER the capture shows", node2, -5 * time.Second, "UDP", false},
		{"another node, between two REGISTERs", node2, 30 * time.Second, "UDP", true},
		{"the registrar", registrar, 5 * time.Second, "UDP", false},
		{"another node, the mapping idle past the timeout", node2, 4 * time.Minute, "UDP", false},
		{"another node, over TCP", node2, 5 * time.Second, "TCP", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRegistrations()
			contact := netip.MustParseAddrPort("192.168.1.10:5060")
			r.sip(&sipInfo{sipHeaders: &sipHeaders{Request: true, Method: "REGISTER", ContactAddr: contact, Expires: 3600, ToUser: "100", CallID: "reg-1", CSeq: 1},
				Src: mapping, Dst: registrar, Frame: 1, Transport: tc.transport}, t0)
			r.sip(&sipInfo{sipHeaders: &sipHeaders{Method: "REGISTER", Status: 200, Expires: 3600, CallID: "reg-1", CSeq: 1,
				extra: &sipExtras{Contacts: []contactBinding{{Addr: contact, Expires: 3600}}}}, Src: registrar, Dst: mapping, Frame: 2, Transport: tc.transport}, t0.Add(20*time.Millisecond))
			// The phone's next REGISTER, a minute on.
			r.sip(&sipInfo{sipHeaders: &sipHeaders{Request: true, Method: "REGISTER", ContactAddr: contact, Expires: 3600, ToUser: "100", CallID: "reg-1", CSeq: 2},
				Src: mapping, Dst: registrar, Frame: 3, Transport: tc.transport}, t0.Add(time.Minute))
			g := r.filteredFrom(mapping, tc.src, t0.Add(tc.after))
			if (g != nil) != tc.filtered {
				t.Fatalf("filtered %v, want %t", g, tc.filtered)
			}
			if g != nil && !strings.Contains(g.filteredText(tc.src, t0.Add(tc.after), true),
				"but its REGISTERs go to 198.51.100.20, not to 198.51.100.21, the address this request came from; its NAT refused it (port unreachable)") {
				t.Errorf("text %q", g.filteredText(tc.src, t0.Add(tc.after), true))
			}
		})
	}
}
