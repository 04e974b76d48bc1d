package capture_test

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// generate writes calls with pcapgen into a temporary file.
func generate(t testing.TB, calls []pcapgen.Call, opt pcapgen.Options) (string, []pcapgen.Truth) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gen.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	truths, err := pcapgen.Write(f, calls, opt)
	if err != nil {
		t.Fatal(err)
	}
	return path, truths
}

// twoWayCall generates one call of kind Normal with media and checks that
// it reads as one two-way call; it returns the capture and the IP
// addresses its caller's and callee's SDP named for media.
func twoWayCall(t *testing.T, media time.Duration, seed int64) (path string, callerMedia, calleeMedia netip.Addr) {
	t.Helper()
	path, _ = generate(t, []pcapgen.Call{{Kind: pcapgen.Normal, Media: media}}, pcapgen.Options{Seed: seed})
	res := capture.AnalyzePath(t, path)
	if len(res.Calls) != 1 || res.Calls[0].Verdict != report.VerdictTwoWay {
		t.Fatalf("the generated call is not one two-way call: %+v", res.Calls)
	}
	s := res.Calls[0].Streams[0]
	return path, netip.MustParseAddrPort(s.Offer.Addr).Addr(), netip.MustParseAddrPort(s.Answer.Addr).Addr()
}

// rewriteMedia copies a pcapgen capture through change for each RTP or
// RTCP packet (version 2, not SIP): change gets the packet's IP source and
// its RTP bytes, which it may edit in place (the UDP checksum is then
// dropped), and says whether to keep it. pcapgen writes Ethernet, IPv4
// without options and UDP.
func rewriteMedia(t *testing.T, path string, change func(src netip.Addr, rtp []byte) (keep bool)) string {
	t.Helper()
	const ipSrc, udpSum, rtp = 26, 40, 42
	return rewriteCapture(t, path, func(data []byte, _ *gopacket.CaptureInfo) []byte {
		if len(data) < rtp+8 || data[rtp]>>6 != 2 {
			return data // not media: SIP starts with a letter, version 1
		}
		data = append([]byte(nil), data...)
		if !change(netip.AddrFrom4([4]byte(data[ipSrc:ipSrc+4])), data[rtp:]) {
			return nil
		}
		data[udpSum], data[udpSum+1] = 0, 0 // no UDP checksum (IPv4)
		return data
	})
}

// rewriteCapture copies the capture at path record by record through
// change, which may edit the record's data and stamp, into a new file;
// a record change returns nil for is left out.
func rewriteCapture(t *testing.T, path string, change func(data []byte, ci *gopacket.CaptureInfo) []byte) string {
	return rewriteCaptureAs(t, path, 0, change)
}

// rewriteCaptureAs is rewriteCapture writing a file of another link type
// (0: the same).
func rewriteCaptureAs(t *testing.T, path string, link layers.LinkType, change func(data []byte, ci *gopacket.CaptureInfo) []byte) string {
	t.Helper()
	r := capture.PcapReader(t, path)
	if link == 0 {
		link = r.LinkType()
	}
	out, w := createPcap(t, "rewritten.pcap", link)
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		if data = change(data, &ci); data == nil {
			continue
		}
		ci.CaptureLength, ci.Length = len(data), len(data)
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// createPcap creates the pcap file name, of link type link, in the test's
// temporary directory, closed when the test ends.
func createPcap(t testing.TB, name string, link layers.LinkType) (string, *pcapgo.Writer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	w := pcapgo.NewWriterNanos(f)
	if err := w.WriteFileHeader(65535, link); err != nil {
		t.Fatal(err)
	}
	return path, w
}

// writeUDP writes one Ethernet/IPv4/UDP packet from src to dst carrying
// payload, captured at.
func writeUDP(t testing.TB, w *pcapgo.Writer, src, dst netip.AddrPort, payload []byte, at time.Time) {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(data), Length: len(data)}, data); err != nil {
		t.Fatal(err)
	}
}

// rewriteUDP copies the capture at path with every Ethernet/IPv4/UDP
// packet handed to edit, which may change its addresses and ports in place
// and returns its new payload, or nil to keep the packet as it was; the
// lengths and checksums of a changed packet are made right.
func rewriteUDP(t *testing.T, path string, edit func(ip *layers.IPv4, udp *layers.UDP) []byte) string {
	return rewriteCapture(t, path, func(data []byte, _ *gopacket.CaptureInfo) []byte {
		pkt := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		eth, _ := pkt.LinkLayer().(*layers.Ethernet)
		ip, _ := pkt.NetworkLayer().(*layers.IPv4)
		udp, _ := pkt.TransportLayer().(*layers.UDP)
		if eth == nil || ip == nil || udp == nil {
			return data
		}
		payload := edit(ip, udp)
		if payload == nil {
			return data
		}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload(payload)); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	})
}

// checkTruth compares every generated dialog with the analysis.
func checkTruth(t *testing.T, res *capture.Result, truths []pcapgen.Truth) {
	t.Helper()
	byCallID := map[string][]report.Call{}
	for _, c := range res.Calls {
		byCallID[c.CallID] = append(byCallID[c.CallID], c)
	}
	used := map[string]int{}
	if len(res.Calls) != len(truths) {
		t.Errorf("got %d calls, want %d", len(res.Calls), len(truths))
	}
	for _, want := range truths {
		list := byCallID[want.CallID]
		k := used[want.CallID]
		used[want.CallID]++
		if k >= len(list) {
			t.Errorf("%s (%s): no such call in the analysis", want.Kind, want.CallID)
			continue
		}
		got := list[k]
		name := string(want.Kind)
		if got.Verdict != want.Verdict || got.CannotHear != want.CannotHear {
			t.Errorf("%s: verdict %s (cannot hear %q), want %s (%q); %s", name, got.Verdict, got.CannotHear, want.Verdict, want.CannotHear, got.Explain)
		}
		for _, st := range got.Streams {
			for _, f := range st.Flows {
				var sum uint64
				for _, v := range f.Timeline {
					sum += uint64(v)
				}
				if sum != f.Packets {
					t.Errorf("%s: flow %s → %s timeline holds %d packets, the flow %d", name, f.Src, f.Dst, sum, f.Packets)
				}
			}
		}
		pkts, lost := capture.DirectionCounts(got)
		wantPkts := [2]uint64{want.Packets[0] + want.Undeliverable[0] + want.Unproven[0], want.Packets[1] + want.Undeliverable[1] + want.Unproven[1]}
		if u := unprovenPackets(got); u != want.Unproven {
			t.Errorf("%s: unproven RTP per direction %v, want %v", name, u, want.Unproven)
		}
		if pkts != wantPkts {
			t.Errorf("%s: RTP packets per direction %v, want %v", name, pkts, wantPkts)
		}
		if lost != want.Lost {
			t.Errorf("%s: lost per direction %v, want %v", name, lost, want.Lost)
		}
		if len(got.Legs) != want.Legs {
			t.Errorf("%s: %d legs, want %d", name, len(got.Legs), want.Legs)
		}
		if n, pkts := earlyMedia(got); n != want.EarlyDialogs || pkts != want.EarlyPackets {
			t.Errorf("%s: %d early dialogs with %d RTP packets, want %d with %d", name, n, pkts, want.EarlyDialogs, want.EarlyPackets)
		}
		if want.NotAnswered != "" && (got.NotAnswered == nil || got.NotAnswered.Reason != want.NotAnswered) {
			t.Errorf("%s: not answered %+v, want reason %s", name, got.NotAnswered, want.NotAnswered)
		}
		if want.Status != 0 && got.Status != want.Status {
			t.Errorf("%s: status %d, want %d", name, got.Status, want.Status)
		}
		if want.Transport != "" && got.Transport != want.Transport {
			t.Errorf("%s: transport %s, want %s", name, got.Transport, want.Transport)
		}
		if want.Kind == pcapgen.Normal && (capture.HasFinding(got, capture.IDSIPALGSuspected) || capture.HasFinding(got, capture.IDSDPPrivateAddress)) {
			t.Errorf("%s: a STUN phone behind NAT was reported with %v", name, capture.FindingIDs(got))
		}
		if want.Finding != "" && !capture.HasFinding(got, want.Finding) {
			t.Errorf("%s: finding %s missing; got %v", name, want.Finding, capture.FindingIDs(got))
		}
	}
}

// unprovenPackets sums the RTP per direction sent to NAT ports nothing
// shows are forwarded.
func unprovenPackets(c report.Call) (u [2]uint64) {
	for _, s := range c.Streams {
		for _, f := range s.Flows {
			if f.Unproven && !f.RTCP {
				if f.Direction == "callee->caller" {
					u[1] += f.Packets
				} else {
					u[0] += f.Packets
				}
			}
		}
	}
	return u
}

// earlyMedia counts a call's early dialogs and the RTP packets they sent.
func earlyMedia(c report.Call) (n int, pkts uint64) {
	for _, e := range c.EarlyDialogs {
		for _, s := range e.Streams {
			for _, f := range s.Flows {
				if !f.RTCP {
					pkts += f.Packets
				}
			}
		}
	}
	return len(c.EarlyDialogs), pkts
}

func TestGeneratedScenarios(t *testing.T) {
	path, truths := generate(t, pcapgen.AllKinds(), pcapgen.Options{Seed: 1})
	res := capture.AnalyzePath(t, path)
	checkTruth(t, res, truths)
	// The bad-header call's INVITE carries a Contact sipgo cannot parse:
	// reported once, the call judged all the same.
	if a := res.Capture.Anomalies; len(a) != 1 || a[0].Kind != "malformed-sip-header" || a[0].Count != 1 {
		t.Errorf("anomalies %+v, want one malformed-sip-header", a)
	}
	// The to-private-contact phone's registration: its Contact echoed
	// unfixed, then two minutes of silence; the INVITE names it.
	for _, id := range []report.FindingID{capture.IDRegisterContactNotFixed, capture.IDRegistrationOutlivesNAT} {
		if !slices.ContainsFunc(res.Findings, func(f report.Finding) bool { return f.ID == id }) {
			t.Errorf("capture finding %s missing", id)
		}
	}
	for _, c := range res.Calls {
		for _, f := range c.Findings {
			if f.ID == capture.IDRequestToPrivate && !strings.Contains(f.Evidence[len(f.Evidence)-1].Text, "echoed") {
				t.Errorf("%s does not show the REGISTER behind it: %+v", f.ID, f.Evidence)
			}
		}
	}
	// Findings that must not fire on calls that merely look alike: a 2xx
	// acknowledged, a move a re-INVITE announced, a NAT that kept its port,
	// a stream a hold stopped, a BYE the far end never answered, early
	// media and a late offer.
	kinds := map[string]pcapgen.Kind{}
	for _, tr := range truths {
		kinds[tr.CallID] = tr.Kind
	}
	only := map[report.FindingID][]pcapgen.Kind{capture.IDAnswerNotAcknowledged: {pcapgen.AckLost, pcapgen.AnswerFragmentsLost, pcapgen.ResponsesLost}, capture.IDMediaRemapped: {pcapgen.NATRemapped},
		capture.IDMediaOutage: {pcapgen.MediaOutage}, capture.IDRequestUnanswered: {pcapgen.ByeLost, pcapgen.Unanswered, pcapgen.FragmentsUnanswered, pcapgen.ReinviteFragmentsLost},
		capture.IDMediaStopped:     {pcapgen.MediaStopped, pcapgen.Voicemail, pcapgen.ResumeFailed, pcapgen.ReinviteLeak, pcapgen.RefreshUnknown},
		capture.IDMediaStartedLate: {pcapgen.LateStart}, capture.IDDialogUnknown: {pcapgen.RefreshUnknown}, capture.IDResponsesLost: {pcapgen.RingingLost}}
	for _, c := range res.Calls {
		for _, f := range c.Findings {
			if want, ok := only[f.ID]; ok && !slices.Contains(want, kinds[c.CallID]) {
				t.Errorf("%s: %s (%s)", kinds[c.CallID], f.ID, f.Title)
			}
		}
	}
}

// TestStateFollowsActiveCalls checks the streaming promise: a long capture
// of sequential calls keeps only the calls in progress, and still judges
// every call.
func TestStateFollowsActiveCalls(t *testing.T) {
	var calls []pcapgen.Call
	for i := 0; i < 60; i++ {
		kind := pcapgen.Normal
		if i%3 == 2 {
			kind = pcapgen.LeakCaller
		}
		calls = append(calls, pcapgen.Call{Kind: kind, Start: time.Duration(i) * time.Minute, Media: 4 * time.Second})
	}
	path, truths := generate(t, calls, pcapgen.Options{Seed: 9})
	res, peakCalls, peakFlows := capture.AnalyzeWithPeaks(t, path)
	// Calls are swept at batch boundaries (1,024 packets, here about
	// three calls), so a few finished calls wait for the next sweep.
	if peakCalls > 8 || peakFlows > 16 {
		t.Errorf("kept up to %d calls and %d streams at once; want at most 8 and 16 of 60", peakCalls, peakFlows)
	}
	checkTruth(t, res, truths)
}

// TestEveryRecordRead reads generated files of many sizes, so record and
// block boundaries fall everywhere, and checks no record is lost at the end.
func TestEveryRecordRead(t *testing.T) {
	for media := 5 * time.Second; media <= 40*time.Second; media += 1700 * time.Millisecond {
		path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.Normal, Media: media}}, pcapgen.Options{Seed: int64(media)})
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		res := capture.AnalyzePath(t, path)
		if want := uint64(len(capture.RecordOffsets(data))); res.Capture.Packets != want || len(res.Capture.Anomalies) != 0 {
			t.Errorf("%d bytes: read %d of %d records, anomalies %+v", len(data), res.Capture.Packets, want, res.Capture.Anomalies)
		}
	}
}

// TestDuplicatesCountedOnce: every packet captured twice (a SPAN port
// mirroring both directions), or the whole file given twice, gives the
// same calls and counts as the capture once, and says how many copies it
// dropped.
func TestDuplicatesCountedOnce(t *testing.T) {
	path, truths := generate(t, pcapgen.AllKinds(), pcapgen.Options{Seed: 1})
	once := capture.AnalyzePath(t, path)
	spanned, _ := generate(t, pcapgen.AllKinds(), pcapgen.Options{Seed: 1, Duplicated: true})
	twice, err := capture.Analyze(context.Background(), capture.Options{Files: []string{path, path}, Detail: true})
	if err != nil {
		t.Fatal(err)
	}
	for name, res := range map[string]*capture.Result{"SPAN copies": capture.AnalyzePath(t, spanned), "the file twice": twice} {
		t.Run(name, func(t *testing.T) {
			checkTruth(t, res, truths)
			// A copy of a fragment that joins its datagram before that is
			// whole is taken in as the same fragment, not counted: one per
			// fragmented datagram at most (25 of them, the fragmented
			// kinds' messages and their resent copies).
			if half := res.Capture.Packets / 2; res.Capture.Duplicates > half || res.Capture.Duplicates < half-30 {
				t.Errorf("%d duplicates of %d packets, want half", res.Capture.Duplicates, res.Capture.Packets)
			}
			// A fragment's copy after its datagram was made whole is no
			// datagram of its own that never completed.
			for _, a := range res.Capture.Anomalies {
				if a.Kind == "ip-fragments-incomplete" {
					t.Errorf("%d copies of fragments taken for datagrams never completed (frames %v)", a.Count, a.Frames)
				}
			}
			if !reflect.DeepEqual(res.Capture.Counts, once.Capture.Counts) {
				t.Errorf("counts %v, want %v as once", res.Capture.Counts, once.Capture.Counts)
			}
		})
	}
}

// TestSignallingOnlyScenarios: every scenario captured without its media
// (a capture filtered to SIP) is judged as far as signalling shows. Every
// SIP message but the one with a header sipgo alone can report takes the
// fast path.
func TestSignallingOnlyScenarios(t *testing.T) {
	path, truths := generate(t, pcapgen.AllKinds(), pcapgen.Options{Seed: 1, SignallingOnly: true})
	checkTruth(t, capture.AnalyzePath(t, path), truths)
	if fast, full := capture.SIPReads(t, path); full != 1 || fast < 200 {
		t.Errorf("the fast path read %d SIP messages, sipgo %d; want all but the bad-header INVITE on the fast path", fast, full)
	}
}

// TestSignallingHeavyCaptures checks the verdicts on smaller instances of
// the captures bench/analyze.sh --signalling generates: the signalling mix
// (complete, cancelled and rejected calls, re-INVITEs, SIP over TCP) and a
// flood of INVITEs nobody answers, analysed as the calls table sees them (no detail).
func TestSignallingHeavyCaptures(t *testing.T) {
	for name, calls := range map[string][]pcapgen.Call{
		"mix":        pcapgen.SignallingMix(2000, 40, 20*time.Second),
		"unanswered": pcapgen.UnansweredFlood(1000, 50),
	} {
		t.Run(name, func(t *testing.T) {
			path, truths := generate(t, calls, pcapgen.Options{Seed: 18, SignallingOnly: true})
			res, err := capture.Analyze(context.Background(), capture.Options{Files: []string{path}})
			if err != nil {
				t.Fatal(err)
			}
			checkTruth(t, res, truths)
			if len(res.Capture.Anomalies) > 0 {
				t.Errorf("anomalies %+v", res.Capture.Anomalies)
			}
		})
	}
}

// TestStreamedCallsAsKept: calls handed on as they are judged
// (Options.OnCall) are the calls a kept analysis reports, in the same
// order, and the summary is the same; with a filter too.
func TestStreamedCallsAsKept(t *testing.T) {
	calls := append(pcapgen.AllKinds(), pcapgen.SignallingMix(300, 40, 20*time.Second)...)
	for i := range calls[len(pcapgen.AllKinds()):] {
		calls[len(pcapgen.AllKinds())+i].Start += time.Minute
	}
	path, _ := generate(t, calls, pcapgen.Options{Seed: 2})
	for name, filter := range map[string]*capture.CallFilter{"all": nil, "filtered": {Verdicts: []report.Verdict{report.VerdictNotAnswered, report.VerdictOneWay}}} {
		t.Run(name, func(t *testing.T) {
			kept, err := capture.Analyze(context.Background(), capture.Options{Files: []string{path}, Filter: filter})
			if err != nil {
				t.Fatal(err)
			}
			var streamed []report.Call
			res, err := capture.Analyze(context.Background(), capture.Options{Files: []string{path}, Filter: filter,
				OnCall: func(c report.Call) error { streamed = append(streamed, c); return nil }})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Calls) != 0 || len(streamed) != len(kept.Calls) || len(streamed) < 40 {
				t.Fatalf("streamed %d calls and kept %d; a kept analysis has %d", len(streamed), len(res.Calls), len(kept.Calls))
			}
			if !reflect.DeepEqual(streamed, kept.Calls) {
				t.Error("streamed calls differ from the kept ones")
			}
			res.Calls = kept.Calls
			if !reflect.DeepEqual(res, kept) {
				t.Errorf("summary differs:\nstreamed %+v\nkept     %+v", res, kept)
			}
		})
	}
}
