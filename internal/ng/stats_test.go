package ng

import (
	"net/netip"
	"os"
	"testing"
)

func readReply(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name + "-reply.bin")
	if err != nil {
		t.Fatal(err)
	}
	_, d, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestReadCallStats reads a real rtpengine's query and delete replies
// (testdata/README.md says what the call did).
func TestReadCallStats(t *testing.T) {
	for _, name := range []string{"query", "delete"} {
		t.Run(name, func(t *testing.T) {
			cs := ReadCallStats(readReply(t, name))
			caller, callee := cs.Parties["ft"], cs.Parties["tt"]
			if len(cs.Parties) != 2 || cs.RTP.Packets != 35 || cs.RTP.Bytes != 6020 {
				t.Fatalf("parties %d, totals %+v; want 2 parties, 35 packets, 6020 bytes", len(cs.Parties), cs.RTP)
			}
			// The caller sent from another port than its SIP source and SDP
			// named: the engine latched there. Its advertised address is
			// the SIP source (SIP-source-address), not the private SDP one.
			want := PartyStats{Local: ap("127.0.77.1:30018"), Endpoint: ap("127.0.77.5:41234"), Advertised: ap("127.0.77.5:40000"),
				RTP: Counts{Packets: 20, Bytes: 3440}}
			if caller.LastPacket.IsZero() {
				t.Error("caller: no last packet time")
			}
			caller.LastPacket = want.LastPacket
			if caller != want {
				t.Errorf("caller\n got %+v\nwant %+v", caller, want)
			}
			if callee.Endpoint != ap("127.0.77.6:40002") || callee.RTP.Packets != 15 || callee.Local.Port() == 0 {
				t.Errorf("callee %+v", callee)
			}
		})
	}
}

func TestReadEngineStats(t *testing.T) {
	st := ReadEngineStats(readReply(t, "stats"))
	if st.Sessions != 1 || st.RelayedPackets != 35 || st.RelayedBytes != 6020 {
		t.Errorf("%+v: want 1 session, 35 packets and 6020 bytes relayed", st)
	}
}

func TestReadStatsOfOddReplies(t *testing.T) {
	// Wrong types and missing keys read as zero, never panic.
	for _, r := range []map[string]any{
		{},
		{"tags": "x", "totals": int64(3)},
		{"tags": map[string]any{"a": map[string]any{"medias": []any{"x", map[string]any{"type": "audio", "streams": []any{int64(1), map[string]any{"local port": "99999999"}}}}}}},
		{"statistics": map[string]any{"currentstatistics": map[string]any{"sessionsown": "12"}}},
	} {
		ReadCallStats(r)
		ReadEngineStats(r)
	}
	odd := ReadCallStats(map[string]any{"tags": map[string]any{"a": map[string]any{"medias": []any{map[string]any{"type": "audio",
		"streams": []any{map[string]any{"local address": "10.0.0.1", "local port": int64(70000)}}}}}}})
	if p := odd.Parties["a"].Local; p.Port() != 0 {
		t.Errorf("port 70000 read as %v", p)
	}
	if n := ReadEngineStats(map[string]any{"statistics": map[string]any{"currentstatistics": map[string]any{"sessionsown": "12"}}}).Sessions; n != 12 {
		t.Errorf("a number sent as a string: %d", n)
	}
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
