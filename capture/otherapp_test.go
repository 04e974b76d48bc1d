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
)

// writeAppMedia writes an RTP stream from src to dst at 50 packets a second
// from start to end: another application's media, with no SIP.
func writeAppMedia(t *testing.T, src, dst netip.AddrPort, start, end time.Time) string {
	t.Helper()
	return writeRTPStream(t, src, dst, start, end, 111) // a dynamic payload type
}

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
			app := writeAppMedia(t, netip.AddrPortFrom(netip.MustParseAddr("198.51.100.99"), 9000), netip.AddrPortFrom(host, 62000),
				c.Start.Add(tc.start), c.End.Add(tc.end))
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
