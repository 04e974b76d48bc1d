package capture

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/report"
)

func TestInDialogRequests(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	bye := func(frame uint64, cseq uint32) *sipInfo {
		m := answerMsg(frame, true, "BYE", 0, cseq, "b1", true) // the callee's BYE to the caller
		return m
	}
	lastFrom := [2]int64{at(-60000).UnixNano(), at(-1000).UnixNano()}
	t.Run("a BYE resent for 32 s, never answered", func(t *testing.T) {
		var d inDialog
		for i, ms := range []int{0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500} {
			d.request(bye(uint64(10+i), 1), at(ms), callee, lastFrom, false)
		}
		u := d.unanswered()
		if u == nil {
			t.Fatal("not reported")
		}
		if u.sent != 11 || u.idle != 60*time.Second {
			t.Errorf("sent %d, idle %s; want 11, 1m0s", u.sent, u.idle)
		}
		if id, sev := InDialogProblem(u.facts()); id != IDRequestUnanswered || sev != report.SeverityError {
			t.Errorf("%s %s", id, sev)
		}
	})
	t.Run("to a private address, seen arriving or not", func(t *testing.T) {
		// A server's INFOs to a phone's private address go nowhere when
		// the capture is on the server's side (privateRequests reports
		// those); a capture on the phone, which sent its own SIP from
		// that address, saw them arrive unanswered: the call's finding.
		for _, arrived := range []bool{false, true} {
			var d inDialog
			for i, ms := range []int{0, 500, 1500, 3500} {
				m := bye(uint64(10+i), 1)
				m.Method, m.Dst = "INFO", netip.MustParseAddrPort("192.168.1.129:5060")
				d.request(m, at(ms), callee, lastFrom, arrived)
			}
			if got := d.unanswered() != nil; got != arrived {
				t.Errorf("arrived %v: reported %v", arrived, got)
			}
		}
	})
	t.Run("answered after two copies", func(t *testing.T) {
		var d inDialog
		d.request(bye(10, 1), at(0), callee, lastFrom, false)
		d.request(bye(11, 1), at(500), callee, lastFrom, false)
		d.request(bye(12, 1), at(1500), callee, lastFrom, false)
		// The callee's own response to a caller's request numbered 1 too
		// does not answer it.
		d.response(answerMsg(13, false, "BYE", 481, 1, "b1", true), at(0), callee)
		if d.current.answered {
			t.Error("answered by the sender's own response")
		}
		d.response(answerMsg(14, false, "BYE", 200, 1, "b1", false), at(0), caller)
		if u := d.unanswered(); u != nil {
			t.Errorf("reported: %+v", u.facts())
		}
	})
	t.Run("the first lost request is kept past the next", func(t *testing.T) {
		var d inDialog
		for i, ms := range []int{0, 500, 1500} {
			info := answerMsg(uint64(10+i), true, "INFO", 0, 2, "b1", true)
			d.request(info, at(ms), callee, lastFrom, false)
		}
		d.request(bye(20, 3), at(5000), callee, lastFrom, false)
		d.response(answerMsg(21, false, "BYE", 200, 3, "b1", false), at(0), caller)
		u := d.unanswered()
		if u == nil || u.method != "INFO" {
			t.Fatalf("kept %+v", u)
		}
		if _, sev := InDialogProblem(u.facts()); sev != report.SeverityWarning {
			t.Errorf("INFO lost: %s, want a warning", sev)
		}
	})
	t.Run("a re-INVITE a proxy took, then timed out", func(t *testing.T) {
		var d inDialog
		reinvite := answerMsg(10, true, "INVITE", 0, 2, "b1", true)
		d.request(reinvite, at(0), callee, lastFrom, false)
		d.response(answerMsg(11, false, "INVITE", 100, 2, "b1", false), at(0), caller)
		if u := d.unanswered(); u != nil {
			t.Fatalf("reported while only provisionally answered: %+v", u.facts())
		}
		d.response(answerMsg(12, false, "INVITE", 408, 2, "b1", false), at(0), caller)
		u := d.unanswered()
		if u == nil || !u.timedOut || u.timeoutFrame != 12 {
			t.Fatalf("kept %+v", u)
		}
		if id, sev := InDialogProblem(u.facts()); id != IDRequestUnanswered || sev != report.SeverityError {
			t.Errorf("%s %s", id, sev)
		}
	})
	t.Run("a 481 answers", func(t *testing.T) {
		var d inDialog
		for i, ms := range []int{0, 500, 1500} {
			d.request(bye(uint64(10+i), 4), at(ms), callee, lastFrom, false)
		}
		d.response(answerMsg(13, false, "BYE", 481, 4, "b1", false), at(0), caller)
		if u := d.unanswered(); u != nil {
			t.Errorf("reported: %+v", u.facts())
		}
	})
	t.Run("public to private is the capture's finding", func(t *testing.T) {
		f := InDialogFacts{Method: "BYE", Sent: 11, Over: 31500 * time.Millisecond, PublicToPrivate: true}
		if id, _ := InDialogProblem(f); id != "" {
			t.Errorf("reported %s", id)
		}
	})
}

func TestInDialogUnknown(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	lastFrom := [2]int64{t0.Add(-time.Second).UnixNano(), t0.Add(-time.Second).UnixNano()}
	for _, tc := range []struct {
		method string
		status int
		want   report.FindingID
	}{
		{"INVITE", 481, IDDialogUnknown},
		{"UPDATE", 481, IDDialogUnknown},
		{"BYE", 481, ""},  // it crossed the other side's own BYE
		{"INFO", 481, ""}, // answered, if not gladly
		{"INVITE", 200, ""},
		{"INVITE", 491, ""}, // glare: the refresh is tried again
	} {
		var d inDialog
		d.request(answerMsg(10, true, tc.method, 0, 5, "b1", false), t0, caller, lastFrom, false) // the caller's refresh
		d.response(answerMsg(11, false, tc.method, tc.status, 5, "b1", true), t0, callee)
		var got report.FindingID
		if u := d.unanswered(); u != nil {
			got, _ = InDialogProblem(u.facts())
		}
		if got != tc.want {
			t.Errorf("%s answered %d: %q, want %q", tc.method, tc.status, got, tc.want)
		}
	}
	// The finding, and a BYE that crossed the request.
	call := &sipCall{CallID: "cid", End: t0.Add(400 * time.Millisecond)}
	call.faults = &dialogFaults{}
	call.faults.inDialog.request(answerMsg(10, true, "INVITE", 0, 5, "b1", false), t0, caller, lastFrom, false)
	call.faults.inDialog.response(answerMsg(11, false, "INVITE", 481, 5, "b1", true), t0, callee)
	f, ok := inDialogFinding(&callBuild{call: call}, [2]netip.AddrPort{call.CallerSig})
	if !ok || f.ID != IDDialogUnknown || f.Severity != report.SeverityError || len(f.Evidence) != 2 {
		t.Errorf("finding %v %+v", ok, f)
	}
	call.byeNs[callee] = t0.Add(-200 * time.Millisecond).UnixNano()
	if f, ok := inDialogFinding(&callBuild{call: call}, [2]netip.AddrPort{call.CallerSig}); ok {
		t.Errorf("a BYE that crossed the re-INVITE: %+v", f)
	}
}

func TestInDialogAnswersLost(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	lastFrom := [2]int64{at(-1000).UnixNano(), at(-1000).UnixNano()}
	info := func(frame uint64, cseq uint32) *sipInfo { return answerMsg(frame, true, "INFO", 0, cseq, "b1", true) } // the callee's
	ok := func(frame uint64, cseq uint32) *sipInfo {
		return answerMsg(frame, false, "INFO", 200, cseq, "b1", false)
	}
	t.Run("resent between newer requests after its answer", func(t *testing.T) {
		// A server resends INFO 102, answered at once, while it sends and
		// gets answers to 103 and 104 (sperezmaz ptavi-p5).
		var d inDialog
		d.request(info(10, 102), at(0), callee, lastFrom, false)
		d.response(ok(11, 102), at(1), caller)
		d.request(info(12, 102), at(400), callee, lastFrom, false)
		d.request(info(13, 103), at(900), callee, lastFrom, false)
		d.response(ok(14, 103), at(901), caller)
		d.request(info(15, 102), at(2000), callee, lastFrom, false)
		d.request(info(16, 104), at(3000), callee, lastFrom, false)
		d.response(ok(17, 104), at(3001), caller)
		d.request(info(18, 102), at(6000), callee, lastFrom, false)
		u := d.firstAnswersLost()
		if u == nil || u.cseq != 102 {
			t.Fatalf("kept %+v", u)
		}
		if a := u.answer; a.resent != 3 || a.sent != 1 || a.resentFrom != 12 || a.resentTo != 18 || u.sent != 4 {
			t.Errorf("answer %+v, sent %d; want 3 resent after 1 answer, frames 12-18, 4 sent", *a, u.sent)
		}
		if d.unanswered() != nil {
			t.Error("reported unanswered")
		}
		call := &sipCall{CallID: "cid", faults: &dialogFaults{inDialog: d}}
		f, found := answersLostFinding(&callBuild{call: call})
		if !found || f.ID != IDResponsesLost || f.Severity != report.SeverityWarning || len(f.Evidence) != 3 ||
			!strings.Contains(f.Evidence[1].Text, "1 of the 4 copies") {
			t.Errorf("finding %v %+v", found, f)
		}
	})
	t.Run("one copy crossing its answer", func(t *testing.T) {
		var d inDialog
		d.request(info(10, 102), at(0), callee, lastFrom, false)
		d.response(ok(11, 102), at(490), caller)
		d.request(info(12, 102), at(500), callee, lastFrom, false)
		d.response(ok(13, 102), at(501), caller)
		d.request(info(14, 103), at(900), callee, lastFrom, false)
		if u := d.firstAnswersLost(); u != nil {
			t.Errorf("reported %+v", u.answer)
		}
	})
	t.Run("answered on the next hop only", func(t *testing.T) {
		// A proxy's next hop answered; the proxy had not yet passed the
		// answer back when the sender's copies came.
		var d inDialog
		d.request(info(10, 102), at(0), callee, lastFrom, false)
		next := ok(11, 102)
		next.Src, next.Dst = netip.MustParseAddrPort("192.0.2.50:5060"), netip.MustParseAddrPort("203.0.113.3:5060")
		d.response(next, at(100), caller)
		d.request(info(12, 102), at(500), callee, lastFrom, false)
		d.request(info(13, 102), at(1500), callee, lastFrom, false)
		if u := d.firstAnswersLost(); u != nil {
			t.Errorf("reported %+v", u.answer)
		}
	})
	t.Run("an UPDATE, an error", func(t *testing.T) {
		if AnswersLostSeverity("UPDATE") != report.SeverityError || AnswersLostSeverity("BYE") != report.SeverityWarning {
			t.Error("severities")
		}
	})
}
