package capture_test

import (
	"context"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

func TestCallFilterMatch(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	c := report.Call{CallID: "abc@x", Verdict: report.VerdictOneWay, Start: t0, End: t0.Add(time.Minute),
		Caller: report.Party{User: "Alice", SignalAddr: "203.0.113.1:5060"}, Callee: report.Party{User: "100", Display: "Front Desk"},
		Streams: []report.MediaStream{{Offer: &report.MediaDescription{Addr: "192.168.1.10:10000"},
			Flows: []report.RTPFlow{{Src: "198.51.100.20:30000", Dst: "192.168.1.10:10000"}}}}}
	for _, tc := range []struct {
		name string
		f    *capture.CallFilter
		want bool
	}{
		{"none", nil, true},
		{"SIP source", &capture.CallFilter{Hosts: []netip.Addr{netip.MustParseAddr("203.0.113.1")}}, true},
		{"SDP address", &capture.CallFilter{Hosts: []netip.Addr{netip.MustParseAddr("192.168.1.10")}}, true},
		{"media end", &capture.CallFilter{Hosts: []netip.Addr{netip.MustParseAddr("198.51.100.20")}}, true},
		{"other host", &capture.CallFilter{Hosts: []netip.Addr{netip.MustParseAddr("10.0.0.1")}}, false},
		{"user, any case", &capture.CallFilter{User: "alic"}, true},
		{"display name", &capture.CallFilter{User: "desk"}, true},
		{"other user", &capture.CallFilter{User: "bob"}, false},
		{"call-id", &capture.CallFilter{CallID: "abc@x"}, true},
		{"other call-id", &capture.CallFilter{CallID: "abc"}, false},
		{"verdict", &capture.CallFilter{Verdicts: []report.Verdict{report.VerdictNoWay, report.VerdictOneWay}}, true},
		{"other verdict", &capture.CallFilter{Verdicts: []report.Verdict{report.VerdictTwoWay}}, false},
		{"overlaps since", &capture.CallFilter{Since: t0.Add(30 * time.Second)}, true},
		{"ended before since", &capture.CallFilter{Since: t0.Add(2 * time.Minute)}, false},
		{"started after until", &capture.CallFilter{Until: t0.Add(-time.Second)}, false},
		{"all at once", &capture.CallFilter{User: "100", Verdicts: []report.Verdict{report.VerdictOneWay}, Until: t0}, true},
	} {
		if got := tc.f.Match(c); got != tc.want {
			t.Errorf("%s: Match = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestFilterKeepsVerdictsAndNames: a filtered analysis reports exactly the
// unfiltered analysis's calls that match, with the same names and verdicts.
func TestFilterKeepsVerdictsAndNames(t *testing.T) {
	path, _ := generate(t, pcapgen.AllKinds(), pcapgen.Options{Seed: 3})
	all, err := capture.Analyze(context.Background(), capture.Options{Files: []string{path}, Detail: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []*capture.CallFilter{
		{Verdicts: []report.Verdict{report.VerdictOneWay}},
		{Verdicts: []report.Verdict{report.VerdictTwoWay, report.VerdictOnHold}},
		{Hosts: []netip.Addr{netip.MustParseAddr("2001:db8:1::10")}},
		{Until: all.Calls[2].Start},
	} {
		got, err := capture.Analyze(context.Background(), capture.Options{Files: []string{path}, Detail: true, Filter: f})
		if err != nil {
			t.Fatal(err)
		}
		var want []report.Call
		for _, c := range all.Calls {
			if f.Match(c) {
				want = append(want, c)
			}
		}
		if len(want) == 0 || len(want) == len(all.Calls) {
			t.Fatalf("filter %+v selects %d of %d calls: not a test", f, len(want), len(all.Calls))
		}
		if !reflect.DeepEqual(got.Calls, want) {
			t.Errorf("filter %+v: %d calls, want %d, or they differ", f, len(got.Calls), len(want))
		}
	}
}
