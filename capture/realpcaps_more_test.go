package capture

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/natdoc/natdoc/report"
	"github.com/natdoc/natdoc/tlsdecrypt"
)

// TestMoreRealCaptures judges public captures beside those the shared
// README lists: the rest of heplify's example/pcap (at d524943), one of
// its decoder test files, voipshark's SIP over TLS pair with its server
// key (default.key, saved as voipshark__default.key) and some of NormB/
// sipnab's samples, named <origin>__<file> as in shared/realpcaps. Each
// is skipped when not present.
func TestMoreRealCaptures(t *testing.T) {
	tests := []struct {
		file      string
		packets   uint64
		want      []wantCall
		anomalies []string // kinds expected
		check     func(t *testing.T, res *Result)
	}{
		// An SBC (inside 10.35.60.100, seen across a NAT as 10.35.40.200;
		// outside 138.132.169.101) between a gateway's media host
		// 10.23.1.52 and a peer at 192.168.100.219: the inside legs' RTP
		// flows both ways, the outside leg's RTP is not in the capture,
		// but the SBC relays the peer's audio inside (3848 packets). A
		// T.38 re-INVITE is refused (488) and the call goes back to audio.
		{file: "heplify__FAX-Call-t38-CA-TDM-SIP-FB-1.pcap", packets: 7217, want: []wantCall{
			{verdict: report.VerdictIncompleteCapture, legs: 3}}},
		// NDN over UDP on port 6363, one datagram in IPv6 fragments: no SIP.
		{file: "heplify__ipv6_udp_fragmented.pcap", packets: 6},
		// REGISTERs through a proxy over TCP and UDP, no INVITE.
		{file: "heplify__sip_ipv4_tcp_retrans.pcap", packets: 196},
		// An old phone writes IPv6 hosts without brackets, and the file's
		// clock jumps years between messages: INVITE, 100, 200, ACK, BYE,
		// 200 is one complete call, no RTP.
		{file: "heplify__sip_ipv6_udp.pcap", packets: 6, anomalies: []string{"clock-jump"}, want: []wantCall{
			{verdict: report.VerdictIncompleteCapture, transport: "UDP"}},
			check: func(t *testing.T, res *Result) {
				if c := res.Calls[0]; c.Caller.User != "9876" || c.Callee.User != "4321" {
					t.Errorf("parties %s → %s", c.Caller.User, c.Callee.User)
				}
			}},
		// SIP over TCP on port 6060 without RTP, messages split across
		// segments: of 37 INVITEs one gets no response at all over a
		// connection that carries the other calls, one is cancelled while
		// ringing (487), one refused (403), one still in early media when
		// the capture ends 32 s later.
		{file: "heplify__sip_ipv4_tcp_fragmented.pcap", packets: 1542, check: func(t *testing.T, res *Result) {
			counts := map[report.Verdict]int{}
			for _, c := range res.Calls {
				counts[c.Verdict]++
			}
			if len(res.Calls) != 37 || counts[report.VerdictNotAnswered] != 3 || counts[report.VerdictIncompleteCapture] != 34 {
				t.Errorf("%d calls: %v", len(res.Calls), counts)
			}
		}},
		// A WebRTC client over WebSocket through a B2BUA to a SIP trunk
		// over UDP, twice; no RTP in the file.
		{file: "heplify__sip_tcp_websocket.pcap", packets: 61, want: []wantCall{
			{verdict: report.VerdictIncompleteCapture, transport: "WS", legs: 2},
			{verdict: report.VerdictIncompleteCapture, transport: "UDP", legs: 2}}},
		// heplify's src/decoder/testdata/ipip0.pcap (at HEAD): SIP in
		// IP-in-IP; an INVITE refused 403, then a REGISTER whose
		// credentials are challenged twice with the same nonce.
		{file: "heplify__ipip0.pcap", packets: 8, want: []wantCall{
			{verdict: report.VerdictIncompleteCapture}},
			check: func(t *testing.T, res *Result) {
				if captureFinding(res, IDRegisterRefused) == nil {
					t.Error("the refused REGISTER is not reported")
				}
			}},
		// NormB/sipnab's tests/pcap-samples (at eb522d18): DTMF by SIP INFO
		// from a phone on a DSL line, captured inside its PPPoE session,
		// no RTP; the phone sends its INVITE over three sockets and
		// cancels the copies after the first 200 OK.
		{file: "sipnab__DTMFsipinfo.pcap", packets: 32, want: []wantCall{
			{verdict: report.VerdictIncompleteCapture}}},
		// Asterisk with direct media between two softphones on one LAN: the
		// caller (Zoiper, silence suppression on a quiet microphone) sends
		// one packet after the re-INVITE and nothing more while the callee
		// talks for 7 s. What was sent arrived: two-way, and a warning.
		{file: "sipnab__b2bua-asterisk.pcapng", packets: 416, want: []wantCall{
			{verdict: report.VerdictTwoWay, legs: 2, pkts: [2]uint64{1, 355}, findings: []report.FindingID{IDAudioBarelySent}}}},
		// A REGISTER refused 403 after the challenge; no call.
		{file: "sipnab__sip-auth-failure.pcapng", packets: 8, check: func(t *testing.T, res *Result) {
			if len(res.Calls) != 0 || captureFinding(res, IDRegisterRefused) == nil {
				t.Errorf("%d calls, register-refused %v", len(res.Calls), captureFinding(res, IDRegisterRefused) != nil)
			}
		}},
		// sipp against sipp on one host: 1334 INVITEs to 127.0.0.1:5060,
		// each its own call, none a leg of another.
		{file: "sipnab__sipp-branch-scenario.pcapng", packets: 8989, check: func(t *testing.T, res *Result) {
			if len(res.Calls) != 1334 {
				t.Errorf("%d calls, want 1334", len(res.Calls))
			}
		}},
		// The voipshark lab call (see voipshark__SIP-RTP-Normal_Call) with
		// SIP over TLS 1.0, TLS_RSA_WITH_AES_256_CBC_SHA, opened with the
		// PBX's key.
		{file: "voipshark__SIP-over-TLS-RTP-Normal_Call_two_parties.pcap", packets: 4965, want: []wantCall{
			{verdict: report.VerdictTwoWay, transport: "TLS", legs: 2, pkts: [2]uint64{1195, 1195}}}},
		{file: "voipshark__SIP-over-TLS-RSA-SRTP_Normal_Call_two_parties.pcap", packets: 4696, want: []wantCall{
			{verdict: report.VerdictTwoWay, transport: "TLS", legs: 2, pkts: [2]uint64{1123, 1118}, findings: []report.FindingID{IDMediaEncrypted}}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			dir := realPcapDir(t)
			path := filepath.Join(dir, tt.file)
			if _, err := os.Stat(path); err != nil {
				t.Skipf("%s not present", tt.file)
			}
			opt := Options{Files: []string{path}, Detail: true}
			if key, err := os.ReadFile(filepath.Join(dir, "voipshark__default.key")); err == nil {
				opt.TLSKeys = tlsdecrypt.NewKeys()
				if err := opt.TLSKeys.ReadRSAKey(key); err != nil {
					t.Fatal(err)
				}
			} else if filepath.Base(path)[:9] == "voipshark" {
				t.Skip("voipshark__default.key not present")
			}
			res, err := Analyze(context.Background(), opt)
			if err != nil {
				t.Fatal(err)
			}
			if res.Capture.Packets != tt.packets {
				t.Errorf("read %d packets, want %d", res.Capture.Packets, tt.packets)
			}
			for _, a := range res.Capture.Anomalies {
				if !slices.Contains(tt.anomalies, a.Kind) {
					t.Errorf("anomaly %+v", a)
				}
			}
			if tt.check == nil || tt.want != nil {
				checkCalls(t, res, tt.want)
			}
			if tt.check != nil {
				tt.check(t, res)
			}
		})
	}
}
