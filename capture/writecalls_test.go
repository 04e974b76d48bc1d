package capture_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// TestWriteCallsJudgedAlike writes each call of generated and real
// captures on its own and analyses the written file: the call is there,
// with the same verdict, RTP each way and findings.
func TestWriteCallsJudgedAlike(t *testing.T) {
	gen, _ := generate(t, pcapgen.AllKinds(), pcapgen.Options{Seed: 21})
	files := []string{gen, filepath.Join("..", "testdata", "natlab-one-way-private-sdp.pcap")}
	if dir := capture.RealPcapDirOrEmpty(); dir != "" {
		for _, f := range []string{"voipshark__SIP-SRTP-Normal_Call_two_parties.pcap", "heplify__sip_ipv4_tcp.pcap",
			"sngrep__ipv6frag.pcap", "heplify__rtp_rtcp_sip_ipv4_udp.pcap", "heplify__erspan_sip_ipv4_udp.pcapng"} {
			files = append(files, filepath.Join(dir, f))
		}
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			all := capture.AnalyzePath(t, path)
			for _, c := range all.Calls {
				out := filepath.Join(t.TempDir(), c.ID+".pcap")
				f, err := os.Create(out)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := capture.WriteCalls(context.Background(), []string{path}, []report.Call{c}, f); err != nil {
					t.Fatal(err)
				}
				f.Close()
				again := capture.AnalyzePath(t, out)
				got := findCall(again.Calls, c)
				if got == nil {
					t.Errorf("%s (%s): not in the written file (%d calls there)", c.ID, c.CallID, len(again.Calls))
					continue
				}
				pw, _ := capture.DirectionCounts(c)
				pg, _ := capture.DirectionCounts(*got)
				if c.Verdict == report.VerdictNoWay {
					// Alone, a call without RTP is a file without RTP:
					// nothing shows any more that the capture point saw
					// media, so the verdict is the cautious one.
					if got.Verdict != report.VerdictIncompleteCapture {
						t.Errorf("%s: no-way call written alone reads as %s", c.ID, got.Verdict)
					}
					continue
				}
				if got.Verdict != c.Verdict || got.CannotHear != c.CannotHear || pg != pw {
					t.Errorf("%s (%s): written and read again %s %q %v, was %s %q %v", c.ID, c.CallID, got.Verdict, got.CannotHear, pg, c.Verdict, c.CannotHear, pw)
				}
				for _, f := range c.Findings {
					if !capture.HasFinding(*got, f.ID) {
						t.Errorf("%s (%s): finding %s lost in the written file", c.ID, c.CallID, f.ID)
					}
				}
			}
		})
	}
}

// findCall finds the dialog of c (Call-ID and to-tag) among calls.
func findCall(calls []report.Call, c report.Call) *report.Call {
	for i := range calls {
		if calls[i].CallID == c.CallID && calls[i].ToTag == c.ToTag {
			return &calls[i]
		}
	}
	return nil
}

// TestWriteCallsOpensInTshark: Wireshark's reader takes the written file
// and counts the packets written.
func TestWriteCallsOpensInTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	path := filepath.Join("..", "testdata", "one-way-private-sdp.pcap")
	all := capture.AnalyzePath(t, path)
	out := filepath.Join(t.TempDir(), "c2.pcap")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	n, err := capture.WriteCalls(context.Background(), []string{path}, all.Calls[1:], f)
	f.Close()
	if err != nil || n != 307 { // 7 SIP messages, 150 RTP packets each way
		t.Fatalf("wrote %d packets (%v), want 307", n, err)
	}
	got, err := exec.Command("tshark", "-n", "-r", out, "-T", "fields", "-e", "frame.number").Output()
	if err != nil {
		t.Fatalf("tshark cannot read the written file: %v", err)
	}
	if lines := strings.Count(string(got), "\n"); lines != 307 {
		t.Errorf("tshark reads %d packets, want 307", lines)
	}
	if _, err := capture.WriteCalls(context.Background(), []string{"-"}, all.Calls, f); !errors.Is(err, capture.ErrNeedsFile) {
		t.Errorf("standard input: %v", err)
	}
}
