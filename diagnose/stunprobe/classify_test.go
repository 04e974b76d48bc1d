package stunprobe

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/transact"
	"github.com/natdoc/natdoc/report"
)

var (
	local   = netip.MustParseAddrPort("192.168.1.10:40000")
	public1 = netip.MustParseAddrPort("203.0.113.1:40000")
	public2 = netip.MustParseAddrPort("203.0.113.1:51000")
	public3 = netip.MustParseAddrPort("203.0.113.1:52000")
	none    netip.AddrPort
)

func TestClassifyMapping(t *testing.T) {
	for _, tc := range []struct {
		name       string
		t1, t2, t3 netip.AddrPort
		want       report.Behaviour
	}{
		{"no answer", none, none, none, report.BehaviourUnknown},
		{"no NAT", local, none, none, report.BehaviourNoNAT},
		{"alternate silent", public1, none, none, report.BehaviourUnknown},
		{"endpoint independent", public1, public1, none, report.BehaviourEndpointIndependent},
		{"address dependent", public1, public2, public2, report.BehaviourAddressDependent},
		{"address and port dependent", public1, public2, public3, report.BehaviourAddressAndPortDependent},
		{"test III silent", public1, public2, none, report.BehaviourUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, note := classifyMapping(local, tc.t1, tc.t2, tc.t3)
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if (got == report.BehaviourUnknown) != (note != "") {
				t.Errorf("behaviour %q with note %q: unknown needs a note, known none", got, note)
			}
		})
	}
}

func TestClassifyFiltering(t *testing.T) {
	for _, tc := range []struct {
		name       string
		both, port Outcome
		control    bool
		want       report.Behaviour
	}{
		{"endpoint independent", OutcomeAnswered, OutcomeAnswered, false, report.BehaviourEndpointIndependent},
		{"address dependent", OutcomeNoAnswer, OutcomeAnswered, true, report.BehaviourAddressDependent},
		{"address and port dependent", OutcomeNoAnswer, OutcomeNoAnswer, true, report.BehaviourAddressAndPortDependent},
		{"server died: silence proves nothing", OutcomeNoAnswer, OutcomeNoAnswer, false, report.BehaviourUnknown},
		{"server died before port test answer", OutcomeNoAnswer, OutcomeAnswered, false, report.BehaviourUnknown},
		{"one-address server fakes open filter", OutcomeUnchanged, OutcomeUnchanged, false, report.BehaviourUnknown},
		{"fake on port test only", OutcomeNoAnswer, OutcomeUnchanged, true, report.BehaviourUnknown},
		{"server refused CHANGE-REQUEST", OutcomeError, OutcomeError, false, report.BehaviourUnknown},
		{"not run", OutcomeNotRun, OutcomeNotRun, false, report.BehaviourUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := classifyFiltering(tc.both, tc.port, tc.control); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRFC3489Name(t *testing.T) {
	const (
		eim   = report.BehaviourEndpointIndependent
		adm   = report.BehaviourAddressDependent
		apdm  = report.BehaviourAddressAndPortDependent
		nonat = report.BehaviourNoNAT
		unk   = report.BehaviourUnknown
	)
	for _, tc := range []struct {
		mapping, filtering report.Behaviour
		want               string
	}{
		{eim, eim, "full cone"},
		{eim, adm, "restricted cone"},
		{eim, apdm, "port restricted cone"},
		{adm, apdm, "symmetric"},
		{apdm, apdm, "symmetric"},
		{apdm, unk, "symmetric"},
		{nonat, eim, "open internet"},
		{nonat, apdm, "symmetric UDP firewall"},
		{eim, unk, ""},
		{unk, apdm, ""},
	} {
		t.Run(string(tc.mapping)+"/"+string(tc.filtering), func(t *testing.T) {
			if got := RFC3489Name(tc.mapping, tc.filtering); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMappingConsistent(t *testing.T) {
	a := ServerResult{Mapped: public1}
	b := ServerResult{Mapped: public2}
	dead := ServerResult{Err: "no answer"}
	for _, tc := range []struct {
		name    string
		servers []ServerResult
		want    report.Tri
	}{
		{"none", nil, report.TriUnknown},
		{"one answer", []ServerResult{a, dead}, report.TriUnknown},
		{"two agree", []ServerResult{a, dead, a}, report.TriYes},
		{"two differ", []ServerResult{a, b}, report.TriNo},
		{"third differs", []ServerResult{a, a, b}, report.TriNo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mappingConsistent(tc.servers); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPortPreserved(t *testing.T) {
	if portPreserved(local, public1) != report.TriYes || portPreserved(local, public2) != report.TriNo || portPreserved(local, none) != report.TriUnknown {
		t.Error("portPreserved misjudges")
	}
}

func TestLifetimeBracket(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		name        string
		trials      []LifetimeTrial
		alive, dead time.Duration
	}{
		{"none", nil, 0, 0},
		{"all alive", []LifetimeTrial{{s, true}, {2 * s, true}}, 2 * s, 0},
		{"all dead", []LifetimeTrial{{s, false}, {2 * s, false}}, 0, s},
		{"bracket", []LifetimeTrial{{8 * s, false}, {2 * s, true}, {4 * s, true}, {16 * s, false}}, 4 * s, 8 * s},
		{"contradiction widens", []LifetimeTrial{{3 * s, false}, {2 * s, true}, {6 * s, true}, {8 * s, false}}, 6 * s, 8 * s},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alive, dead := lifetimeBracket(tc.trials)
			if alive != tc.alive || dead != tc.dead {
				t.Errorf("got (%s, %s), want (%s, %s)", alive, dead, tc.alive, tc.dead)
			}
		})
	}
}

func TestLifetimeSearchPlan(t *testing.T) {
	got := lifetimeLadder(30 * time.Second)
	want := []time.Duration{1500 * time.Millisecond, 3 * time.Second, 6 * time.Second, 12 * time.Second, 24 * time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("ladder %v, want %v", got, want)
	}
	if got := refinePoints(6*time.Second, 12*time.Second); !slices.Equal(got, []time.Duration{7500 * time.Millisecond, 9 * time.Second, 10500 * time.Millisecond}) {
		t.Errorf("refine points %v", got)
	}
}

func TestRetransmitSchedules(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name  string
		sched transact.Schedule
		want  []time.Duration
	}{
		{"first contact: RFC 5389 500 ms doubling", firstContact, []time.Duration{0, 500 * ms, 1500 * ms, 2500 * ms}},
		{"LAN negative test: several tries in the window", negativePath(200 * time.Microsecond),
			[]time.Duration{0, 50 * ms, 150 * ms, 350 * ms, 550 * ms, 750 * ms, 950 * ms}},
		{"known slow path", knownPath(100 * ms), []time.Duration{0, 300 * ms, 800 * ms, 1300 * ms, 1800 * ms, 2300 * ms, 2800 * ms}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.sched.SendTimes(); !slices.Equal(got, tc.want) {
				t.Errorf("send times %v, want %v", got, tc.want)
			}
		})
	}
	if w := negativePath(400 * ms).Window; w != 2*time.Second {
		t.Errorf("negative window on a 400 ms path = %s, want 2 s (5 RTTs)", w)
	}
}

func TestChangedAsAsked(t *testing.T) {
	p := netip.MustParseAddrPort("203.0.113.10:3478")
	for _, tc := range []struct {
		name   string
		got    string
		change ChangeRequest
		want   bool
	}{
		{"both changed", "203.0.113.11:3479", ChangeRequest{true, true}, true},
		{"same address: fake", "203.0.113.10:3478", ChangeRequest{true, true}, false},
		{"only port changed for both", "203.0.113.10:3479", ChangeRequest{true, true}, false},
		{"port changed", "203.0.113.10:3479", ChangeRequest{ChangePort: true}, true},
		{"IP changed too for port-only", "203.0.113.11:3479", ChangeRequest{ChangePort: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := changedAsAsked(p, netip.MustParseAddrPort(tc.got), tc.change); got != tc.want {
				t.Errorf("got %t, want %t", got, tc.want)
			}
		})
	}
}
