package stunserver_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/natdoc/natdoc/diagnose/stunprobe"
	"github.com/natdoc/natdoc/diagnose/stunserver"
	"github.com/natdoc/natdoc/report"
)

// startLoopback runs the server on 127.0.0.1 and 127.0.0.2 (all of
// 127.0.0.0/8 is local on Linux), trying a few port pairs.
func startLoopback(t *testing.T) *stunserver.Server {
	t.Helper()
	for port := uint16(34780); port < 34880; port += 2 {
		srv, err := stunserver.Listen(stunserver.Config{
			Primary:   netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port),
			Alternate: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), port+1),
		})
		if err != nil {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { srv.Serve(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		return srv
	}
	t.Skip("no free loopback port pair (or 127.0.0.2 not local on this OS)")
	return nil
}

// Without a NAT between them, the probe must see "no NAT" and an open
// filter, with every RFC 5780 answer really from the changed address.
func TestProbeAgainstServerOnLoopback(t *testing.T) {
	srv := startLoopback(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := stunprobe.Run(ctx, stunprobe.Config{Servers: []string{srv.Addrs()[0].String()}, Lifetime: true, LifetimeMax: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Mapping.Behaviour != report.BehaviourNoNAT || res.Filtering.Behaviour != report.BehaviourEndpointIndependent {
		t.Errorf("mapping %q filtering %q (%s), want no-nat and endpoint-independent", res.Mapping.Behaviour, res.Filtering.Behaviour, res.Filtering.Note)
	}
	if res.Filtering.ChangeIPAndPort != stunprobe.OutcomeAnswered || res.Filtering.ChangePort != stunprobe.OutcomeAnswered {
		t.Errorf("filtering tests %+v", res.Filtering)
	}
	if l := res.Lifetime; l == nil || l.Min != 3*time.Second || l.Max != 0 {
		t.Errorf("lifetime %+v, want alive after 3 s (RESPONSE-PORT honoured, nothing expires)", res.Lifetime)
	}
	if len(res.Anomalies) != 0 {
		t.Errorf("anomalies %+v", res.Anomalies)
	}
	if srv.Stats.AnsweredFromOther.Load() == 0 || srv.Stats.Answered.Load() < 4 {
		t.Errorf("server stats: answered %d, from the other address %d", srv.Stats.Answered.Load(), srv.Stats.AnsweredFromOther.Load())
	}
}

// IPv6: a one-address server on ::1 answers plain STUN; the probe over
// udp6 sees no NAT and knows it could not test filtering.
func TestProbeIPv6OnLoopback(t *testing.T) {
	var srv *stunserver.Server
	for port := uint16(34880); port < 34900 && srv == nil; port++ {
		srv, _ = stunserver.Listen(stunserver.Config{Primary: netip.AddrPortFrom(netip.IPv6Loopback(), port)})
	}
	if srv == nil {
		t.Skip("no IPv6 loopback here")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	res, err := stunprobe.Run(ctx, stunprobe.Config{Network: "udp6", Servers: []string{srv.Addrs()[0].String()}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Servers[0].Answered() || !res.Servers[0].Mapped.Addr().Is6() || res.Filtering.Behaviour != report.BehaviourUnknown || res.Filtering.Note == "" ||
		res.Mapping.Behaviour != report.BehaviourNoNAT {
		t.Errorf("udp6 result %+v", res)
	}
	if n := stunprobe.NATReport(res); n.Network != "udp6" || n.MappedAddr == "" {
		t.Errorf("report %+v", n)
	}
}

// Mapping only (diagnose's probe from the RTP port): the mapping tests,
// and nothing of filtering, hairpinning or lifetime.
func TestMappingOnlyAgainstServerOnLoopback(t *testing.T) {
	srv := startLoopback(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := stunprobe.Run(ctx, stunprobe.Config{Servers: []string{srv.Addrs()[0].String()}, MappingOnly: true, Lifetime: true, TCP: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Mapping.Behaviour != report.BehaviourNoNAT || res.Mapping.Test1 != res.Local {
		t.Errorf("mapping %+v, want no-nat", res.Mapping)
	}
	if res.Filtering.ChangeIPAndPort != stunprobe.OutcomeNotRun || res.Filtering.Behaviour != report.BehaviourUnknown ||
		res.Hairpin.Works != report.TriUnknown || res.Lifetime != nil || res.TCP != nil {
		t.Errorf("tests beyond the mapping ran: filtering %+v hairpin %+v lifetime %v tcp %v", res.Filtering, res.Hairpin, res.Lifetime, res.TCP)
	}
	if n := srv.Stats.Answered.Load(); n > 3 || srv.Stats.AnsweredFromOther.Load() != 0 {
		t.Errorf("server answered %d (%d from the other address), want the Binding and mapping tests II and III only", n, srv.Stats.AnsweredFromOther.Load())
	}
}
