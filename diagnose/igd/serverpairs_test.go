package igd

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ig "github.com/huin/goupnp/dcps/internetgateway2"
	"github.com/natdoc/natdoc/report"
)

// forwardFake runs ForwardForServer against f with sf's RTP range,
// SIP 5060 and a journal of its own; Close runs when the test ends.
func forwardFake(t *testing.T, f *fakeIGD, sf ServerForward) (*Forwarding, *Journal) {
	t.Helper()
	j := OpenJournal(filepath.Join(t.TempDir(), "journal.jsonl"))
	sf.SIPPort, sf.Journal = 5060, j
	if sf.Lease == 0 {
		sf.Lease = time.Hour
	}
	fw, err := ForwardForServer(context.Background(), testOptions(f.URL()), sf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fw.Close() })
	return fw, j
}

// tablePorts lists the external UDP ports in the fake's table mapped to
// client.
func tablePorts(f *fakeIGD, client string) []uint16 {
	var out []uint16
	for _, e := range f.snapshot() {
		if e.proto == "UDP" && e.client == client {
			out = append(out, e.ext)
		}
	}
	slices.Sort(out)
	return out
}

func hasID(fs []report.Finding, id report.FindingID) *report.Finding {
	for i := range fs {
		if fs[i].ID == id {
			return &fs[i]
		}
	}
	return nil
}

// Pairs come and go while the server runs: added from the lowest free
// pair of the range, released from the router at once, and the released
// ones used again first; Close leaves the table and the journal empty.
func TestForwardPairsGrowAndRelease(t *testing.T) {
	f := newFakeIGD(t, ig.URN_WANIPConnection_1)
	fw, j := forwardFake(t, f, ServerForward{RTP: PortRange{20000, 20099}, Pairs: 2})
	if fw.Pairs != 2 || fw.RTP != (PortRange{20000, 20003}) || fw.Moved || len(fw.Mapped) != 5 || fw.Mapped[0] != "5060/UDP" {
		t.Fatalf("start: %+v", fw)
	}
	added, err := fw.AddPairs(context.Background(), 3)
	if err != nil || !slices.Equal(added, []uint16{20004, 20006, 20008}) {
		t.Fatalf("added %v, %v", added, err)
	}
	if err := fw.ReleasePairs(context.Background(), 20002, 20006); err != nil {
		t.Fatal(err)
	}
	want := []uint16{5060, 20000, 20001, 20004, 20005, 20008, 20009}
	if got := tablePorts(f, "127.0.0.1"); !slices.Equal(got, want) {
		t.Fatalf("table %v, want %v", got, want)
	}
	if added, _ := fw.AddPairs(context.Background(), 1); !slices.Equal(added, []uint16{20002}) {
		t.Errorf("after release, added %v, want the lowest free pair 20002", added)
	}
	st := fw.Stats()
	if st.Held != 4 || st.Peak != 5 || st.Added != 6 || st.Released != 2 || st.Limit != nil ||
		!slices.Equal(st.Ranges, []PortRange{{20000, 20005}, {20008, 20009}}) {
		t.Errorf("stats %+v", st)
	}
	if fd := fw.PairsFinding(); fd.ID != FindingRTPPairs || !strings.Contains(fd.Title, "at most 5 at once, 6 added and 2 released") {
		t.Errorf("summary %+v", fd)
	}
	if removed, err := fw.Close(); removed != 9 || err != nil {
		t.Errorf("close: %d removed, %v", removed, err)
	}
	if len(f.snapshot()) != 0 {
		t.Errorf("table after close %+v", f.snapshot())
	}
	if p, _, _ := j.Pending(); len(p) != 0 {
		t.Errorf("journal pending %v", p)
	}
	if _, err := fw.AddPairs(context.Background(), 1); err == nil {
		t.Error("AddPairs after Close mapped")
	}
}

// A full table (728) ends growth with a finding; natdoc does not ask
// again at once, but does below the count the router took before.
func TestForwardPairsTableFull(t *testing.T) {
	f := newFakeIGD(t, ig.URN_WANIPConnection_1)
	f.limit = 8 // SIP, three pairs, and one port of a fourth
	fw, _ := forwardFake(t, f, ServerForward{RTP: PortRange{20000, 20099}, Pairs: 2})
	added, err := fw.AddPairs(context.Background(), 5)
	if err != nil || !slices.Equal(added, []uint16{20004}) {
		t.Fatalf("added %v, %v", added, err)
	}
	st := fw.Stats()
	if st.Limit == nil || st.Limit.Cause != CauseTableSize || st.Limit.At != 3 || st.Limit.Refusal.ErrorCode != 728 {
		t.Fatalf("limit %+v", st.Limit)
	}
	// The first port of the refused pair was given back.
	if got := tablePorts(f, "127.0.0.1"); len(got) != 7 {
		t.Errorf("table %v: the half pair stayed", got)
	}
	fd := hasID(fw.LaterFindings(), FindingMappingLimit)
	if fd == nil || !strings.Contains(fd.Title, "table is full after 3 RTP pairs") || !strings.Contains(fd.Remedy, "by hand") {
		t.Errorf("findings %+v", fw.LaterFindings())
	}
	asked := f.count("AddPortMapping")
	if added, _ := fw.AddPairs(context.Background(), 1); len(added) != 0 || f.count("AddPortMapping") != asked {
		t.Errorf("asked the full router again at once: added %v, %d requests", added, f.count("AddPortMapping")-asked)
	}
	fw.ReleasePairs(context.Background(), 20000)
	if added, _ := fw.AddPairs(context.Background(), 1); !slices.Equal(added, []uint16{20000}) {
		t.Errorf("below the router's count, added %v", added)
	}
	if n := len(fw.LaterFindings()); n != 1 {
		t.Errorf("%d later findings, want the limit told once", n)
	}
}

// The rules refuse the rest of the server's range: growth searches for
// the ranges they allow, goes on there (around another client's
// mapping, which it never touches), and says so.
func TestForwardPairsPermissionMoves(t *testing.T) {
	f := newFakeIGD(t, ig.URN_WANIPConnection_1)
	f.allowed = []PortRange{{5060, 5060}, {20000, 20003}, {40000, 40100}}
	f.add(fakeEntry{proto: "UDP", client: "192.168.1.50", desc: "other", ext: 40002, in: 40002})
	fw, _ := forwardFake(t, f, ServerForward{RTP: PortRange{20000, 20099}, Pairs: 2})
	if len(fw.LaterFindings()) != 0 || fw.Moved {
		t.Fatalf("start moved: %+v", fw)
	}
	added, err := fw.AddPairs(context.Background(), 3)
	if err != nil || !slices.Equal(added, []uint16{40000, 40004, 40006}) {
		t.Fatalf("added %v, %v", added, err)
	}
	fd := hasID(fw.LaterFindings(), FindingRTPMoved)
	if fd == nil || !strings.Contains(fd.Title, "40000-40100") {
		t.Errorf("findings %+v", fw.LaterFindings())
	}
	if fw.Stats().Limit != nil {
		t.Errorf("a refused port read as a limit: %+v", fw.Stats().Limit)
	}
	fw.Close()
	if got := f.snapshot(); len(got) != 1 || got[0].desc != "other" {
		t.Errorf("table after close %+v", got)
	}
}

// The rules allow only eight RTP ports: four pairs, then growth stops with
// the cause, and asks no more.
func TestForwardPairsPermissionLimit(t *testing.T) {
	f := newFakeIGD(t, ig.URN_WANIPConnection_1)
	f.allowed = []PortRange{{5060, 5060}, {20000, 20007}}
	fw, _ := forwardFake(t, f, ServerForward{RTP: PortRange{20000, 20099}, Pairs: 2})
	added, err := fw.AddPairs(context.Background(), 10)
	if err != nil || !slices.Equal(added, []uint16{20004, 20006}) {
		t.Fatalf("added %v, %v", added, err)
	}
	l := fw.Stats().Limit
	if l == nil || l.Cause != CausePermission || l.At != 4 || !slices.Equal(l.Allowed, []PortRange{{20000, 20007}}) {
		t.Fatalf("limit %+v", l)
	}
	if fd := hasID(fw.LaterFindings(), FindingMappingLimit); fd == nil || !strings.Contains(fd.Title, "rules allow no more ports after 4 RTP pairs") {
		t.Errorf("findings %+v", fw.LaterFindings())
	}
	asked := f.count("AddPortMapping")
	if added, _ := fw.AddPairs(context.Background(), 1); len(added) != 0 || f.count("AddPortMapping") != asked {
		t.Errorf("asked again: added %v", added)
	}
}

// A mapping of this host's own (a softphone) in the range is read back
// and passed over: asking for it would overwrite it.
func TestForwardPairsSkipsOwnHostMapping(t *testing.T) {
	f := newFakeIGD(t, ig.URN_WANIPConnection_1)
	f.add(fakeEntry{proto: "UDP", client: "127.0.0.1", desc: "softphone", ext: 20003, in: 5062})
	fw, _ := forwardFake(t, f, ServerForward{RTP: PortRange{20000, 20099}, Pairs: 2})
	if fw.Pairs != 2 || !slices.Contains(fw.Mapped, "20004/UDP") || slices.Contains(fw.Mapped, "20002/UDP") {
		t.Fatalf("mapped %v", fw.Mapped)
	}
	fw.Close()
	if got := f.snapshot(); len(got) != 1 || got[0].desc != "softphone" || got[0].in != 5062 {
		t.Errorf("table after close %+v", got)
	}
}

// MaxPairs caps growth: an info finding, no router limit.
func TestForwardPairsCap(t *testing.T) {
	f := newFakeIGD(t, ig.URN_WANIPConnection_1)
	fw, _ := forwardFake(t, f, ServerForward{RTP: PortRange{20000, 20099}, Pairs: 2, MaxPairs: 3})
	if added, _ := fw.AddPairs(context.Background(), 5); len(added) != 1 {
		t.Fatalf("added %v", added)
	}
	fd := hasID(fw.LaterFindings(), FindingRTPPairsUsedUp)
	if l := fw.Stats().Limit; l == nil || l.Cause != CauseMaxPairs || fd == nil || fd.Severity != report.SeverityInfo {
		t.Errorf("limit %+v findings %+v", l, fw.LaterFindings())
	}
}

// Pairs the server uses without forwarding are passed over; when only
// those are left, growth stops without a limit, and goes on once they are
// free.
func TestForwardPairsSkipBusy(t *testing.T) {
	f := newFakeIGD(t, ig.URN_WANIPConnection_1)
	fw, _ := forwardFake(t, f, ServerForward{RTP: PortRange{20000, 20007}, Pairs: 1})
	busy := map[uint16]bool{20002: true, 20006: true}
	var mu sync.Mutex
	fw.SkipBusy(func(b uint16) bool { mu.Lock(); defer mu.Unlock(); return busy[b] })
	if added, err := fw.AddPairs(context.Background(), 3); err != nil || !slices.Equal(added, []uint16{20004}) {
		t.Fatalf("added %v, %v; want 20004 only", added, err)
	}
	if l := fw.Stats().Limit; l != nil {
		t.Errorf("limit %+v while pairs are only busy", l)
	}
	mu.Lock()
	clear(busy)
	mu.Unlock()
	if added, _ := fw.AddPairs(context.Background(), 3); !slices.Equal(added, []uint16{20002, 20006}) {
		t.Errorf("once free, added %v", added)
	}
	if l := fw.Stats().Limit; l == nil || l.Cause != CauseRTPRange {
		t.Errorf("every pair forwarded: limit %+v", l)
	}
}

// Renewals, growth and releases at once (leases of 2 s, renewed every
// second): a released pair is never re-created by a renewal running
// beside it, and Close leaves nothing.
func TestForwardPairsRenewDuringChurn(t *testing.T) {
	f := newFakeIGD(t, ig.URN_WANIPConnection_1)
	fw, j := forwardFake(t, f, ServerForward{RTP: PortRange{20000, 20099}, Pairs: 2, Lease: 2 * time.Second})
	ctx := context.Background()
	var wg sync.WaitGroup
	var released []uint16 // read after wg.Wait; a fast machine releases thousands
	wg.Go(func() {
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
			added, err := fw.AddPairs(ctx, 2)
			if err != nil {
				t.Error(err)
				return
			}
			if err := fw.ReleasePairs(ctx, added...); err != nil {
				t.Error(err)
			}
			released = append(released, added...)
		}
	})
	wg.Wait()
	if n, _ := fw.Renewals(); n < 2 {
		t.Errorf("%d renewals in 3 s of 2 s leases", n)
	}
	held := map[uint16]bool{}
	for _, p := range tablePorts(f, "127.0.0.1") {
		held[p] = true
	}
	for _, b := range released {
		if held[b] && b >= 20004 {
			t.Errorf("released pair %d is on the router", b)
		}
	}
	if removed, err := fw.Close(); removed != 5 || err != nil || len(f.snapshot()) != 0 {
		t.Errorf("close: %d removed, %v, table %+v", removed, err, f.snapshot())
	}
	if p, _, _ := j.Pending(); len(p) != 0 {
		t.Errorf("journal pending %d", len(p))
	}
}

// The SIP port held on the router by another device: an IGDv2 router
// chooses another outside port for UDP (AddAnyPortMapping), TCP takes the
// same, and SIPExternal names it; an IGDv1 router, which cannot choose,
// refuses as before.
func TestForwardSIPPortHeld(t *testing.T) {
	f := newFakeIGD(t, ig.URN_WANIPConnection_2)
	f.add(fakeEntry{proto: "UDP", client: "192.168.1.99", desc: "other", ext: 5060, in: 5060})
	fw, _ := forwardFake(t, f, ServerForward{RTP: PortRange{20000, 20099}, TCP: true})
	if fw.SIPExternal == 5060 || fw.SIPExternal == 0 {
		t.Fatalf("SIP outside port %d", fw.SIPExternal)
	}
	want := fmt.Sprintf("%d/UDP to 5060", fw.SIPExternal)
	if !slices.Contains(fw.Mapped, want) || !slices.Contains(fw.Mapped, fmt.Sprintf("%d/TCP to 5060", fw.SIPExternal)) {
		t.Errorf("mapped %v, want %q and its TCP twin", fw.Mapped, want)
	}
	for _, e := range f.snapshot() {
		if e.client == "127.0.0.1" && e.ext == fw.SIPExternal && e.in != 5060 {
			t.Errorf("entry %+v", e)
		}
	}

	v1 := newFakeIGD(t, ig.URN_WANIPConnection_1)
	v1.add(fakeEntry{proto: "UDP", client: "192.168.1.99", desc: "other", ext: 5060, in: 5060})
	sf := ServerForward{SIPPort: 5060, RTP: PortRange{20000, 20099}, Lease: time.Hour, Journal: OpenJournal(filepath.Join(t.TempDir(), "j.jsonl"))}
	if fw, err := ForwardForServer(context.Background(), testOptions(v1.URL()), sf); err == nil {
		fw.Close()
		t.Error("an IGDv1 router holding 5060 forwarded it")
	}
}

// An outside port named for SIP (natdoc serve --public-addr HOST:5080
// --upnp) is forwarded to the SIP port as it is; held by another device,
// it is refused, not moved.
func TestForwardSIPOutsidePort(t *testing.T) {
	f := newFakeIGD(t, ig.URN_WANIPConnection_2)
	fw, _ := forwardFake(t, f, ServerForward{SIPOutside: 5080, RTP: PortRange{20000, 20099}})
	if fw.SIPExternal != 5080 || !slices.Contains(fw.Mapped, "5080/UDP to 5060") {
		t.Fatalf("forwarded %d, mapped %v", fw.SIPExternal, fw.Mapped)
	}
	held := newFakeIGD(t, ig.URN_WANIPConnection_2)
	held.add(fakeEntry{proto: "UDP", client: "192.168.1.99", desc: "other", ext: 5080, in: 5080})
	sf := ServerForward{SIPPort: 5060, SIPOutside: 5080, RTP: PortRange{20000, 20099}, Lease: time.Hour, Journal: OpenJournal(filepath.Join(t.TempDir(), "j.jsonl"))}
	if fw, err := ForwardForServer(context.Background(), testOptions(held.URL()), sf); err == nil {
		fw.Close()
		t.Errorf("forwarded %d though 5080 is held", fw.SIPExternal)
	}
}
