package capture_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// isInitialInvite says whether a packet holds an INVITE without a To-tag.
func isInitialInvite(data []byte) bool {
	i := bytes.Index(data, []byte("INVITE sip:"))
	if i < 0 {
		return false
	}
	to := data[bytes.Index(data, []byte("\nTo:"))+1:]
	return !bytes.Contains(to[:bytes.IndexByte(to, '\n')], []byte(";tag="))
}

// TestInviteNotCaptured: a capture that started a moment after the call
// did holds the 100, 180 and 200 OK to an INVITE it lacks, the ACK, the
// RTP and the BYE. The call is followed from its first answer and judged
// by the callee's SDP and the RTP: two-way. Before, the capture held no
// call, and its media belonged to none.
func TestInviteNotCaptured(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.Normal, Media: 4 * time.Second}}, pcapgen.Options{})
	path = dropSIP(t, path, "INVITE sip:", func(_ int, data []byte) bool { return isInitialInvite(data) })
	res := capture.AnalyzePath(t, path)
	if len(res.Calls) != 1 {
		t.Fatalf("got %d calls, want 1", len(res.Calls))
	}
	c := res.Calls[0]
	if c.Verdict != report.VerdictTwoWay || c.Status != 200 || c.State != "ended" || c.Caller.User != "100" || c.Callee.User != "gw" {
		t.Errorf("verdict %s, status %d, state %s, %s → %s; want two-way, 200, ended, 100 → gw; %s",
			c.Verdict, c.Status, c.State, c.Caller.User, c.Callee.User, c.Explain)
	}
	f := findingOf(c, capture.IDInviteNotCaptured)
	if f == nil || f.Severity != report.SeverityInfo || len(f.Evidence) != 1 || f.Remedy != "" ||
		!strings.HasPrefix(f.Evidence[0].Text, "100 Trying (INVITE, CSeq 1), the first message of the call") {
		t.Fatalf("finding %+v, want %s on the 100 Trying", f, capture.IDInviteNotCaptured)
	}
	if len(res.Findings) > 0 {
		t.Errorf("capture findings %v: the media belongs to the call", res.Findings)
	}
}

// TestInviteUnreadable: the INVITE is in the capture, but malformed (a
// header line without its colon) so that it cannot be read, while the
// callee read it and answered. The call is followed from the answers, and
// its invite-not-captured finding points to the unreadable message the
// caller sent the callee before them, not to a capture that missed it.
func TestInviteUnreadable(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.Normal, Media: 4 * time.Second}}, pcapgen.Options{})
	inviteFrame := uint64(0)
	frame := uint64(0)
	path = rewriteCapture(t, path, func(data []byte, _ *gopacket.CaptureInfo) []byte {
		frame++
		if isInitialInvite(data) {
			inviteFrame = frame
			return bytes.Replace(data, []byte("\r\nMax-Forwards: 70"), []byte("\r\nMax-Forwards\x05 70"), 1)
		}
		return data
	})
	res := capture.AnalyzePath(t, path)
	if len(res.Calls) != 1 || anomalyCount(res, "malformed-sip") != 1 {
		t.Fatalf("got %d calls and anomalies %+v, want 1 call and the INVITE as malformed-sip", len(res.Calls), res.Capture.Anomalies)
	}
	c := res.Calls[0]
	if c.Verdict != report.VerdictTwoWay || c.Status != 200 {
		t.Errorf("verdict %s, status %d, want two-way, 200; %s", c.Verdict, c.Status, c.Explain)
	}
	f := findingOf(c, capture.IDInviteNotCaptured)
	if f == nil || len(f.Evidence) != 2 || !strings.Contains(f.Title, "could not be read") ||
		!strings.HasPrefix(f.Evidence[0].Text, "SIP in 1 packet from the caller to the callee") ||
		len(f.Evidence[0].Frames) != 1 || f.Evidence[0].Frames[0] != inviteFrame {
		t.Fatalf("finding %+v, want %s naming the unreadable INVITE (frame %d)", f, capture.IDInviteNotCaptured, inviteFrame)
	}
}

// TestInviteFragmentsFilteredByPort: the INVITE was too big for one
// packet, and the capture was filtered by port, which keeps only the
// first of its IP fragments (tcpdump 'udp port 5060'). The callee got
// it whole and answered: the capture lost the fragments, the network did
// not. The call is followed from the answer, with the capture filter as
// the cause and its remedy, and no sip-fragments-lost blames the path.
func TestInviteFragmentsFilteredByPort(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.Fragmented, Media: 4 * time.Second}}, pcapgen.Options{Seed: 3})
	laterFragments := 0
	path = rewriteCapture(t, path, func(data []byte, _ *gopacket.CaptureInfo) []byte {
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		if ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok && ip.FragOffset != 0 {
			laterFragments++
			return nil
		}
		return data
	})
	if laterFragments == 0 {
		t.Fatal("the generated INVITE went in one packet")
	}
	res := capture.AnalyzePath(t, path)
	if len(res.Calls) != 1 {
		t.Fatalf("got %d calls, want 1", len(res.Calls))
	}
	c := res.Calls[0]
	if c.Verdict != report.VerdictTwoWay || c.Status != 200 {
		t.Errorf("verdict %s, status %d, want two-way, 200; %s", c.Verdict, c.Status, c.Explain)
	}
	f := findingOf(c, capture.IDInviteNotCaptured)
	if f == nil || len(f.Evidence) != 2 || !strings.Contains(f.Title, "a capture filter by port drops them") ||
		!strings.Contains(f.Remedy, "ip[6:2] & 0x1fff != 0") || len(f.Evidence[0].Frames) != 1 || f.Evidence[0].Frames[0] != 1 {
		t.Fatalf("finding %+v, want %s naming the first fragment (frame 1) and the capture filter", f, capture.IDInviteNotCaptured)
	}
	if lost := findingByID(res.Findings, capture.IDSIPFragmentsLost); lost != nil {
		t.Errorf("%s %q: the callee answered the INVITE, so its fragments reached it", lost.ID, lost.Title)
	}
	if anomalyCount(res, "ip-fragments-incomplete") != 1 {
		t.Errorf("anomalies %+v, want the INVITE's datagram as incomplete in the capture", res.Capture.Anomalies)
	}
}

// TestInviteCopiedLate: a HEP copy of the INVITE comes after the ACK, its
// answers having waited for it; the ACK starts the leg from them, and the
// INVITE, when it comes, is the leg's own: its offer and User-Agent count
// and no invite-not-captured is said.
func TestInviteCopiedLate(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.Normal, Media: 4 * time.Second}}, pcapgen.Options{})
	path = movePacket(t, path, isInitialInvite, func(data []byte) bool { return bytes.Contains(data, []byte("ACK sip:")) })
	res := capture.AnalyzePath(t, path)
	if len(res.Calls) != 1 {
		t.Fatalf("got %d calls, want 1", len(res.Calls))
	}
	c := res.Calls[0]
	if c.Verdict != report.VerdictTwoWay || c.Status != 200 || c.Caller.UserAgent == "" || findingOf(c, capture.IDInviteNotCaptured) != nil {
		t.Errorf("verdict %s, status %d, caller's User-Agent %q, findings %v; want two-way, 200, the INVITE's, no %s",
			c.Verdict, c.Status, c.Caller.UserAgent, c.Findings, capture.IDInviteNotCaptured)
	}
}

// movePacket writes the capture at path with its first packet that moves
// picks put after the first packet after it that after picks, time stamp
// and all, as a HEP copy out of order comes.
func movePacket(t *testing.T, path string, moves, after func([]byte) bool) string {
	t.Helper()
	r := capture.PcapReader(t, path)
	out, w := createPcap(t, "moved.pcap", r.LinkType())
	var moved []byte
	var movedInfo gopacket.CaptureInfo
	done := false
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		if !done && moved == nil && moves(data) {
			moved, movedInfo = append([]byte(nil), data...), ci
			continue
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
		if !done && moved != nil && after(data) {
			if err := w.WritePacket(movedInfo, moved); err != nil {
				t.Fatal(err)
			}
			done = true
		}
	}
	if !done {
		t.Fatal("no packet moved")
	}
	return out
}
