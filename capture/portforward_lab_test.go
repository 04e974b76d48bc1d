//go:build linux

package capture

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/phone"
)

// TestLabRTPPortsNotForwarded: a PBX (a natdoc phone) behind a real
// router names the router's public address and its own RTP port in SDP,
// and the router forwards UDP 5060 and a part of its RTP ports to it. It
// calls a trunk outside once on each port (the trunk sends RTP from
// another port than it receives on, so the PBX's own RTP opens nothing
// for it). Captured on the PBX's host: the calls on forwarded ports
// two-way, the others one-way (the PBX cannot hear), and the capture
// names the router's forward as what the calls show together. "start":
// ports 20000-20035 forwarded, calls on 20000, 20010, ... 20070;
// "window": 20030-20065 forwarded, calls on 20000 ... 20090.
func TestLabRTPPortsNotForwarded(t *testing.T) {
	natlab.Require(t)
	for _, tc := range []struct {
		name, forward string
		calls         int
		want          string
	}{
		{"start", "20000-20035", 8, "4 calls on ports 20000-20030 were heard, 4 calls on ports 20040-20070 above them were not"},
		{"window", "20030-20065", 10, "4 calls on ports 20030-20060 were heard, 6 calls on ports 20000-20090 below and above them were not"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := partlyForwardedCalls(t, tc.forward, tc.calls)
			var verdicts, wantVerdicts []string
			for k, c := range res.Calls {
				verdicts = append(verdicts, string(c.Verdict)+"/"+c.CannotHear)
				if port := 20000 + 10*k; inPortRange(tc.forward, port) {
					wantVerdicts = append(wantVerdicts, "two-way/")
				} else {
					wantVerdicts = append(wantVerdicts, "one-way/caller")
				}
			}
			if !slices.Equal(verdicts, wantVerdicts) {
				t.Errorf("verdicts %v, want %v", verdicts, wantVerdicts)
			}
			var found []string
			for _, f := range res.Findings {
				if f.ID == IDRTPRangePartlyForwarded {
					found = append(found, f.Title)
				}
			}
			want := "RTP reaches 192.168.1.20 (its SDP names 203.0.113.1) only on some of its ports: " + tc.want
			if len(found) != 1 || !strings.HasPrefix(found[0], want) {
				t.Errorf("%s findings %q, want %q", IDRTPRangePartlyForwarded, found, want)
			}
		})
	}
}

// inPortRange says whether port lies in the range lo-hi.
func inPortRange(ports string, port int) bool {
	var lo, hi int
	fmt.Sscanf(ports, "%d-%d", &lo, &hi)
	return port >= lo && port <= hi
}

// partlyForwardedCalls makes the lab of TestLabRTPPortsNotForwarded with
// RTP ports forward forwarded, has the PBX make n calls on ports 20000,
// 20010, ..., and analyses the PBX's capture.
func partlyForwardedCalls(t *testing.T, forward string, n int) *Result {
	lab := natlab.New(t)
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24", NAT: natlab.NATConfig{
		Mapping: natlab.EndpointIndependent,
		Forwards: []natlab.Forward{{Proto: "udp", Ports: "5060", To: "192.168.1.20"},
			{Proto: "udp", Ports: forward, To: "192.168.1.20"}},
	}})
	pbxHost := r1.LANHost("pbx", "192.168.1.20")
	trunkHost := lab.PublicHost("trunk", "198.51.100.10")
	pcap := filepath.Join(t.TempDir(), "pbx.pcap")
	dump := pbxHost.StartTcpdump(t, pcap, "udp")
	for k := range n {
		port := 20000 + 10*k
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
	return analyzePath(t, pcap)
}
