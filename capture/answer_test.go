package capture

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/report"
)

func TestAnswerProblem(t *testing.T) {
	for _, tc := range []struct {
		name     string
		facts    AnswerFacts
		want     report.FindingID
		severity report.Severity
	}{
		{"sent once", AnswerFacts{Sent: 1}, "", ""},
		{"one ACK lost, the next arrived", AnswerFacts{Sent: 2, Over: 500 * time.Millisecond, Acked: true}, "", ""},
		{"copies crossing a late ACK", AnswerFacts{Sent: 4, Over: 3500 * time.Millisecond, Acked: true, AfterAck: 1}, "", ""},
		{"three copies in a burst", AnswerFacts{Sent: 3, Over: 200 * time.Millisecond}, "", ""},
		{"no ACK for 1.5 s", AnswerFacts{Sent: 3, Over: 1500 * time.Millisecond}, IDAnswerNotAcknowledged, report.SeverityError},
		{"ACK sent, copies kept coming", AnswerFacts{Sent: 11, Over: 31500 * time.Millisecond, Acked: true, AfterAck: 10}, IDAnswerNotAcknowledged, report.SeverityError},
		{"never acknowledged, hung up", AnswerFacts{Sent: 11, Over: 31500 * time.Millisecond, HungUpAfter: 32 * time.Second}, IDAnswerNotAcknowledged, report.SeverityError},
		{"acknowledged with the tag of the dialog that goes on", AnswerFacts{Sent: 10, Over: 27 * time.Second, AckedOtherDialog: true},
			IDAnswerNotAcknowledged, report.SeverityWarning},
	} {
		id, sev := AnswerProblem(tc.facts)
		if id != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, id, tc.want)
		}
		if id != "" && sev != tc.severity {
			t.Errorf("%s: severity %s, want %s", tc.name, sev, tc.severity)
		}
	}
}

// answerMsg is a message of the test call: callee 203.0.113.3 answering
// caller 198.51.100.40.
func answerMsg(frame uint64, request bool, method string, status int, cseq uint32, toTag string, fromCallee bool) *sipInfo {
	m := newSIPInfo()
	m.Frame, m.Request, m.Method, m.Status, m.CSeq, m.ToTag = frame, request, method, status, cseq, toTag
	caller, callee := netip.MustParseAddrPort("198.51.100.40:5060"), netip.MustParseAddrPort("203.0.113.3:5060")
	m.Src, m.Dst = caller, callee
	if fromCallee {
		m.Src, m.Dst = callee, caller
	}
	m.ContactAddr = netip.MustParseAddrPort("10.0.1.10:5060")
	return m
}

func TestAnswersFollowTheACK(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ok := func(a *answers, frame uint64, ms int, tag string) {
		a.answer(answerMsg(frame, false, "INVITE", 200, 1, tag, true), at(ms), callee, invited{})
	}
	t.Run("resent, never acknowledged, BYE at 32 s", func(t *testing.T) {
		var a answers
		for i, ms := range []int{0, 500, 1500, 3500, 7500} {
			ok(&a, uint64(10+i), ms, "b1")
		}
		a.bye(answerMsg(99, true, "BYE", 0, 1, "a1", true), at(32000), callee)
		u := a.unacknowledged()
		if u == nil {
			t.Fatal("not reported")
		}
		f := u.facts(&a)
		if f.Sent != 5 || f.Over != 7500*time.Millisecond || f.HungUpAfter != 32*time.Second {
			t.Errorf("facts %+v", f)
		}
	})
	t.Run("a late ACK stops the copies", func(t *testing.T) {
		var a answers
		ok(&a, 10, 0, "b1")
		ok(&a, 11, 500, "b1")
		ok(&a, 12, 1500, "b1")
		a.ack(answerMsg(13, true, "ACK", 0, 1, "b1", false), at(1600), caller)
		ok(&a, 14, 3500, "b1") // crossed the ACK
		if u := a.unacknowledged(); u != nil {
			t.Errorf("reported: %+v", u.facts(&a))
		}
	})
	t.Run("forks and the other party's CSeq are not copies or ACKs", func(t *testing.T) {
		var a answers
		ok(&a, 10, 0, "b1")
		ok(&a, 11, 400, "b2") // a second fork's 200 OK on the same hop
		// The callee's own request numbered 1 as well: not the caller's ACK.
		a.ack(answerMsg(12, true, "ACK", 0, 1, "a1", true), at(450), callee)
		a.ack(answerMsg(13, true, "ACK", 0, 1, "b1", false), at(500), caller)
		if u := a.unacknowledged(); u != nil {
			t.Errorf("reported: %+v", u.facts(&a))
		}
		// Each fork's 200 OK is followed on its own: the ACK acknowledges
		// the one whose To-tag it carries.
		if len(a.unacked) != 1 || a.unacked[0].toTag != "b1" || a.unacked[0].sent != 1 || a.unacked[0].ackFrame != 13 {
			t.Errorf("first fork's answer %+v; want b1, 1 copy, ACK frame 13", a.unacked)
		}
		if a.current.toTag != "b2" || a.current.ackFrame != 0 {
			t.Errorf("second fork's answer %+v; want b2, no ACK", a.current)
		}
	})
	t.Run("the caller resends its INVITE: no response reached it", func(t *testing.T) {
		var a answers
		invite := func(frame uint64, ms int) {
			a.invite(answerMsg(frame, true, "INVITE", 0, 1, "", false), at(ms), caller)
		}
		ok(&a, 10, 0, "b1")
		invite(11, 20) // crossed the 200 OK on the wire: proves nothing
		if a.current.requestResent() {
			t.Error("one copy crossing the answer taken for resends")
		}
		ok(&a, 12, 500, "b1")
		invite(13, 520)
		ok(&a, 14, 1500, "b1")
		u := a.unacknowledged()
		if u == nil || !u.requestResent() || u.invitesAfter != 2 || u.invitesAfterFrom != 11 || u.invitesTo != 13 {
			t.Fatalf("kept %+v", u)
		}
		// The callee's own INVITE numbered 1 is no copy of the caller's.
		a.invite(answerMsg(15, true, "INVITE", 0, 1, "a1", true), at(1600), callee)
		if u.invitesAfter != 2 {
			t.Errorf("the callee's request counted: %d copies", u.invitesAfter)
		}
	})
	t.Run("an acknowledged answer ends the count", func(t *testing.T) {
		var a answers
		ok(&a, 10, 0, "b1")
		a.ack(answerMsg(11, true, "ACK", 0, 1, "b1", false), at(30), caller)
		a.invite(answerMsg(12, true, "INVITE", 0, 1, "", false), at(500), caller)
		a.invite(answerMsg(13, true, "INVITE", 0, 1, "", false), at(1500), caller)
		if a.current.requestResent() {
			t.Error("copies after the ACK taken for resends")
		}
	})
	t.Run("a second dialog's answer is followed past a re-INVITE", func(t *testing.T) {
		// The caller's INVITE reached the callee twice, as two
		// transactions, and each got a dialog: b1 acknowledged, b2 sent
		// an ACK with b1's tag, then a re-INVITE in b1, and b2's copies
		// going on.
		var a answers
		ok(&a, 10, 0, "b1")
		a.ack(answerMsg(11, true, "ACK", 0, 1, "b1", false), at(10), caller)
		ok(&a, 12, 20, "b2")
		a.ack(answerMsg(13, true, "ACK", 0, 1, "b1", false), at(30), caller)
		a.answer(answerMsg(14, false, "INVITE", 200, 2, "b1", true), at(400), callee, invited{})
		a.ack(answerMsg(15, true, "ACK", 0, 2, "b1", false), at(410), caller)
		for i, ms := range []int{520, 1520, 3520} {
			ok(&a, uint64(16+i), ms, "b2")
		}
		u := a.unacknowledged()
		if u == nil || u.toTag != "b2" || u.sent != 4 || u.strayAckFrame != 13 || u.strayAckTag != "b1" {
			t.Fatalf("kept %+v", u)
		}
		if f := u.facts(&a); !f.AckedOtherDialog || f.Acked {
			t.Errorf("facts %+v: want the ACK of the other dialog, not of this one", f)
		}
	})
	t.Run("the first unacknowledged answer is kept past a re-INVITE", func(t *testing.T) {
		var a answers
		for i, ms := range []int{0, 500, 1500} {
			ok(&a, uint64(10+i), ms, "b1")
		}
		a.answer(answerMsg(20, false, "INVITE", 200, 2, "b1", true), at(60000), callee, invited{})
		a.ack(answerMsg(21, true, "ACK", 0, 2, "b1", false), at(60010), caller)
		u := a.unacknowledged()
		if u == nil || u.cseq != 1 || u.sent != 3 {
			t.Fatalf("kept %+v", u)
		}
	})
}

func TestAckEvidence(t *testing.T) {
	proxy, callee := netip.MustParseAddrPort("203.0.113.20:5060"), netip.MustParseAddrPort("10.0.1.10:5060")
	for _, tc := range []struct {
		name string
		t    answerTrack
		want string
	}{
		{"no ACK", answerTrack{cseq: 7}, "no ACK of CSeq 7 in the capture"},
		{"ACK to the private Contact", answerTrack{src: proxy, ackFrame: 5, ackDst: callee, afterAck: 9},
			"ACK sent to 10.0.1.10:5060, yet the 200 OK came 9 more times: the ACK never reached 203.0.113.20"},
		{"ACK back the way the 2xx came", answerTrack{src: proxy, ackFrame: 5, ackDst: proxy, afterAck: 9},
			"ACK sent to 203.0.113.20:5060, where the 200 OK came from, yet the 200 OK came 9 more times: the ACK never reached the party that answered (lost on the way, or beyond 203.0.113.20 if it is a proxy)"},
	} {
		if got := tc.t.ackEvidence("200 OK").Text; got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

// TestResponsesLostEvidence: the setup's responses went elsewhere than the
// INVITE came from (a server answering the Via's port, not the NAT's), and
// the evidence says so.
func TestResponsesLostEvidence(t *testing.T) {
	tr := setupTrack{src: netip.MustParseAddrPort("203.0.113.1:40123"), firstResponse: 180, responseDst: netip.MustParseAddrPort("203.0.113.1:5060"),
		responseFrame: 3, resentAfterResponse: 4, firstResentFrame: 4, lastFrame: 9}
	title, ev := responsesLost(&tr, report.Evidence{Text: "sent"})
	if !strings.HasPrefix(title, "The caller went on resending its INVITE after the callee had responded (4 times after its 180)") {
		t.Errorf("title %q", title)
	}
	if len(ev) != 3 || ev[1].Text != "the first response, 180, went to 203.0.113.1:5060, not to 203.0.113.1:40123 where the INVITE came from" ||
		!slices.Equal(ev[2].Frames, []uint64{4, 9}) {
		t.Errorf("evidence %+v", ev)
	}
}

// TestContactPortEvidence: an answer's public Contact at another port of
// the address the INVITE reached names a port forward that changes the
// port, whether the Request-URI says where (an IP) or only where the
// INVITE was sent does (a name in the Request-URI); sent to the NAT
// mapping the phone registered from, it names the mapping, with the remedy
// to send there; the same port, another address or a private Contact say
// nothing of it.
func TestContactPortEvidence(t *testing.T) {
	ap := netip.MustParseAddrPort
	regs := &registrations{byKey: map[regKey]*registration{{aor: "pbx"}: {aor: "pbx", src: ap("203.0.113.1:48740")}}}
	for _, tc := range []struct {
		name     string
		contact  string
		asked    invited
		want     string
		wantNone bool
	}{
		{"at the NAT mapping it registered from", "203.0.113.1:5060", invited{uri: ap("203.0.113.1:5060"), dst: ap("203.0.113.1:48740")},
			"reached the callee at 203.0.113.1:48740 (where it was sent), the NAT mapping its REGISTER came from", false},
		{"at the server, Request-URI", "203.0.113.1:5060", invited{uri: ap("203.0.113.1:5080"), dst: ap("192.168.1.5:5060")},
			"reached the callee at 203.0.113.1:5080 (its Request-URI), forwarded to it at 192.168.1.5:5060", false},
		{"at the phone, a name in the Request-URI", "203.0.113.1:5060", invited{dst: ap("203.0.113.1:5080")},
			"reached the callee at 203.0.113.1:5080 (where it was sent): a server behind a router that forwards outside port 5080", false},
		{"the same port", "203.0.113.1:5080", invited{uri: ap("203.0.113.1:5080"), dst: ap("203.0.113.1:5080")}, "", true},
		{"another address", "198.51.100.7:5060", invited{uri: ap("203.0.113.1:5080"), dst: ap("203.0.113.1:5080")}, "", true},
		{"a private Contact", "192.168.1.5:5060", invited{uri: ap("192.168.1.5:5080"), dst: ap("192.168.1.5:5080")}, "", true},
	} {
		tr := &answerTrack{contact: ap(tc.contact), asked: tc.asked}
		ev, remedy, ok := tr.contactPortEvidence("callee", regs)
		if ok == tc.wantNone || (ok && !strings.Contains(ev.Text, tc.want)) {
			t.Errorf("%s: %v %q, want %q", tc.name, ok, ev.Text, tc.want)
		}
		if wantRemedy := map[bool]string{true: remedyContactPortMoved, false: remedyContactPortNotForwarded}[strings.Contains(tc.want, "mapping")]; ok && remedy != wantRemedy {
			t.Errorf("%s: remedy %q", tc.name, remedy)
		}
	}
}

// TestRouteEvidence: a private first hop of the caller's route set on an
// answer to a public caller is a proxy behind NAT Record-Routing its own
// address; toward a caller on the proxy's own network it is its route.
func TestRouteEvidence(t *testing.T) {
	ap := netip.MustParseAddrPort
	first := invited{dst: ap("192.168.1.5:5060")}
	out := &answerTrack{route: ap("192.168.1.5:5060"), asked: first, src: ap("192.168.1.5:5060"), dst: ap("203.0.113.10:5060")}
	if ev, ok := out.routeEvidence("caller"); !ok || !strings.Contains(ev.Text, "Record-Route names the private address 192.168.1.5:5060") {
		t.Errorf("to a public caller: %v %q", ok, ev.Text)
	}
	in := &answerTrack{route: ap("192.168.1.5:5060"), asked: first, src: ap("198.51.100.7:5060"), dst: ap("192.168.1.5:5060")}
	if _, ok := in.routeEvidence("caller"); ok {
		t.Error("named toward a caller on the proxy's own network")
	}
	public := &answerTrack{route: ap("203.0.113.1:5060"), asked: first, src: ap("203.0.113.1:5060"), dst: ap("203.0.113.10:5060")}
	if _, ok := public.routeEvidence("caller"); ok {
		t.Error("named a public Record-Route")
	}
}
