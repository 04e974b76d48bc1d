package capture

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/natdoc/natdoc/report"
)

// realPcapDir finds ../shared/realpcaps beside the repository (CI keeps
// shared/ beside the clone; a git worktree may sit one level deeper), or
// NATDOC_REALPCAPS.
func realPcapDir(t *testing.T) string {
	t.Helper()
	d := realPcapDirOrEmpty()
	if d == "" {
		t.Skip("../shared/realpcaps not present")
	}
	return d
}

func realPcapDirOrEmpty() string {
	if d := os.Getenv("NATDOC_REALPCAPS"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for ; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		if filepath.Dir(dir) == dir {
			return ""
		}
	}
	for up := dir; ; up = filepath.Dir(up) {
		cand := filepath.Join(filepath.Dir(up), "shared", "realpcaps")
		if st, err := os.Stat(cand); err == nil && st.IsDir() {
			return cand
		}
		if filepath.Dir(up) == up {
			return ""
		}
	}
}

func realPcap(t *testing.T, name string) *Result {
	t.Helper()
	path := filepath.Join(realPcapDir(t), name)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s not present", name)
	}
	return analyzePath(t, path)
}

// wantCall is what an engineer reading the packets (with tshark) sees.
type wantCall struct {
	verdict    report.Verdict
	cannotHear string
	transport  string
	pkts       [2]uint64 // RTP packets caller->callee, callee->caller
	findings   []report.FindingID
	// notAnswered is the reason of a not-answered verdict, with status.
	notAnswered string
	status      int
	// legs counts the hops of a call seen at a proxy or B2BUA (0: one).
	legs int
}

func checkCalls(t *testing.T, res *Result, want []wantCall) {
	t.Helper()
	if len(res.Calls) != len(want) {
		for _, c := range res.Calls {
			t.Logf("%s %s %s", c.ID, c.CallID, c.Verdict)
		}
		t.Fatalf("got %d calls, want %d", len(res.Calls), len(want))
	}
	for i, w := range want {
		c := res.Calls[i]
		if c.Verdict != w.verdict || c.CannotHear != w.cannotHear {
			t.Errorf("%s: verdict %s (%q), want %s (%q): %s", c.ID, c.Verdict, c.CannotHear, w.verdict, w.cannotHear, c.Explain)
		}
		if w.notAnswered != "" && (c.NotAnswered == nil || c.NotAnswered.Reason != w.notAnswered || c.NotAnswered.Status != w.status) {
			t.Errorf("%s: not answered %+v, want %s %d", c.ID, c.NotAnswered, w.notAnswered, w.status)
		}
		if len(c.Legs) != w.legs {
			t.Errorf("%s: %d legs, want %d", c.ID, len(c.Legs), w.legs)
		}
		if w.transport != "" && c.Transport != w.transport {
			t.Errorf("%s: transport %s, want %s", c.ID, c.Transport, w.transport)
		}
		if pkts, _ := directionCounts(c); pkts != w.pkts {
			t.Errorf("%s: RTP per direction %v, want %v", c.ID, pkts, w.pkts)
		}
		for _, id := range w.findings {
			if !hasFinding(c, id) {
				t.Errorf("%s: finding %s missing (have %v)", c.ID, id, findingIDs(c))
			}
		}
	}
}

func captureFinding(res *Result, id report.FindingID) *report.Finding {
	for i := range res.Findings {
		if res.Findings[i].ID == id {
			return &res.Findings[i]
		}
	}
	return nil
}

func TestRealCaptures(t *testing.T) {
	tests := []struct {
		file string
		want []wantCall
		// packets tshark counts in the file (capinfos).
		packets uint64
		check   func(t *testing.T, res *Result)
	}{
		// sipp offers recvonly, FreeSWITCH answers sendonly and streams
		// G.722 one way from the start: a negotiated one-way call (an
		// announcement), not a hold and not a fault.
		{file: "drawmycall__sip-rtp-g722.pcap", packets: 433, want: []wantCall{
			{verdict: report.VerdictOneWayNegotiated, transport: "UDP", pkts: [2]uint64{0, 425}}}},
		{file: "drawmycall__sip-rtp-lpc.pcap", packets: 103, want: []wantCall{
			{verdict: report.VerdictOneWayNegotiated, pkts: [2]uint64{0, 95}}}},
		// The proxy's SDP names the media host 200.57.7.196/.204 leg: 891
		// and 548 packets (tshark rtp,streams). The relay's other leg to
		// 200.57.7.199 has no signalling in the file; the second INVITE
		// rings (100, 180) when the capture ends 10 s later.
		{file: "heplify__rtp_rtcp_sip_ipv4_udp.pcap", packets: 4269, want: []wantCall{
			{verdict: report.VerdictTwoWay, pkts: [2]uint64{891, 548}},
			{verdict: report.VerdictIncompleteCapture}},
			check: func(t *testing.T, res *Result) {
				if f := captureFinding(res, IDMediaWithoutSignalling); f == nil {
					t.Error("the RTP leg without signalling is not reported")
				}
			}},
		{file: "heplify__sip_ipv4_tcp.pcap", packets: 84, want: []wantCall{
			{verdict: report.VerdictTwoWay, transport: "TCP", pkts: [2]uint64{24, 42}}}},
		// SIP-I over SCTP, the INVITE split over two DATA chunks, 403.
		{file: "heplify__sip_sctp.pcap", packets: 5, want: []wantCall{
			{verdict: report.VerdictNotAnswered, transport: "SCTP", notAnswered: report.NotAnsweredRejected, status: 403}},
			check: func(t *testing.T, res *Result) {
				if len(res.Calls[0].Streams) != 1 {
					t.Error("the SDP inside the multipart body was not found")
				}
			}},
		// ERSPAN mirror at an SBC (192.168.1.222 inside, 101.231.48.19
		// outside) between a PBX (192.168.1.191) and phones behind a NAT
		// at 180.173.83.248 (LAN 192.168.8.x). C1: the PBX calls
		// 20008909 through the SBC, which keeps the Call-ID with tags of
		// its own (two legs); a hold re-INVITE (c=0.0.0.0), a refused
		// REFER, BYE. C2: 20008909 calls 20008910 through the SBC to the
		// PBX, and the PBX, a B2BUA, calls 20008910 back out through the
		// SBC 10 ms later with a new Call-ID (four legs). No RTP in the
		// file, so audio cannot be judged.
		{file: "heplify__erspan_sip_ipv4_udp.pcapng", packets: 140, want: []wantCall{
			{verdict: report.VerdictIncompleteCapture, legs: 2, findings: []report.FindingID{IDSDPPrivateAddress, IDContactPrivateAddress, IDViaPrivateAddress}},
			{verdict: report.VerdictIncompleteCapture, legs: 4, findings: []report.FindingID{IDSDPPrivateAddress}},
		}},
		// A softphone at 192.168.1.2 behind a NAT (the providers answer
		// with received=80.230.219.70): no INVITE is answered. C1: only
		// 100 Trying, the caller cancels after 34 s (the callee never
		// rang), 408 follows. C2, C3: 407, the retry with credentials
		// rejected 403. C4: 407, retry, 183 with early media, 480.
		{file: "sngrep__aaa.pcap", packets: 691, want: []wantCall{
			{verdict: report.VerdictNotAnswered, notAnswered: report.NotAnsweredCancelled, status: 408, findings: []report.FindingID{IDCalleeNeverRang, IDViaReceivedRport}},
			// INVITE, 407, INVITE with credentials, 403 Wrong password or domain.
			{verdict: report.VerdictNotAnswered, notAnswered: report.NotAnsweredRejected, status: 403, findings: []report.FindingID{IDCallAuthFailed}},
			{verdict: report.VerdictNotAnswered, notAnswered: report.NotAnsweredRejected, status: 403, findings: []report.FindingID{IDCallAuthFailed}},
			{verdict: report.VerdictNotAnswered, notAnswered: report.NotAnsweredRejected, status: 480, pkts: [2]uint64{9, 0}, findings: []report.FindingID{IDSDPPrivateAddress}},
		},
			// The registrar's 200 OKs echo Contact 192.168.1.2 while its Via
			// received= shows 80.230.219.70; the phone, registered for 1200
			// s, sends nothing to it from 968 s to 1255 s.
			check: func(t *testing.T, res *Result) {
				for _, id := range []report.FindingID{IDRegisterContactNotFixed, IDRegistrationOutlivesNAT} {
					if captureFinding(res, id) == nil {
						t.Errorf("%s missing", id)
					}
				}
			}},
		{file: "sngrep__ipip.pcap", packets: 4, want: []wantCall{
			{verdict: report.VerdictIncompleteCapture, transport: "TCP"}}},
		// IPv6 fragments, captured at a proxy (…3519) that anchors media
		// at a relay (…4334): one call, two legs (UAC → proxy, proxy →
		// UAS), each with its own SDP; two forked early dialogs (183,
		// PRACK, UPDATE), one answered. No RTP in the file.
		{file: "sngrep__ipv6frag.pcap", packets: 34, want: []wantCall{
			{verdict: report.VerdictIncompleteCapture, legs: 2}}},
		// PBX B2BUA (192.168.20.130): the phone at .132 calls 2222, the
		// PBX calls 2222 at .1 83 ms later with a new Call-ID. One call,
		// two legs, both two-way (tshark: 1345 and 1346 packets each).
		{file: "voipshark__SIP-RTP-Normal_Call_two_parties.pcap", packets: 5651, want: []wantCall{
			{verdict: report.VerdictTwoWay, legs: 2, pkts: [2]uint64{1345, 1346}, findings: []report.FindingID{IDRTPSourceDiffers}}}},
		{file: "voipshark__SIP-SRTP-Normal_Call_two_parties.pcap", want: []wantCall{
			{verdict: report.VerdictTwoWay, legs: 2, pkts: [2]uint64{1135, 1135}, findings: []report.FindingID{IDMediaEncrypted}}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			res := realPcap(t, tt.file)
			if tt.packets != 0 && res.Capture.Packets != tt.packets {
				t.Errorf("read %d packets, want %d", res.Capture.Packets, tt.packets)
			}
			if len(res.Capture.Anomalies) != 0 {
				t.Errorf("anomalies: %+v", res.Capture.Anomalies)
			}
			checkCalls(t, res, tt.want)
			if tt.check != nil {
				tt.check(t, res)
			}
		})
	}
}

// TestNATLabRecordings judges the calls recorded through real nftables NAT
// in natlab (TestLabCalls -record-lab): baresip behind 203.0.113.1 calls
// baresip at 203.0.113.10, captured at the callee.
func TestNATLabRecordings(t *testing.T) {
	oneWay := analyzePath(t, filepath.Join("..", "testdata", "natlab-one-way-private-sdp.pcap"))
	checkCalls(t, oneWay, []wantCall{{verdict: report.VerdictOneWay, cannotHear: "caller", transport: "UDP",
		pkts: [2]uint64{400, 400}, findings: []report.FindingID{report.IDOneWayAudio, IDSDPPrivateAddress}}})
	var unreachable uint64
	for _, s := range oneWay.Calls[0].Streams {
		for _, f := range s.Flows {
			if f.Unreachable && f.Dst == "192.168.1.10:10000" {
				unreachable += f.Packets
			}
		}
	}
	if unreachable != 400 {
		t.Errorf("%d packets to the leaked 192.168.1.10:10000 marked unreachable, want 400", unreachable)
	}
	fixed := analyzePath(t, filepath.Join("..", "testdata", "natlab-two-way-stun.pcap"))
	checkCalls(t, fixed, []wantCall{{verdict: report.VerdictTwoWay, pkts: [2]uint64{400, 400}}})
	if hasFinding(fixed.Calls[0], IDSDPPrivateAddress) {
		t.Error("with STUN the SDP names the public mapping, yet a private address was reported")
	}
}

// TestNATLabMidCallRecordings judges the recordings of answered calls
// that drop or go quiet (the mid-call lab tests, -record-lab): each keeps
// the verdict and the finding its lab test proved from the packets.
func TestNATLabMidCallRecordings(t *testing.T) {
	for _, tc := range []struct {
		file       string
		verdict    report.Verdict
		cannotHear string
		finding    report.FindingID
		severity   report.Severity
	}{
		{"natlab-unacknowledged-answer.pcap", report.VerdictOneWay, "callee", IDAnswerNotAcknowledged, report.SeverityError},
		{"natlab-media-remapped.pcap", report.VerdictOneWay, "caller", IDMediaRemapped, report.SeverityError},
		{"natlab-bye-lost.pcap", report.VerdictTwoWay, "", IDRequestUnanswered, report.SeverityError},
		{"natlab-media-outage.pcap", report.VerdictTwoWay, "", IDMediaOutage, report.SeverityWarning},
		{"natlab-media-stopped.pcap", report.VerdictOneWay, "caller", IDMediaStopped, report.SeverityError},
		{"natlab-media-started-late.pcap", report.VerdictTwoWay, "", IDMediaStartedLate, report.SeverityWarning},
		{"natlab-refresh-481.pcap", report.VerdictIncompleteCapture, "", IDDialogUnknown, report.SeverityError},
		{"natlab-early-media-refused.pcap", report.VerdictOneWay, "caller", report.IDOneWayAudio, report.SeverityError},
		{"natlab-asymmetric-rtp.pcap", report.VerdictOneWay, "caller", report.IDOneWayAudio, report.SeverityError},
	} {
		res := analyzePath(t, filepath.Join("..", "testdata", tc.file))
		if len(res.Calls) != 1 {
			t.Errorf("%s: %d calls, want 1", tc.file, len(res.Calls))
			continue
		}
		c := res.Calls[0]
		if c.Verdict != tc.verdict || c.CannotHear != tc.cannotHear {
			t.Errorf("%s: %s (%q), want %s (%q)", tc.file, c.Verdict, c.CannotHear, tc.verdict, tc.cannotHear)
		}
		var sev report.Severity
		for _, f := range c.Findings {
			if f.ID == tc.finding {
				sev = f.Severity
			}
		}
		if sev != tc.severity {
			t.Errorf("%s: %s %q, want %q; findings %v", tc.file, tc.finding, sev, tc.severity, findingIDs(c))
		}
	}
}

// TestNATLabEarlyMediaRefused: the far end's early media came before the
// caller's own RTP and was refused; the caller's media then left its NAT
// from another port than its SDP named. The one-way finding says which
// came first, the cause a reader would otherwise miss.
func TestNATLabEarlyMediaRefused(t *testing.T) {
	res := analyzePath(t, filepath.Join("..", "testdata", "natlab-early-media-refused.pcap"))
	f := findingByID(res.Calls[0].Findings, report.IDOneWayAudio)
	if f == nil || !strings.Contains(f.Evidence[0].Text, "this media, early media before the answer, reached the NAT first (its first packets refused at frame 4, 2.2s before the caller's own media began)") {
		t.Fatalf("finding %+v", f)
	}
}

// TestNATLabAsymmetricRTP: the far end sent its media to the phone's
// mapping from another port than the phone's media goes to; the router,
// filtering by address and port, dropped it silently. The finding names
// the ports, and the remedy is where it is sent from, not the phone's
// private SDP the far end worked around.
func TestNATLabAsymmetricRTP(t *testing.T) {
	res := analyzePath(t, filepath.Join("..", "testdata", "natlab-asymmetric-rtp.pcap"))
	f := findingByID(res.Calls[0].Findings, report.IDOneWayAudio)
	if f == nil || !strings.Contains(f.Evidence[0].Text, "sent from 203.0.113.10:30002, but the caller's own media from 203.0.113.1:10000 goes to 203.0.113.10:30000, not to 203.0.113.10:30002") ||
		f.Remedy != remedySendFromWhereReceived {
		t.Fatalf("finding %+v", f)
	}
}

// TestNATLabContactPortNotForwarded: a PBX behind a router that forwards
// outside port 5080 to its own 5060 writes 5060 in its answer's Contact;
// the ACK goes there and is lost. At the PBX and at the phone, the
// finding names both ports, and the remedy is the port to advertise.
func TestNATLabContactPortNotForwarded(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"natlab-contact-port-at-pbx.pcap", "the INVITE reached the callee at 203.0.113.1:5080 (its Request-URI), forwarded to it at 192.168.1.5:5060"},
		{"natlab-contact-port-at-phone.pcap", "ICMP destination unreachable came back from 203.0.113.1 4 times for packets to 203.0.113.1:5060"},
	} {
		res := analyzePath(t, filepath.Join("..", "testdata", tc.file))
		f := findingByID(res.Calls[0].Findings, IDAnswerNotAcknowledged)
		if f == nil || f.Remedy != remedyContactPortNotForwarded || !strings.Contains(evidenceTexts(f), tc.want) {
			t.Errorf("%s: finding %+v, want %q", tc.file, f, tc.want)
		}
	}
}

// TestNATLabRecordRoutePrivate: a proxy behind NAT Record-Routes its
// private address; the caller's ACK follows it and is lost. The finding
// names the Record-Route, and the remedy is the proxy's public address.
func TestNATLabRecordRoutePrivate(t *testing.T) {
	res := analyzePath(t, filepath.Join("..", "testdata", "natlab-record-route-private.pcap"))
	f := findingByID(res.Calls[0].Findings, IDAnswerNotAcknowledged)
	if f == nil || f.Remedy != remedyRecordRoutePrivate || !strings.Contains(evidenceTexts(f), "the answer's Record-Route names the private address 192.168.1.5:5060") {
		t.Fatalf("finding %+v", f)
	}
}

// TestNATLabDoubleRecordRoutePrivate: a proxy between two networks
// Record-Routes both of its addresses; the one facing the public callee is
// private, and the callee's BYE, sent there by its route set, is lost. The
// lost request names the INVITE's first Record-Route entry, and the remedy
// is the proxy's public address, not the phone's Contact.
func TestNATLabDoubleRecordRoutePrivate(t *testing.T) {
	res := analyzePath(t, filepath.Join("..", "testdata", "natlab-double-record-route-private.pcap"))
	f := findingByID(res.Findings, IDRequestToPrivate)
	if f == nil || f.Remedy != remedyRecordRoutePrivate || !strings.Contains(evidenceTexts(f), "an INVITE to a public party Record-Routes 192.168.1.5:5060 first") {
		t.Fatalf("finding %+v", f)
	}
}

// TestNATLabMediaOfferOtherFamily: an offer of IPv6 media only, over IPv4
// SIP, refused 488 by a phone with IPv4 only: the refusal names the
// address family, not the codecs.
func TestNATLabMediaOfferOtherFamily(t *testing.T) {
	res := analyzePath(t, filepath.Join("..", "testdata", "natlab-media-offer-other-family.pcap"))
	f := findingByID(res.Calls[0].Findings, IDMediaOfferRefused)
	if f == nil || f.Remedy != remedyAddressFamily || !strings.Contains(f.Title, "it names IPv6 media addresses only ([2001:db8::20]:30000)") {
		t.Fatalf("finding %+v", f)
	}
}

// TestNATLabNAT64: a phone on IPv6 alone behind NAT64, answered through an
// IPv4 proxy that Record-Routes its IPv4 address: the ACK it cannot send
// is named with the address family's remedy, its Via with NAT64, and its
// IPv6 Contact stored as written by the IPv4 registrar.
func TestNATLabNAT64(t *testing.T) {
	res := analyzePath(t, filepath.Join("..", "testdata", "natlab-nat64-proxy.pcap"))
	f := findingByID(res.Calls[0].Findings, IDAnswerNotAcknowledged)
	via := findingByID(res.Calls[0].Findings, IDViaSourceMismatch)
	if f == nil || f.Remedy != remedySIPAddressFamily || via == nil ||
		!strings.Contains(via.Title, "Top Via says [2001:db8:1::10]:5060 but the request came over IPv4 from 203.0.113.64:5060: NAT64") {
		t.Fatalf("ACK %+v, Via %+v", f, via)
	}
	if reg := findingByID(res.Findings, IDRegisterContactNotFixed); reg == nil || reg.Remedy != remedyContactFamily {
		t.Errorf("registration %+v", reg)
	}
}

// TestNATLabContactPortRemapped: a PBX behind a NAT that changed its
// REGISTER's port registered its public address with its own port, and
// the registrar stored it as written: the registration and the INVITE the
// router refused name the port the REGISTER came from. Calling out with
// such a Contact, the callee's BYE to it names the port the INVITE came
// from; called at its mapping through a proxy, the ACK the proxy passed on
// to its Contact names the mapping.
func TestNATLabContactPortRemapped(t *testing.T) {
	res := analyzePath(t, filepath.Join("..", "testdata", "natlab-contact-port-remapped.pcap"))
	reg := findingByID(res.Findings, IDRegisterContactNotFixed)
	f := findingByID(res.Calls[0].Findings, IDRequestUnanswered)
	if reg == nil || reg.Remedy != remedyContactPortRemapped || f == nil || f.Remedy != remedyContactPortRemapped ||
		!strings.Contains(f.Title, "it is the Contact pbx registered, but its REGISTER came from 203.0.113.1:") {
		t.Fatalf("registration %+v, INVITE %+v", reg, f)
	}
	res = analyzePath(t, filepath.Join("..", "testdata", "natlab-caller-contact-port-remapped.pcap"))
	bye := findingByID(res.Calls[0].Findings, IDRequestUnanswered)
	if bye == nil || bye.Remedy != remedyContactPortMoved || !strings.Contains(bye.Title, "it went to the caller's Contact, but the caller's SIP came from 203.0.113.1:") {
		t.Fatalf("BYE %+v", bye)
	}
	res = analyzePath(t, filepath.Join("..", "testdata", "natlab-callee-contact-port-mapped.pcap"))
	ack := findingByID(res.Calls[0].Findings, IDAnswerNotAcknowledged)
	if ack == nil || ack.Remedy != remedyContactPortMoved || !strings.Contains(evidenceTexts(ack), "the NAT mapping its REGISTER came from") ||
		len(slices.DeleteFunc(slices.Clone(res.Calls[0].Findings), func(f report.Finding) bool { return f.ID != IDAnswerNotAcknowledged })) != 1 {
		t.Fatalf("answer %+v (one, of the leg nearer the PBX, wanted)", ack)
	}
}

// TestNATLabSecondWAN: a router sends a phone's RTP out of a second public
// address while its SDP names the first, where its SIP comes from; the far
// end's media sent there is silently dropped. One-way, not two-way.
func TestNATLabSecondWAN(t *testing.T) {
	res := analyzePath(t, filepath.Join("..", "testdata", "natlab-second-wan-dropped.pcap"))
	checkCalls(t, res, []wantCall{{verdict: report.VerdictOneWay, cannotHear: "caller", pkts: [2]uint64{100, 100}}})
	if f := findingByID(res.Calls[0].Findings, report.IDOneWayAudio); f == nil || f.Remedy != remedyMediaAddressMoved {
		t.Errorf("finding %+v", f)
	}
}

// TestNATLabStaleExternalAddress: a phone names an external address that
// is not its NAT's (stale); its SIP and media come from the NAT. One-way,
// with the remedy to correct the address.
func TestNATLabStaleExternalAddress(t *testing.T) {
	res := analyzePath(t, filepath.Join("..", "testdata", "natlab-stale-external-address.pcap"))
	checkCalls(t, res, []wantCall{{verdict: report.VerdictOneWay, cannotHear: "caller", pkts: [2]uint64{100, 100}}})
	if f := findingByID(res.Calls[0].Findings, report.IDOneWayAudio); f == nil || f.Remedy != remedyStaleExternalAddress {
		t.Errorf("finding %+v", f)
	}
	// A PBX naming it in its answer's Contact too: the ACK sent there
	// never reached it either.
	res = analyzePath(t, filepath.Join("..", "testdata", "natlab-stale-external-contact.pcap"))
	checkCalls(t, res, []wantCall{{verdict: report.VerdictOneWay, cannotHear: "callee", pkts: [2]uint64{172, 172}}})
	for _, id := range []report.FindingID{IDAnswerNotAcknowledged, IDRequestUnanswered} {
		if f := findingByID(res.Calls[0].Findings, id); f == nil || f.Remedy != remedyStaleExternalAddress {
			t.Errorf("%s: %+v", id, f)
		}
	}
	// The same call filtered to signalling: the Contact and the SDP name
	// one address, the SIP comes from another, and the answer kept coming
	// after the ACK sent there.
	res = analyzePath(t, filepath.Join("..", "testdata", "natlab-stale-external-contact-sip-only.pcap"))
	ack, bye := findingByID(res.Calls[0].Findings, IDAnswerNotAcknowledged), findingByID(res.Calls[0].Findings, IDRequestUnanswered)
	if ack == nil || ack.Remedy != remedyStaleExternalAddress || !strings.Contains(evidenceTexts(ack), "and its SDP names 203.0.113.99 too, while the 200 OK came from 203.0.113.1") {
		t.Errorf("signalling only: ACK %+v", ack)
	}
	if bye == nil || bye.Remedy != remedyStaleExternalAddress || !strings.Contains(bye.Title, "while its SIP comes from 203.0.113.1") {
		t.Errorf("signalling only: BYE %+v", bye)
	}
}

// TestNATLabSIPALG: the Linux SIP ALG (nf_nat_sip) rewrites Via, Contact,
// o= and c= of the phone's INVITE to the NAT's public address, consistently:
// seen from outside, the call looks like one from a public phone and works.
// natdoc reports it two-way and claims no ALG it cannot see.
func TestNATLabSIPALG(t *testing.T) {
	res := analyzePath(t, filepath.Join("..", "testdata", "natlab-sip-alg.pcap"))
	checkCalls(t, res, []wantCall{{verdict: report.VerdictTwoWay, pkts: [2]uint64{400, 399}}})
	for _, id := range []report.FindingID{IDSIPALGSuspected, IDSDPPrivateAddress, IDContactPrivateAddress} {
		if hasFinding(res.Calls[0], id) {
			t.Errorf("%s reported, but the rewritten messages show no private address", id)
		}
	}
}

// TestNATLabKamailioRecordings judges the real-network captures made with
// Kamailio (TestLabInboundToUnfixedRegistration, TestLabProxyTwoLegs
// -record-lab).
func TestNATLabKamailioRecordings(t *testing.T) {
	server := analyzePath(t, filepath.Join("..", "testdata", "natlab-inbound-unfixed-server.pcap"))
	checkCalls(t, server, []wantCall{{verdict: report.VerdictNotAnswered, notAnswered: report.NotAnsweredTimedOut, status: 408, legs: 2,
		findings: []report.FindingID{IDRequestToPrivate, IDCalleeNeverRang}}})
	phone := analyzePath(t, filepath.Join("..", "testdata", "natlab-inbound-unfixed-phone.pcap"))
	checkCalls(t, phone, nil)
	for name, res := range map[string]*Result{"server": server, "phone": phone} {
		if captureFinding(res, IDRegisterContactNotFixed) == nil {
			t.Errorf("%s side: %s missing", name, IDRegisterContactNotFixed)
		}
	}
	proxy := analyzePath(t, filepath.Join("..", "testdata", "natlab-proxy-two-legs.pcap"))
	checkCalls(t, proxy, []wantCall{{verdict: report.VerdictTwoWay, legs: 2, pkts: [2]uint64{374, 375}}})
	for i, l := range proxy.Calls[0].Legs {
		if l.Verdict != report.VerdictTwoWay || l.Streams[0].Offer.Addr == proxy.Calls[0].Legs[1-i].Streams[0].Offer.Addr {
			t.Errorf("leg %d: %s, offer %s: each leg must have its own SDP and be two-way", i+1, l.Verdict, l.Streams[0].Offer.Addr)
		}
	}
}

// TestDialledUserFromRealCapture: an INVITE whose Request-URI dials a
// number (08019200028) while its To names a user (mcr) is found by the
// number.
func TestDialledUserFromRealCapture(t *testing.T) {
	res := realPcap(t, "sngrep__ipv6frag.pcap")
	if len(res.Calls) == 0 {
		t.Fatal("no calls")
	}
	c := res.Calls[0]
	if c.Callee.User != "mcr" || c.Callee.Dialed != "08019200028" {
		t.Fatalf("callee %+v: want user mcr, dialled 08019200028", c.Callee)
	}
	if !(&CallFilter{User: "0801920"}).Match(c) {
		t.Error("--user with the dialled number does not select the call")
	}
}
