package igd

import (
	"context"
	"slices"
	"testing"
)

// rulesProber is a router's port rules as data: allowed ranges, ports
// other clients hold, and how it picks a port when asked to.
type rulesProber struct {
	allowed []PortRange
	taken   map[uint16]bool
	mode    string // "", "nearest" (AddAnyPortMapping) or "walk" (PCP, NAT-PMP)
	asked   int
}

func (f *rulesProber) allows(p uint16) bool {
	for _, r := range f.allowed {
		if r.Contains(p) {
			return true
		}
	}
	return false
}

func (f *rulesProber) try(_ context.Context, p uint16) (portState, *MappingResult) {
	f.asked++
	switch {
	case f.taken[p]:
		return portTaken, nil
	case f.allows(p):
		return portAllowed, nil
	}
	return portRefused, nil
}

func (f *rulesProber) pick(_ context.Context, p uint16) (uint16, bool, bool, *MappingResult) {
	if f.mode == "" {
		return 0, false, false, nil
	}
	f.asked++
	free := func(q int) bool { return q >= 1 && q <= 65535 && f.allows(uint16(q)) && !f.taken[uint16(q)] }
	for d := 0; d < 65536; d++ {
		if f.mode == "walk" {
			if q := (int(p)+d-1)%65535 + 1; free(q) {
				return uint16(q), true, true, nil
			}
			continue
		}
		if free(int(p) - d) {
			return uint16(int(p) - d), true, true, nil
		}
		if free(int(p) + d) {
			return uint16(int(p) + d), true, true, nil
		}
	}
	return 0, false, true, &MappingResult{Refusal: RefusalTableFull, ErrorCode: ErrNoPortMapsAvailable}
}

func (f *rulesProber) walksUp() bool { return f.mode == "walk" }

func TestPortSearch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		allowed []PortRange
		taken   []uint16
		mode    string
		want    []PortRange
		maxAsk  int
	}{
		{"one small range, AddAnyPortMapping", []PortRange{{40000, 40100}}, nil, "nearest", []PortRange{{40000, 40100}}, 40},
		{"one small range, PCP walks up", []PortRange{{40000, 40100}}, nil, "walk", []PortRange{{40000, 40100}}, 40},
		{"two ranges, AddAnyPortMapping", []PortRange{{12000, 12999}, {50000, 50099}}, nil, "nearest", []PortRange{{12000, 12999}, {50000, 50099}}, 70},
		{"IGDv1: exact ports only, a wide range", []PortRange{{20000, 39999}}, nil, "", []PortRange{{20000, 39999}}, 70},
		{"everything from 1024", []PortRange{{1024, 65535}}, nil, "", []PortRange{{1024, 65535}}, 40},
		{"a foreign mapping at the edge is not a boundary", []PortRange{{40000, 40100}}, []uint16{40000}, "nearest", []PortRange{{40000, 40100}}, 40},
		{"nothing allowed", nil, nil, "", nil, maxSearchRequests + fineSeeds + fineBisect},
		{"nothing allowed, the router chooses", nil, nil, "nearest", nil, 40},
		{"IGDv1: a 600-port range between the seeds", []PortRange{{23000, 23599}}, nil, "", []PortRange{{23000, 23599}}, maxSearchRequests + fineSeeds + fineBisect},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &rulesProber{allowed: tc.allowed, mode: tc.mode, taken: map[uint16]bool{}}
			for _, p := range tc.taken {
				f.taken[p] = true
			}
			s := &portSearch{p: f, known: map[uint16]portState{}, skip: func(p uint16) bool { return f.taken[p] }}
			got := s.run(context.Background())
			if !slices.Equal(got, tc.want) {
				t.Errorf("ranges %v, want %v", got, tc.want)
			}
			if f.asked > tc.maxAsk || s.requests != f.asked {
				t.Errorf("%d requests (counted %d), want at most %d", f.asked, s.requests, tc.maxAsk)
			}
			t.Logf("%d requests", f.asked)
		})
	}
}

func TestAllowedRanges(t *testing.T) {
	known := map[uint16]portState{
		9999: portRefused, 10000: portAllowed, 10005: portTaken, 10010: portAllowed, 10011: portRefused,
		20000: portAllowed, 30000: portRefused, 30001: portTaken,
	}
	want := []PortRange{{10000, 10010}, {20000, 20000}, {30001, 30001}}
	if got := allowedRanges(known); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestRangeFrom(t *testing.T) {
	rs := []PortRange{{5000, 5009}, {10000, 10019}, {40000, 40100}}
	want := []PortRange{{10005, 10019}, {40000, 40100}, {5000, 5009}, {10000, 10004}}
	if got := rangeFrom(rs, 10005); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestRTPAdvice(t *testing.T) {
	rtp := PortRange{10000, 20000}
	for _, tc := range []struct {
		name    string
		allowed []PortRange
		want    string
	}{
		{"covered", []PortRange{{1024, 65535}}, ""},
		{"elsewhere", []PortRange{{5000, 5009}, {40000, 40100}},
			"Forward UDP 10000-20000 by hand, or set the SIP server's RTP range to the allowed 40000-40100 (50 RTP/RTCP pairs)."},
		{"nothing", nil, "Forward UDP 10000-20000 (the RTP range) and the SIP port by hand: the router's UPnP rules allow none of the ports natdoc tried."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := rtpAdvice(rtp, tc.allowed); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestClassifyRefusal(t *testing.T) {
	for _, tc := range []struct {
		via  string
		code int
		want Refusal
	}{
		{"upnp-igd2", ErrNotAuthorized, RefusalPermission},
		{"upnp-igd1", ErrConflictInMapping, RefusalPortTaken},
		{"upnp-igd2", ErrNoPortMapsAvailable, RefusalTableFull},
		{"upnp-igd1", ErrOnlyPermanentLeases, RefusalLease},
		{"upnp-igd1", ErrSamePortValues, RefusalSamePort},
		{"upnp-igd1", ErrActionFailed, RefusalOther},
		{ViaPCP, PCPNotAuthorized, RefusalPermission},
		{ViaPCP, PCPCannotProvideExt, RefusalPermission},
		{ViaPCP, PCPNoResources, RefusalTableFull},
		{ViaPCP, PCPUserExQuota, RefusalTableFull},
		{ViaPCP, PCPUnsuppProtocol, RefusalProtocol},
		{ViaPCP, PCPAddressMismatch, RefusalAddress},
		{ViaNATPMP, NATPMPNotAuthorized, RefusalPermission},
		{ViaNATPMP, NATPMPNoResources, RefusalTableFull},
		{ViaNATPMP, NATPMPNetworkFailure, RefusalOther},
		{ViaPCP, 0, RefusalNone},
	} {
		if got := ClassifyRefusal(tc.via, tc.code); got != tc.want {
			t.Errorf("%s %d: %q, want %q", tc.via, tc.code, got, tc.want)
		}
	}
}

// go-nat-pmp reports result codes only in its error text.
func TestNATPMPErrorFromLibraryText(t *testing.T) {
	err := asNATPMPError(errText("Non-zero result code 2 (Not Authorized/Refused)"))
	if RefusalCode(err) != NATPMPNotAuthorized {
		t.Errorf("%v", err)
	}
	if err := asNATPMPError(errText("Timed out trying to contact gateway")); RefusalCode(err) != 0 {
		t.Errorf("timeout read as refusal: %v", err)
	}
}

type errText string

func (e errText) Error() string { return string(e) }
