//go:build linux

package igd

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/diagnose/netenv"
)

// serve --upnp's forwarding against miniupnpd whose rules refuse the
// server's RTP range: the pairs go to a range they allow, the mappings
// outlive their 6 s lease because they are renewed, and Close leaves the
// table as it was.
func TestLabForwardForServer(t *testing.T) {
	t.Parallel()
	n := newLabNet(t, []string{"5060 192.168.1.0/24 5060", "40000-40100 192.168.1.0/24 40000-40100"})
	before, listed := n.routerTable(t), n.igd.Mappings(t, n.phone)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opt := Options{Env: netenv.Env{Do: n.phone.Do}, URL: n.igd.RootURL}
	f, err := ForwardForServer(ctx, opt, ServerForward{SIPPort: 5060, RTP: PortRange{20000, 20099}, Pairs: 4,
		Lease: 6 * time.Second, Journal: OpenJournal(n.journal())})
	if err != nil {
		t.Fatal(err)
	}
	if !f.Moved || f.Pairs != 4 || f.RTP != (PortRange{40000, 40007}) || f.External.String() != "203.0.113.1" || len(f.Mapped) != 9 {
		t.Errorf("forwarding %+v", f)
	}
	ids := map[string]bool{}
	for _, fd := range f.Findings {
		ids[string(fd.ID)] = true
	}
	if !ids[string(FindingRTPMoved)] || !ids[string(FindingForwarded)] || ids[string(FindingMappingLimit)] {
		t.Errorf("findings %+v", f.Findings)
	}
	time.Sleep(10 * time.Second) // well past the lease: alive only if renewed
	live := n.igd.Mappings(t, n.phone)
	if len(live) != len(listed)+9 || !slices.ContainsFunc(live, func(s string) bool { return strings.Contains(s, "40007->192.168.1.10:40007") }) {
		t.Errorf("after 10 s of 6 s leases: %q", live)
	}
	if k, err := f.Renewals(); k < 2 || err != nil {
		t.Errorf("%d renewals, last error %v", k, err)
	}
	if removed, err := f.Close(); removed != 9 || err != nil {
		t.Errorf("close: %d removed, %v", removed, err)
	}
	n.checkTableUnchanged(t, before, "changed")
	if after := n.igd.Mappings(t, n.phone); !slices.Equal(after, listed) {
		t.Errorf("upnpc -l before %q, after %q", listed, after)
	}
	if p, _, _ := OpenJournal(n.journal()).Pending(); len(p) != 0 {
		t.Errorf("journal holds %d", len(p))
	}
}
