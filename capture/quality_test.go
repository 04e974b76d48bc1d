package capture

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/g711"
	"github.com/natdoc/natdoc/report"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

func TestSequenceCountsLateAndDuplicates(t *testing.T) {
	for _, tc := range []struct {
		name       string
		seqs       []uint16
		late, dups uint64
	}{
		{"in order", []uint16{1, 2, 3, 4}, 0, 0},
		{"swapped pair", []uint16{1, 3, 2, 4}, 1, 0},
		{"duplicate", []uint16{1, 2, 2, 3}, 0, 1},
		{"late duplicate", []uint16{1, 3, 2, 2, 4}, 1, 1},
		{"over the wrap", []uint16{65534, 0, 65535, 1, 0}, 1, 1},
		{"late beyond the window", []uint16{1, 400, 2}, 1, 0},
		{"gap then old duplicate", []uint16{1, 2, 200, 2}, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f rtpFlow
			for i, s := range tc.seqs {
				f.update(rtpFields{Seq: s, Timestamp: uint32(i) * 160}, 172, int64(i)*20e6, uint64(i+1))
			}
			if f.q.late != tc.late || f.q.duplicates != tc.dups {
				t.Errorf("late %d, duplicates %d; want %d, %d", f.q.late, f.q.duplicates, tc.late, tc.dups)
			}
		})
	}
}

// TestRegularPackets: gaps before a talk spurt and comfort noise are the
// sender's, not the network's; telephone events have no clock.
func TestRegularPackets(t *testing.T) {
	var f rtpFlow
	f.q.eventPT = 101 + 1
	at := int64(0)
	send := func(pt uint8, marker bool, ts uint32, gapMs int64) {
		at += gapMs * 1e6
		h := rtpFields{PT: pt, Seq: uint16(f.Packets + 1), Timestamp: ts}
		if marker {
			h.Info = infoMarker
		}
		f.update(h, 172, at, f.Packets+1)
	}
	send(0, false, 0, 0)
	send(0, false, 160, 20)
	send(0, true, 8160, 1000) // talk spurt after a second of silence
	send(0, false, 8320, 30)  // a late packet: 10 ms of jitter
	send(101, false, 8480, 20)
	send(13, false, 8480, 20)
	send(0, false, 8640, 500) // after comfort noise
	if got := f.q.MaxDelta().Milliseconds(); got != 30 {
		t.Errorf("max delta %d ms, want 30 (the 1 s and 500 ms gaps are silence)", got)
	}
	if f.q.regular != 2 {
		t.Errorf("%d regular packets, want 2", f.q.regular)
	}
}

// TestJitterKeepsToTheStreamsClock: a packet of another dynamic type in
// the stream (Cisco's NSE on 100 beside PCMA, its timestamp its own) and a
// new timestamp base under the same SSRC (a gateway switching its source)
// say nothing of the network's delay; Wireshark's figures for the two
// captures this comes from (10.10.10.158's stream in rtpFilter_fail_2,
// 10.23.1.52's in FAX-Call-t38-CA-TDM-SIP-FB-1) stay within 20 ms.
func TestJitterKeepsToTheStreamsClock(t *testing.T) {
	for _, tc := range []struct {
		name string
		odd  func(seq uint16, ts uint32) rtpFields // the packet sent at 1 s
		back uint32                                // timestamp step back after it
	}{
		{"undeclared dynamic type", func(seq uint16, _ uint32) rtpFields {
			return rtpFields{PT: 100, Seq: seq, Timestamp: 4000, Info: infoMarker}
		}, 0},
		{"new timestamp base", func(seq uint16, ts uint32) rtpFields {
			return rtpFields{PT: ptPCMA, Seq: seq, Timestamp: ts - 28000}
		}, 28000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := rtpFlow{clockRate: 8000, clockPT: ptPCMA}
			ts, seq := uint32(0), uint16(0)
			for i := range 100 {
				at := int64(i) * 20e6
				seq++
				h := rtpFields{PT: ptPCMA, Seq: seq, Timestamp: ts}
				if i == 50 {
					h = tc.odd(seq, ts)
					ts -= tc.back
				}
				f.update(h, 172, at, uint64(i+1))
				ts += 160
			}
			if got := f.q.JitterMaxMs(); got > 1 {
				t.Errorf("jitter max %.1f ms on a stream sent and received every 20 ms, want 0", got)
			}
		})
	}
}

func TestG711Level(t *testing.T) {
	silence := make([]byte, 160)
	for i := range silence {
		silence[i] = 0xff // µ-law zero
	}
	if c := payloadLevel(ptPCMU, silence); c.dBov() > silentDBov {
		t.Errorf("µ-law silence measured at %.0f dBov", c.dBov())
	}
	// 0x80 and 0x00 are µ-law's extremes, ±32124: a full-scale square wave.
	loud := make([]byte, 160)
	for i := range loud {
		loud[i] = byte(i%2) << 7
	}
	if c := payloadLevel(ptPCMU, loud); c.dBov() < -1 {
		t.Errorf("full-scale µ-law measured at %.0f dBov", c.dBov())
	}
	// A-law 0xd5 is +8 (the smallest step), 0x55 -8.
	quiet := make([]byte, 160)
	for i := range quiet {
		quiet[i] = 0xd5 ^ byte(i%2)<<7
	}
	if c := payloadLevel(ptPCMA, quiet); c.dBov() > silentDBov {
		t.Errorf("A-law ±8 measured at %.0f dBov, want silence", c.dBov())
	}
	if c := payloadLevel(ptCN, []byte{70}); c.dBov() != -70 {
		t.Errorf("comfort noise at -70 dBov read as %.0f", c.dBov())
	}
	if c := payloadLevel(18, loud); c != 0 {
		t.Errorf("G.729 payload measured: %d", c)
	}
	for b := range 256 {
		if u, a := ulawMagnitude(byte(b)), alawMagnitude(byte(b)); u > 32124 || a > 32256 {
			t.Errorf("byte %#x decodes past G.711's range: µ %d, A %d", b, u, a)
		}
	}
}

// TestEModel checks the simplified E-model against its known points: a
// clean G.711 call scores about 4.4, G.729 about 4.1, and loss lowers both.
func TestEModel(t *testing.T) {
	for _, tc := range []struct {
		codec          string
		loss, jitter   float64
		wantR, wantMOS float64
	}{
		{"PCMU/8000", 0, 0, 93.0, 4.41},
		{"PCMA/8000", 1, 5, 89.1, 4.32},
		{"PCMU/8000", 10, 20, 64.9, 3.35},
		{"G729/8000", 0, 0, 82.0, 4.10},
	} {
		r, mos, ok := eModel(tc.codec, tc.loss, tc.jitter)
		if !ok || math.Abs(r-tc.wantR) > 0.1 || math.Abs(mos-tc.wantMOS) > 0.01 {
			t.Errorf("eModel(%s, %.0f%%, %.0f ms) = R %.1f MOS %.2f (%v), want %.1f %.2f", tc.codec, tc.loss, tc.jitter, r, mos, ok, tc.wantR, tc.wantMOS)
		}
	}
	if _, _, ok := eModel("opus/48000", 0, 0); ok {
		t.Error("a MOS for a codec without known impairment")
	}
	if mosOf(-5) != 1 || mosOf(120) != 4.5 {
		t.Error("MOS outside 1..4.5")
	}
}

// TestToneLevel: the tone generated calls carry (1 kHz, peak 4000),
// encoded by g711 and decoded here, measures where it should: -21 dBov.
func TestToneLevel(t *testing.T) {
	tone := g711.ULawTone(160, 1000, 4000)
	if c := payloadLevel(ptPCMU, tone); c.dBov() < -23 || c.dBov() > -19 {
		t.Errorf("tone at %.0f dBov, want about -21", c.dBov())
	}
}

// TestBarelySent: a direction of a two-way call with a few packets
// against seconds of the other is a warning; a short call, a direction
// that carried speech, or a one-way verdict is not.
func TestBarelySent(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	flow := func(dir string, packets uint64, span time.Duration) report.RTPFlow {
		return report.RTPFlow{Direction: dir, Src: "192.0.2.1:4000", Dst: "192.0.2.2:4000", Packets: packets,
			First: t0, Last: t0.Add(span), Quality: &report.StreamQuality{Codec: "PCMU/8000"}}
	}
	for _, tc := range []struct {
		name    string
		verdict report.Verdict
		flows   []report.RTPFlow
		want    bool
	}{
		{"one packet against 7 s", report.VerdictTwoWay, []report.RTPFlow{flow("caller->callee", 1, 0), flow("callee->caller", 355, 7*time.Second)}, true},
		{"the callee's few packets", report.VerdictTwoWay, []report.RTPFlow{flow("caller->callee", 3000, time.Minute), flow("callee->caller", 12, time.Minute)}, true},
		{"a second of speech", report.VerdictTwoWay, []report.RTPFlow{flow("caller->callee", 60, 2*time.Second), flow("callee->caller", 3000, time.Minute)}, false},
		{"a short call", report.VerdictTwoWay, []report.RTPFlow{flow("caller->callee", 2, 0), flow("callee->caller", 150, 3*time.Second)}, false},
		{"a one-way verdict says it already", report.VerdictOneWay, []report.RTPFlow{flow("caller->callee", 1, 0), flow("callee->caller", 355, 7*time.Second)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := report.Call{CallID: "x", Verdict: tc.verdict, Streams: []report.MediaStream{{Flows: tc.flows}}}
			_, got := barelySentFinding(c, nil)
			if got != tc.want {
				t.Errorf("finding %v, want %v", got, tc.want)
			}
		})
	}
}

// TestBarelySentKeepalives: a direction whose few packets are all of a
// payload type neither SDP names sent RTP keepalives (RFC 6263), no
// audio: the finding says so, in its title and its evidence.
func TestBarelySentKeepalives(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	listed := func(party, index int) []string { return []string{"0 PCMU/8000", "101 telephone-event/8000"} }
	for _, tc := range []struct {
		pts       report.PayloadTypes
		keepalive bool
	}{{report.PayloadTypes{95}, true}, {report.PayloadTypes{0}, false}, {report.PayloadTypes{95, 0}, false}} {
		c := report.Call{CallID: "x", Verdict: report.VerdictTwoWay, Streams: []report.MediaStream{{Flows: []report.RTPFlow{
			{Direction: "caller->callee", Src: "192.0.2.1:4000", Dst: "192.0.2.2:4000", Packets: 288, First: t0, Last: t0.Add(6 * time.Second),
				PayloadTypes: report.PayloadTypes{0}, Quality: &report.StreamQuality{Codec: "PCMU/8000"}},
			{Direction: "callee->caller", Src: "192.0.2.2:4000", Dst: "192.0.2.1:4000", Packets: 1, First: t0, Last: t0,
				PayloadTypes: tc.pts, Quality: &report.StreamQuality{}},
		}}}}
		f, ok := barelySentFinding(c, listed)
		said := ok && strings.Contains(f.Title, "sent no audio, only 1 RTP keepalive") &&
			strings.Contains(f.Evidence[len(f.Evidence)-1].Text, "payload type 95, which no SDP of the call names")
		if !ok || said != tc.keepalive {
			t.Errorf("payload types %v: finding %v, keepalives said %v, want %v: %+v", tc.pts, ok, said, tc.keepalive, f)
		}
	}
}

func TestQualityFindings(t *testing.T) {
	flow := func(dir string, mos float64, silent, unreachable bool) report.RTPFlow {
		q := &report.StreamQuality{Codec: "PCMU/8000", MOS: mos, LossPct: 9, JitterMeanMs: 30, Expected: 440}
		if silent {
			q.Level = &report.AudioLevel{Packets: 400, MeanDBov: -90, PeakDBov: -80, SilentDBov: silentDBov, Silent: true}
		}
		return report.RTPFlow{Direction: dir, Src: "192.0.2.1:4000", Dst: "192.0.2.2:4000", Packets: 400, Quality: q, Unreachable: unreachable}
	}
	for _, tc := range []struct {
		name  string
		flows []report.RTPFlow
		want  []report.FindingID
	}{
		{"fine", []report.RTPFlow{flow("caller->callee", 4.4, false, false), flow("callee->caller", 4.4, false, false)}, nil},
		{"callee muted", []report.RTPFlow{flow("caller->callee", 4.4, false, false), flow("callee->caller", 4.4, true, false)}, []report.FindingID{IDSilentAudio}},
		{"poor one way", []report.RTPFlow{flow("caller->callee", 3.2, false, false)}, []report.FindingID{IDPoorAudioQuality}},
		{"silence that never arrives is the verdict's business", []report.RTPFlow{flow("callee->caller", 4.4, true, true)}, nil},
		{"no MOS for the codec", []report.RTPFlow{flow("caller->callee", 0, false, false)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := report.Call{CallID: "x", Streams: []report.MediaStream{{Flows: tc.flows}}}
			var got []report.FindingID
			for _, f := range qualityFindings(c, nil) {
				got = append(got, f.ID)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("findings %v, want %v", got, tc.want)
			}
		})
	}
}

// TestThinnedCapture: a stream of which the capture holds 2 packets of 964
// (Wireshark's 1filtered sample, thinned to a packet every 2 s) is poor
// audio by its figures, but a loss no call would go on with: the finding
// says the capture may be what kept few of them, and its remedy is to
// check the capture first. At 9 % lost it is the network's.
func TestThinnedCapture(t *testing.T) {
	for _, tc := range []struct {
		loss   float64
		remedy string
	}{{99.8, remedyThinCapture}, {9, remedyPoorQuality}} {
		q := &report.StreamQuality{Codec: "PCMU/8000", MOS: 1.06, LossPct: tc.loss, Expected: 964}
		c := report.Call{CallID: "x", Streams: []report.MediaStream{{Flows: []report.RTPFlow{{Direction: "caller->callee", Packets: 2, Quality: q}}}}}
		fs := qualityFindings(c, nil)
		if len(fs) != 1 || fs[0].ID != IDPoorAudioQuality || fs[0].Remedy != tc.remedy {
			t.Fatalf("loss %.1f%%: %+v", tc.loss, fs)
		}
		if thin := strings.Contains(fs[0].Title, "the capture holds 2 of 964 packets"); thin != (tc.loss >= thinnedLossPct) {
			t.Errorf("loss %.1f%%: %s", tc.loss, fs[0].Title)
		}
	}
}

// TestRTCPConfirmsOneWay: in the baresip call recorded through a real NAT,
// the caller's RTCP reports on the callee's stream never: it received
// none of it, which joins the one-way finding as evidence; the callee's
// reports on the caller's stream are read beside the capture's figures.
func TestRTCPConfirmsOneWay(t *testing.T) {
	res := analyzePath(t, filepath.Join("..", "testdata", "natlab-one-way-private-sdp.pcap"))
	c := res.Calls[0]
	var oneWay *report.Finding
	for i := range c.Findings {
		if c.Findings[i].ID == report.IDOneWayAudio {
			oneWay = &c.Findings[i]
		}
	}
	if oneWay == nil || !strings.Contains(oneWay.Evidence[len(oneWay.Evidence)-1].Text, "the caller received nothing") {
		t.Fatalf("one-way finding lacks the RTCP evidence: %+v", oneWay)
	}
	back, fwd := report.MainFlow(c, "callee->caller"), report.MainFlow(c, "caller->callee")
	if back != nil {
		t.Errorf("the callee's stream to a private address counted as delivered: %+v", back)
	}
	if fwd == nil || fwd.Reports == nil || fwd.Reports.Receiver == nil || fwd.Reports.Receiver.CumulativeLost != 0 || fwd.Reports.SenderReports == 0 {
		t.Errorf("caller->callee RTCP view: %+v", fwd)
	}
}

func TestParseCrypto(t *testing.T) {
	for _, tc := range []struct {
		line  string
		ok    bool
		suite string
	}{
		{"1 AES_CM_128_HMAC_SHA1_80 inline:D2YmkapsLg7GhQkROWl3wLJxRXuRBhnHYVjq4nsO", true, "AES_CM_128_HMAC_SHA1_80"},
		{"1 AES_256_CM_HMAC_SHA1_80 inline:R+USwMt3d0q/xyfdSq9aK+vrdTf0x6n6SOcC4E6AZmL5vqEzRofmJm7xWsV9Eg==", true, "AES_256_CM_HMAC_SHA1_80"},
		{"1 AES_CM_128_HMAC_SHA1_32 inline:D2YmkapsLg7GhQkROWl3wLJxRXuRBhnHYVjq4nsO|2^20", true, "AES_CM_128_HMAC_SHA1_32"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:D2YmkapsLg7GhQkROWl3wLJxRXuRBhnHYVjq4nsO|2^20|1:4", true, "AES_CM_128_HMAC_SHA1_80"}, // MKI
		{"1 AES_CM_128_HMAC_SHA1_80 inline:D2YmkapsLg7GhQkROWl3wLJxRXuRBhnHYVjq4nsO|1:1", true, "AES_CM_128_HMAC_SHA1_80"},      // MKI, no lifetime
		{"1 AES_CM_128_HMAC_SHA1_80 inline:D2YmkapsLg7GhQkROWl3wLJxRXuRBhnHYVjq4nsO|2^31|256:1", false, ""},                     // MKI too big for its length
		{"1 AES_CM_128_HMAC_SHA1_80 inline:D2YmkapsLg7GhQkROWl3wLJxRXuRBhnHYVjq4nsO|2^31|1:9", false, ""},                       // MKI too long
		{"1 F8_128_HMAC_SHA1_80 inline:D2YmkapsLg7GhQkROWl3wLJxRXuRBhnHYVjq4nsO", false, ""},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=", false, ""}, // too short
		{"1 AES_CM_128_HMAC_SHA1_80", false, ""},
		{"", false, ""},
	} {
		k, ok := parseCrypto(tc.line)
		if ok != tc.ok || k.suite != tc.suite {
			t.Errorf("parseCrypto(%q) = %q, %v", tc.line, k.suite, ok)
		}
	}
}

// TestSRTPCheck: a packet encrypted with one key authenticates with it
// and not with another, and its audio is measured once decrypted.
func TestSRTPCheck(t *testing.T) {
	good, _ := parseCrypto("1 AES_CM_128_HMAC_SHA1_80 inline:D2YmkapsLg7GhQkROWl3wLJxRXuRBhnHYVjq4nsO")
	wrong, _ := parseCrypto("1 AES_CM_128_HMAC_SHA1_80 inline:oFDqZSB4m17urfnVpfws4X4v2HHt8IGX/3BO4L8L")
	enc, err := srtp.CreateContext(good.key, good.salt, good.profile)
	if err != nil {
		t.Fatal(err)
	}
	packet := func(seq uint16) []byte {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 7},
			Payload: g711.ULawTone(160, 1000, 4000)}
		raw, _ := p.Marshal()
		out, err := enc.EncryptRTP(nil, raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		keys []sdesKey
		want uint64
	}{{"right key among others", []sdesKey{wrong, good}, 4}, {"wrong key", []sdesKey{wrong}, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			c := &srtpCheck{keys: tc.keys}
			var q flowQuality
			for seq := uint16(16); seq <= 64; seq += 16 {
				c.sample(packet(seq), &q)
			}
			if c.checked != 4 || c.authenticated != tc.want {
				t.Errorf("checked %d, authenticated %d; want 4, %d", c.checked, c.authenticated, tc.want)
			}
			if tc.want > 0 && (q.level.packets != 4 || q.level.active != 4) {
				t.Errorf("decrypted tone not measured: %+v", q.level)
			}
		})
	}
}

// TestSRTPCheckMKI: a key with an MKI (Microsoft's "|2^31|1:1") decrypts
// packets that carry it.
func TestSRTPCheckMKI(t *testing.T) {
	k, ok := parseCrypto("1 AES_CM_128_HMAC_SHA1_80 inline:D2YmkapsLg7GhQkROWl3wLJxRXuRBhnHYVjq4nsO|2^31|1:1")
	if !ok || string(k.mki) != "\x01" {
		t.Fatalf("parseCrypto: %+v, %v", k, ok)
	}
	enc, err := srtp.CreateContext(k.key, k.salt, k.profile, srtp.MasterKeyIndicator([]byte{1}))
	if err != nil {
		t.Fatal(err)
	}
	c := &srtpCheck{keys: []sdesKey{k}}
	var q flowQuality
	for seq := uint16(16); seq <= 64; seq += 16 {
		p := rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 7}, Payload: g711.ULawTone(160, 1000, 4000)}
		raw, _ := p.Marshal()
		out, err := enc.EncryptRTP(nil, raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.sample(out, &q)
	}
	if c.checked != 4 || c.authenticated != 4 {
		t.Errorf("checked %d, authenticated %d; want 4, 4", c.checked, c.authenticated)
	}
}

// TestSRTPRealCapture: the voipshark SDES-SRTP call decrypts with the keys
// of its SDP, every sampled packet, with audio in it.
func TestSRTPRealCapture(t *testing.T) {
	res := realPcap(t, "voipshark__SIP-SRTP-Normal_Call_two_parties.pcap")
	for _, c := range res.Calls {
		for _, dir := range []string{"caller->callee", "callee->caller"} {
			f := report.MainFlow(c, dir)
			if f == nil || f.Quality.SRTP == nil || f.Quality.SRTP.Authenticated == 0 || f.Quality.SRTP.Authenticated != f.Quality.SRTP.Checked {
				t.Errorf("%s %s: SRTP check %+v", c.ID, dir, f)
				continue
			}
			if l := f.Quality.Level; l == nil || l.Silent || l.Active == 0 {
				t.Errorf("%s %s: decrypted audio level %+v", c.ID, dir, l)
			}
		}
	}
}

// TestCodeOfPower: the table search gives what the logarithm gives.
func TestCodeOfPower(t *testing.T) {
	for db := 5.0; db >= -140; db -= 0.37 {
		if got, want := codeOfPower(math.Pow(10, db/10)), codeOf(db); got != want {
			t.Errorf("%.2f dBov: code %d, want %d", db, got, want)
		}
	}
	if codeOfPower(0) != 127 {
		t.Error("digital silence is not the quietest code")
	}
}

// TestRTCPReports: a compound packet's SR, RR and XR VoIP metrics are
// read, an SDES pion/rtcp would refuse does not cost them, and a report
// cut short is an anomaly.
func TestRTCPReports(t *testing.T) {
	sr := &rtcp.SenderReport{SSRC: 1, PacketCount: 250, Reports: []rtcp.ReceptionReport{
		{SSRC: 2, FractionLost: 64, TotalLost: 0xfffffe, LastSequenceNumber: 1000, Jitter: 80}}}
	xr := &rtcp.ExtendedReport{SenderSSRC: 1, Reports: []rtcp.ReportBlock{&rtcp.VoIPMetricsReportBlock{SSRC: 2, LossRate: 13, RoundTripDelay: 40, RFactor: 80, MOSLQ: 41, MOSCQ: 127}}}
	raw, err := rtcp.Marshal([]rtcp.Packet{sr, xr})
	if err != nil {
		t.Fatal(err)
	}
	oddSDES := []byte{0x81, 202, 0, 1, 0, 0, 0, 9} // an SDES chunk with no end
	s := newState()
	f := &rtpFlow{Key: flowKey{RTCP: true}}
	s.rtcpPacket(f, append(raw, oddSDES...), 1e9, 0, 7)
	st := f.rtcp
	if st == nil || st.srReports != 1 || st.srPackets != 250 || len(st.sources) != 1 {
		t.Fatalf("state %+v", st)
	}
	src := st.sources[0]
	if src.cumulativeLost != -2 || src.fractionLost != 64 || src.jitter != 80 || src.xr == nil || src.xr.MOSLQ != 41 {
		t.Errorf("source %+v", src)
	}
	stream := &rtpFlow{Key: flowKey{SSRC: 2}, clockRate: 8000}
	sum := receptionSummary(f, &src, stream)
	if sum.JitterMs != 10 || sum.FractionLostPct != 25 || sum.XR.MOSLQ != 4.1 || sum.XR.MOSCQ != 0 || sum.XR.RoundTripMs != 40 {
		t.Errorf("summary %+v %+v", sum, sum.XR)
	}
	s.rtcpPacket(f, raw[:20], 2e9, 100, 8)
	if a := s.list(); len(a) != 1 || a[0].Kind != "malformed-rtcp" {
		t.Errorf("anomalies %+v", a)
	}
}

// TestDirectMediaWording: a proxy that passes on the parties' own SDP
// (Kamailio without media anchoring, recorded through natlab) is said to
// keep off the media path, not to be a relay or a NAT.
func TestDirectMediaWording(t *testing.T) {
	res := analyzePath(t, filepath.Join("..", "testdata", "natlab-kamailio-hep-proxy.pcap"))
	var titles []string
	for _, c := range res.Calls {
		for _, f := range c.Findings {
			if f.ID == IDSDPAddressDiffers {
				titles = append(titles, f.Title)
			}
		}
	}
	if len(titles) == 0 || !strings.Contains(titles[0], "the callee's own address: media goes between the parties directly") {
		t.Errorf("sdp-address-differs titles: %q", titles)
	}
}

// TestSRTCPWithoutSDP: SRTCP whose SDP the capture lacks (SIP over TLS)
// is told by its trailer and left unread, for AES-CM with its 80-bit tag
// and for AEAD, instead of being counted malformed or read from
// ciphertext; plain RTCP that does not tile is still an anomaly.
func TestSRTCPWithoutSDP(t *testing.T) {
	compound, err := rtcp.Marshal([]rtcp.Packet{
		&rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: 2, LastSequenceNumber: 500}}},
		&rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: 1, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "phone@192.0.2.1"}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		profile srtp.ProtectionProfile
		key     int
		salt    int
	}{{"AES_CM_128_HMAC_SHA1_80", srtp.ProtectionProfileAes128CmHmacSha1_80, 16, 14}, {"AEAD_AES_128_GCM", srtp.ProtectionProfileAeadAes128Gcm, 16, 12}} {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := srtp.CreateContext(make([]byte, tc.key), make([]byte, tc.salt), tc.profile)
			if err != nil {
				t.Fatal(err)
			}
			s := newState()
			f := &rtpFlow{Key: flowKey{RTCP: true}}
			for i := range 3 {
				out, err := enc.EncryptRTCP(nil, compound, nil)
				if err != nil {
					t.Fatal(err)
				}
				if tilesRTCP(out) || !looksSRTCP(out) {
					t.Fatalf("packet %d: tiles %v, SRTCP %v", i, tilesRTCP(out), looksSRTCP(out))
				}
				s.rtcpPacket(f, out, int64(i+1)*5e9, 0, uint64(i+1))
			}
			if a := s.list(); len(a) != 0 || f.rtcp == nil || !f.rtcp.encrypted || f.rtcp.reports != 0 {
				t.Errorf("anomalies %+v, state %+v", a, f.rtcp)
			}
		})
	}
	if looksSRTCP(compound) || !tilesRTCP(compound) {
		t.Error("plain RTCP taken for SRTCP")
	}
	// Reduced-size RTCP (RFC 5506), as WebRTC sends it: a lone feedback
	// packet, encrypted past its first eight bytes.
	enc, err := srtp.CreateContext(make([]byte, 16), make([]byte, 14), srtp.ProtectionProfileAes128CmHmacSha1_80)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []rtcp.Packet{
		&rtcp.TransportLayerNack{SenderSSRC: 1, MediaSSRC: 2, Nacks: []rtcp.NackPair{{PacketID: 7}}},
		&rtcp.PictureLossIndication{SenderSSRC: 1, MediaSSRC: 2},
		&rtcp.ReceiverEstimatedMaximumBitrate{SenderSSRC: 1, Bitrate: 1e6, SSRCs: []uint32{2}},
	} {
		lone, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		out, err := enc.EncryptRTCP(nil, lone, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !looksSRTCP(out) {
			t.Errorf("%T as reduced-size SRTCP not told", p)
		}
	}
	// Microsoft Teams' SRTCP: a receiver report, then the index, a 1-byte
	// MKI and the tag (a packet from nDPI's stun_msteams_unidir capture).
	teams := []byte{0x80, 0xc9, 0x00, 0x05, 0x00, 0x00, 0x03, 0xe8, 0x54, 0x45, 0x41, 0x3b, 0x6f, 0x68, 0x15, 0x14,
		0xfa, 0x9c, 0x98, 0xc9, 0x5d, 0x7a, 0x5c, 0xf3, 0x80, 0x00, 0xa1, 0x5e, 0x01, 0xe3, 0xe4, 0xb9, 0x90, 0xe8, 0xe3,
		0xfc, 0xd2, 0xe1, 0x70}
	if tilesRTCP(teams) || !looksSRTCP(teams) {
		t.Errorf("SRTCP with an MKI: tiles %v, SRTCP %v", tilesRTCP(teams), looksSRTCP(teams))
	}
}
