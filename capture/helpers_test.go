package capture

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/natdoc/natdoc/report"
)

func analyzePath(t testing.TB, path string) *Result {
	t.Helper()
	res, err := Analyze(context.Background(), Options{Files: []string{path}, Detail: true})
	if err != nil {
		t.Fatalf("analyze %s: %v", path, err)
	}
	return res
}

// analyzeState runs the pipeline and returns its state with every stream.
func analyzeState(t testing.TB, path string) *state {
	t.Helper()
	s := newState()
	s.setDetail(true)
	if err := analyzeFiles(context.Background(), s, Options{Files: []string{path}}, 0); err != nil {
		t.Fatal(err)
	}
	return s
}

// directionCounts sums RTP (not RTCP) packets and loss per direction.
func directionCounts(c report.Call) (pkts [2]uint64, lost [2]int64) {
	for _, s := range c.Streams {
		for _, f := range s.Flows {
			if f.RTCP {
				continue
			}
			d := 0
			if f.Direction == "callee->caller" {
				d = 1
			}
			pkts[d] += f.Packets
			lost[d] += f.Lost
		}
	}
	return
}

func hasFinding(c report.Call, id report.FindingID) bool {
	for _, f := range c.Findings {
		if f.ID == id {
			return true
		}
	}
	return false
}

func findingIDs(c report.Call) []string {
	var ids []string
	for _, f := range c.Findings {
		ids = append(ids, string(f.ID))
	}
	return ids
}

// pcapReader opens a classic pcap file for the test's life.
func pcapReader(t *testing.T, path string) *pcapgo.Reader {
	t.Helper()
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	r, err := pcapgo.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// verdictLines summarises calls for comparison: parties, verdict, who
// cannot hear, the explanation and the finding IDs.
func verdictLines(calls []report.Call) []string {
	var out []string
	for _, c := range calls {
		ids := findingIDs(c)
		sort.Strings(ids)
		out = append(out, fmt.Sprintf("%s %s→%s %s (%s) %s; %s", c.CallID, partyKey(c.Caller), partyKey(c.Callee),
			c.Verdict, c.CannotHear, c.Explain, strings.Join(ids, ",")))
	}
	sort.Strings(out)
	return out
}

func partyKey(p report.Party) string { return p.User + "@" + p.Host }

// tableMsg is a SIP message of the Call-ID "table@test" for the call
// table's tests: a request (status 0) or a response, its CSeq, tags and
// addresses.
func tableMsg(request bool, method string, status int, cseq uint32, fromTag, toTag string, src, dst netip.AddrPort) *sipInfo {
	return &sipInfo{sipHeaders: &sipHeaders{Request: request, Method: method, Status: status, CallID: "table@test",
		FromTag: fromTag, ToTag: toTag, CSeq: cseq}, Src: src, Dst: dst}
}

// evidenceTexts joins a finding's evidence lines.
func evidenceTexts(f *report.Finding) string {
	var b strings.Builder
	for _, e := range f.Evidence {
		b.WriteString(e.Text + "\n")
	}
	return b.String()
}

// findingByID is the finding of fs with that ID, or nil.
func findingByID(fs []report.Finding, id report.FindingID) *report.Finding {
	for i := range fs {
		if fs[i].ID == id {
			return &fs[i]
		}
	}
	return nil
}
