package capture_test

import (
	"context"
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// writeRTPStream writes an RTP stream of payload type pt from src to dst
// at 50 packets a second from start to end, with no SIP.
func writeRTPStream(t *testing.T, src, dst netip.AddrPort, start, end time.Time, pt byte) string {
	t.Helper()
	path, w := createPcap(t, "stream.pcap", layers.LinkTypeEthernet)
	payload := make([]byte, 12+80)
	payload[0], payload[1] = 0x80, pt // RTP version 2
	binary.BigEndian.PutUint32(payload[8:], 0x5eed)
	for i, at := 0, start; at.Before(end); i, at = i+1, at.Add(20*time.Millisecond) {
		binary.BigEndian.PutUint16(payload[2:], uint16(i))
		binary.BigEndian.PutUint32(payload[4:], uint32(i*960))
		writeUDP(t, w, src, dst, payload, at)
	}
	return path
}

// TestOtherAppMediaNotTheCalls: RTP on the caller's host that no SDP names
// and the call does not need is not the call's media: the call keeps its
// own packets and findings, and the stream is media without signalling.
//   - A conferencing app receives from its server all through the call,
//     from before the INVITE to after the BYE. Found in a student's capture
//     with Discord beside a softphone: the call read 346/4961 packets, with
//     false "received nothing" warnings from the softphone's RTCP.
//   - Another call's media (a PBX's earlier call on the next port pair,
//     its SIP not captured) runs within the call, while both directions
//     already have their media at the SDP addresses. Found in Wireshark's
//     1filtered sample: 17 such packets counted as the callee's.
//   - An app's stream into the caller's host during a call in which the
//     caller hears nothing: its payload type is none the SDP lists, so it
//     does not make the call two-way.
func TestOtherAppMediaNotTheCalls(t *testing.T) {
	for _, tc := range []struct {
		name       string
		kind       pcapgen.Kind
		start, end time.Duration // from the call's start and end
	}{
		{"around the call", pcapgen.Normal, -2 * time.Second, 40 * time.Second},
		{"within the call", pcapgen.Normal, 3 * time.Second, -time.Second},
		{"into a one-way call", pcapgen.LANOneWay, 3 * time.Second, -time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, truths := generate(t, []pcapgen.Call{{Kind: tc.kind, Start: 20 * time.Second, Media: 6 * time.Second}}, pcapgen.Options{Seed: 2})
			alone := capture.AnalyzePath(t, path)
			checkTruth(t, alone, truths)
			c := alone.Calls[0]
			host := netip.MustParseAddrPort(c.Caller.SignalAddr).Addr()
			app := writeRTPStream(t, netip.AddrPortFrom(netip.MustParseAddr("198.51.100.99"), 9000), netip.AddrPortFrom(host, 62000),
				c.Start.Add(tc.start), c.End.Add(tc.end), 111) // a dynamic payload type
			res, err := capture.Analyze(context.Background(), capture.Options{Files: []string{path, app}, Detail: true})
			if err != nil {
				t.Fatal(err)
			}
			checkTruth(t, res, truths)
			if got, want := capture.FindingIDs(res.Calls[0]), capture.FindingIDs(c); !slices.Equal(got, want) {
				t.Errorf("findings with the other stream %v, alone %v", got, want)
			}
			found := false
			for _, f := range res.Findings {
				found = found || f.ID == "media-one-way-without-signalling" || f.ID == "media-without-signalling"
			}
			if !found {
				t.Errorf("the other stream is not reported as media without signalling: %v", res.Findings)
			}
		})
	}
}

// writeAppSession writes an app's RTP session of payload type pt between
// its server and port 62000 of host, both ways (so the server's end
// "answered"), from start to end.
func writeAppSession(t *testing.T, host netip.Addr, start, end time.Time, pt byte) string {
	t.Helper()
	local, server := netip.AddrPortFrom(host, 62000), netip.MustParseAddrPort("198.51.100.99:9000")
	path, w := createPcap(t, "app.pcap", layers.LinkTypeEthernet)
	payload := make([]byte, 12+80)
	payload[0], payload[1] = 0x80, pt
	for i, at := 0, start; at.Before(end); i, at = i+1, at.Add(20*time.Millisecond) {
		binary.BigEndian.PutUint16(payload[2:], uint16(i))
		binary.BigEndian.PutUint32(payload[8:], 0x5eed)
		writeUDP(t, w, server, local, payload, at)
		binary.BigEndian.PutUint32(payload[8:], 0xfeed)
		writeUDP(t, w, local, server, payload, at.Add(time.Millisecond))
	}
	return path
}

// TestOtherAppMediaNotOnRejectedCall: a call rejected without the
// callee's SDP set up no media, so an app's session on the caller's host
// during it, in a payload type its offer lists, is not its media. Found
// in students' captures on a proxy's host beside Discord: a ringing call
// counted 623 packets of it.
func TestOtherAppMediaNotOnRejectedCall(t *testing.T) {
	path, truths := generate(t, []pcapgen.Call{{Kind: pcapgen.Rejected, Start: 20 * time.Second}}, pcapgen.Options{Seed: 2})
	alone := capture.AnalyzePath(t, path)
	c := alone.Calls[0]
	app := writeAppSession(t, netip.MustParseAddrPort(c.Caller.SignalAddr).Addr(), c.Start.Add(-2*time.Second), c.Start.Add(20*time.Second), 0)
	res, err := capture.Analyze(context.Background(), capture.Options{Files: []string{path, app}, Detail: true})
	if err != nil {
		t.Fatal(err)
	}
	checkTruth(t, res, truths)
	if got := res.Calls[0]; len(got.Streams) > 0 && len(got.Streams[0].Flows) > 0 {
		t.Errorf("the rejected call took flows %+v", got.Streams[0].Flows)
	}
}

// TestOtherAppMediaAroundOneWayCall: an app's stream into the caller's
// host from before the INVITE to a few seconds after the BYE, in a
// payload type the SDP lists (101, the telephone events'), during a call
// in which the caller hears nothing. It is not the callee's media: no
// call's media precedes its INVITE and outlives its BYE, however soon
// after the BYE it stops. Found in a student's capture on a SIP proxy's
// host, where such a stream made the proxy's leg one-way the wrong way.
// Nor is one that begins just after the BYE, or well before the INVITE
// and ends before the BYE (MatusKlein MTAAZ1: a conferencing app's
// sessions on the proxy's host, beside calls whose media went past the
// proxy).
func TestOtherAppMediaAroundOneWayCall(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.Normal, Start: 20 * time.Second, Media: 6 * time.Second}}, pcapgen.Options{Seed: 2})
	callee := netip.MustParseAddr("198.51.100.20") // pcapgen's gateway
	// No RTCP either: the caller's would report the callee's RTP arriving.
	path = rewriteMedia(t, path, func(src netip.Addr, b []byte) bool { return src != callee && (b[1] < 200 || b[1] > 204) })
	alone := capture.AnalyzePath(t, path)
	c := alone.Calls[0]
	if c.Verdict != report.VerdictOneWay || c.CannotHear != "caller" {
		t.Fatalf("without the callee's RTP: %s (cannot hear %q), want one-way, the caller; %s", c.Verdict, c.CannotHear, c.Explain)
	}
	for _, span := range [][2]time.Time{
		{c.Start.Add(-8 * time.Second), c.End.Add(3 * time.Second)},
		{c.End.Add(300 * time.Millisecond), c.End.Add(5 * time.Second)},
		{c.Start.Add(-1600 * time.Millisecond), c.End.Add(-100 * time.Millisecond)},
	} {
		app := writeAppSession(t, netip.MustParseAddrPort(c.Caller.SignalAddr).Addr(), span[0], span[1], 101)
		res, err := capture.Analyze(context.Background(), capture.Options{Files: []string{path, app}, Detail: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Calls[0]; got.Verdict != c.Verdict || got.CannotHear != c.CannotHear || !slices.Equal(capture.FindingIDs(got), capture.FindingIDs(c)) {
			t.Errorf("with the app's stream from %s to %s after the BYE: %s (cannot hear %q), findings %v; alone %s, %v",
				span[0].Sub(c.End), span[1].Sub(c.End), got.Verdict, got.CannotHear, capture.FindingIDs(got), c.Verdict, capture.FindingIDs(c))
		}
	}
}

// TestRecordingForkNotTheCalls: a B2BUA that records a call forks its
// media to a recorder (Cisco CUBE's XMF recording, an SBC whose SIPREC
// signalling goes elsewhere): a stream from the party's host, in the
// call's codec, to a third host that never answers. It is no media of the
// call, even for a direction that has none: that host is neither party's,
// nor a port either SDP named. Found in a Cisco lab capture, where the
// fork was taken for the CUBE's media to the phone, with a false "its RTCP
// says it received nothing, although 1402 packets left for it".
func TestRecordingForkNotTheCalls(t *testing.T) {
	path, truths := generate(t, []pcapgen.Call{{Kind: pcapgen.LANOneWay, Start: 20 * time.Second, Media: 6 * time.Second}}, pcapgen.Options{Seed: 2})
	alone := capture.AnalyzePath(t, path)
	checkTruth(t, alone, truths)
	c := alone.Calls[0]
	callee := netip.MustParseAddrPort(c.Callee.SignalAddr).Addr()
	recorder := netip.MustParseAddrPort("198.51.100.210:6000")
	fork := writeRTPStream(t, netip.AddrPortFrom(callee, 7000), recorder, c.Start.Add(3*time.Second), c.End.Add(-time.Second), 0)
	res, err := capture.Analyze(context.Background(), capture.Options{Files: []string{path, fork}, Detail: true})
	if err != nil {
		t.Fatal(err)
	}
	checkTruth(t, res, truths)
	found := false
	for _, f := range res.Findings {
		found = found || f.ID == "media-one-way-without-signalling" || f.ID == "media-without-signalling"
	}
	if !found {
		t.Errorf("the fork is not reported as media without signalling: %v", res.Findings)
	}
}
