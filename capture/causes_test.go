package capture

import (
	"net/netip"
	"testing"
	"time"

	"github.com/natdoc/natdoc/report"
)

// TestCauseText: Reason and Warning values as an engineer reads them.
func TestCauseText(t *testing.T) {
	for _, tc := range []struct {
		reasons, warnings []string
		want              string
	}{
		{[]string{`Q.850;cause=34;text="No circuit available"`}, nil, `Q.850 cause 34 "No circuit available"`},
		{[]string{`Q.850 ;cause=17`}, nil, `Q.850 cause 17 (user busy)`},
		{[]string{`q.850;cause=999`}, nil, `Q.850 cause 999`},
		{[]string{`SIP;cause=200;text="Call completed elsewhere"`}, nil, `SIP cause 200 "Call completed elsewhere"`},
		{[]string{`SIP;description="User Hung Up"`}, nil, `Reason SIP;description="User Hung Up"`},
		{nil, []string{`399 sip1 "No other DNS entries to try"`}, `Warning 399 sip1 "No other DNS entries to try"`},
		{[]string{`Q.850;cause=21`}, []string{`399 gw "blocked"`}, `Q.850 cause 21 (call rejected); Warning 399 gw "blocked"`},
		{nil, nil, ""},
		{[]string{`Q.850;cause=0`}, nil, ""},
		{nil, []string{`399  "Max-Forwards zero"`}, `Warning 399 "Max-Forwards zero"`},
	} {
		if got := causeText(&sipExtras{Reasons: tc.reasons, Warnings: tc.warnings}); got != tc.want {
			t.Errorf("causeText(%q, %q) = %q, want %q", tc.reasons, tc.warnings, got, tc.want)
		}
	}
}

// TestCausesRead: both SIP readers keep a rejection's Reason and Warning
// (FuzzFastSIP holds them equal), bounded against floods of them.
func TestCausesRead(t *testing.T) {
	r := newSIPReader()
	var msg string
	for _, s := range fastSIPSeeds {
		if s.name == "rejection with Reason and Warning" {
			msg = s.msg
		}
	}
	for name, read := range map[string]func([]byte) (*sipInfo, bool){
		"fast":  r.fastDatagram,
		"sipgo": func(b []byte) (*sipInfo, bool) { info, err := r.parseSIPDatagramFully(b); return info, err == nil },
	} {
		info, ok := read([]byte(msg))
		if !ok {
			t.Fatalf("%s: not read", name)
		}
		want := `Q.850 cause 34 "No circuit available"; SIP cause 503; Warning 399 sip1 "No other DNS entries to try"`
		if got := causeText(info.extras()); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	var h sipHeaders
	many := make([]string, 100)
	for i := range many {
		many[i] = string(make([]byte, 1000))
	}
	h.setCauses(many, nil)
	if e := h.extras(); len(e.Reasons) != maxCauses || len(e.Reasons[0]) != maxCauseChars {
		t.Errorf("kept %d reasons of %d bytes", len(e.Reasons), len(e.Reasons[0]))
	}
}

// TestNotAnsweredCauses: a rejection says its reason phrase and causes; a
// cancelled call its CANCEL's Reason.
func TestNotAnsweredCauses(t *testing.T) {
	rejected := notAnswered(SetupFacts{CallStatus: 503, Responded: true, Waited: time.Second, Phrase: "Service Unavailable", FailCause: "Q.850 cause 34 (no circuit/channel available)"})
	if rejected.Explain != "the call was rejected (503 Service Unavailable): Q.850 cause 34 (no circuit/channel available)" ||
		rejected.NotAnswered.Phrase != "Service Unavailable" || rejected.NotAnswered.Cause == "" {
		t.Errorf("rejected: %q %+v", rejected.Explain, rejected.NotAnswered)
	}
	elsewhere := `SIP;cause=200;text="Call completed elsewhere"`
	if !answeredElsewhere(&sipExtras{Reasons: []string{elsewhere}}) || answeredElsewhere(&sipExtras{Reasons: []string{"Q.850;cause=200"}}) {
		t.Error("answeredElsewhere")
	}
	cancelled := notAnswered(SetupFacts{Cancelled: true, CallStatus: 487, Responded: true, Rang: true, Waited: 5 * time.Second,
		Phrase: "Request Terminated", CancelCause: reasonText(elsewhere), AnsweredElsewhere: true})
	if cancelled.NotAnswered.Reason != report.NotAnsweredCancelled || cancelled.NotAnswered.Cause != `SIP cause 200 "Call completed elsewhere"` ||
		cancelled.Explain != `another phone answered the call after 5s while it rang: SIP cause 200 "Call completed elsewhere"` {
		t.Errorf("cancelled: %q %+v", cancelled.Explain, cancelled.NotAnswered)
	}
	silent := SetupFacts{Cancelled: true, CallStatus: 487, Responded: true, Waited: 8 * time.Second, AnsweredElsewhere: true}
	if id, _ := SetupProblem(silent, notAnswered(silent)); id != "" {
		t.Errorf("a branch cancelled because another answered, never ringing: %s", id)
	}
}

// TestNotAnsweredBy: a rejection names who sent it, its source and its
// Server header (Kamailio's pike rate limit answering a SIPp flood); a
// cancelled call names no one, the caller having ended it.
func TestNotAnsweredBy(t *testing.T) {
	phone, proxy := netip.MustParseAddrPort("10.10.10.20:5060"), netip.MustParseAddrPort("10.10.10.10:5060")
	table := newCallTable()
	at := time.Unix(1000, 0)
	trying := tableMsg(false, "INVITE", 100, 1, "caller", "", proxy, phone)
	refused := tableMsg(false, "INVITE", 503, 1, "caller", "k1", proxy, phone)
	refused.Reason, refused.UserAgent = "Rate Limit Exceeded", "kamailio (5.7.4 (x86_64/linux))"
	for _, m := range []*sipInfo{tableMsg(true, "INVITE", 0, 1, "caller", "", phone, proxy), trying, refused} {
		at = at.Add(10 * time.Millisecond)
		table.add(m, at, nil, nil)
	}
	c := table.order[0]
	setup := c.setup.facts(at)
	setup.CallStatus = c.Status
	na := notAnswered(setup).NotAnswered
	if na.By != proxy.String() || na.ByAgent != refused.UserAgent || na.Phrase != "Rate Limit Exceeded" {
		t.Errorf("rejected: %+v", na)
	}
	setup.Cancelled = true
	if na := notAnswered(setup).NotAnswered; na.By != "" || na.ByAgent != "" {
		t.Errorf("cancelled: %+v", na)
	}
}
