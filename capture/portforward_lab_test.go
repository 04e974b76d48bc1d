//go:build linux

package capture

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/phone"
)

// TestLabRTPPortsNotForwarded: a PBX (a natdoc phone) behind a real
// router names the router's public address and its own RTP port in SDP,
// and the router forwards UDP 5060 and RTP ports 20000-20035 to it. It
// calls a trunk outside eight times (the trunk sends RTP from another
// port than it receives on, so the PBX's own RTP opens nothing for it),
// on its ports 20000, 20010, ... 20070. Captured on the PBX's host: the
// first four calls two-way, the last four one-way (the PBX cannot hear),
// and the capture names the router's forward as what the calls show
// together.
func TestLabRTPPortsNotForwarded(t *testing.T) {
	natlab.Require(t)
	lab := natlab.New(t)
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{
		Mapping: natlab.EndpointIndependent,
		Forwards: []natlab.Forward{{Proto: "udp", Ports: "5060", To: "192.168.1.20"},
			{Proto: "udp", Ports: "20000-20035", To: "192.168.1.20"}},
	}})
	pbxHost := r1.LANHost("pbx", "192.168.1.20")
	trunkHost := lab.PublicHost("trunk", "198.51.100.10")
	pcap := filepath.Join(t.TempDir(), "pbx.pcap")
	dump := pbxHost.StartTcpdump(t, pcap, "udp")
	for _, port := range []int{20000, 20010, 20020, 20030, 20040, 20050, 20060, 20070} {
		pbx, closePBX := hostPhone(t, pbxHost, "pbx", "198.51.100.10",
			phone.Config{SDPMode: phone.SDPExplicit, SDPAddr: netip.MustParseAddr("203.0.113.1"), RTPPort: port, Symmetric: true})
		trunk, closeTrunk := hostPhone(t, trunkHost, "trunk", "203.0.113.1", phone.Config{SDPMode: phone.SDPLocal})
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		var wg sync.WaitGroup
		wg.Go(func() {
			if _, err := trunk.Answer(ctx, 10*time.Second); err != nil {
				t.Errorf("the trunk answers the PBX's call on port %d: %v", port, err)
			}
		})
		if _, err := pbx.Call(ctx, "trunk", 2*time.Second); err != nil {
			t.Errorf("the PBX calls on port %d: %v", port, err)
		}
		wg.Wait()
		cancel()
		closePBX()
		closeTrunk()
	}
	time.Sleep(300 * time.Millisecond) // the last packets into the capture
	dump.Stop()

	res := analyzePath(t, pcap)
	var verdicts []string
	for _, c := range res.Calls {
		verdicts = append(verdicts, string(c.Verdict)+"/"+c.CannotHear)
	}
	if strings.Join(verdicts, " ") != "two-way/ two-way/ two-way/ two-way/ one-way/caller one-way/caller one-way/caller one-way/caller" {
		t.Errorf("verdicts %v, want four two-way calls, then four the caller cannot hear", verdicts)
	}
	var found []string
	for _, f := range res.Findings {
		if f.ID == IDRTPRangePartlyForwarded {
			found = append(found, f.Title)
		}
	}
	want := "RTP reaches 192.168.1.20 (its SDP names 203.0.113.1) only on some of its ports: 4 calls on ports 20000-20030 were heard, " +
		"4 calls on ports 20040-20070 above them were not"
	if len(found) != 1 || !strings.HasPrefix(found[0], want) {
		t.Errorf("%s findings %q, want %q", IDRTPRangePartlyForwarded, found, want)
	}
}
