package capture

import (
	"testing"

	"github.com/pion/rtcp"
)

// TestRTCPFromJSON: reports as HEP agents write them become the RTCP
// packets they describe; what does not fit RTCP is refused.
func TestRTCPFromJSON(t *testing.T) {
	// As heplify prints a sender report with one reception block.
	sr := `{"sender_information":{"ntp_timestamp_sec":3913056000,"ntp_timestamp_usec":2147483648,"rtp_timestamp":160000,"packets":1000,"octets":172000},` +
		`"ssrc":305419896,"type":200,"report_count":1,"report_blocks":[{"source_ssrc":2882400001,"fraction_lost":3,"packets_lost":12,` +
		`"highest_seq_no":70000,"ia_jitter":40,"lsr":1,"dlsr":2}],"report_blocks_xr":{"type":0},"sdes_ssrc":305419896}`
	b, err := rtcpFromJSON([]byte(sr))
	if err != nil {
		t.Fatal(err)
	}
	ps, err := rtcp.Unmarshal(b)
	if err != nil || len(ps) != 1 {
		t.Fatalf("%v %v", ps, err)
	}
	got, ok := ps[0].(*rtcp.SenderReport)
	if !ok || got.SSRC != 305419896 || got.PacketCount != 1000 || got.NTPTime != 3913056000<<32|2147483648 || len(got.Reports) != 1 {
		t.Fatalf("sender report %+v", ps[0])
	}
	if r := got.Reports[0]; r.SSRC != 2882400001 || r.FractionLost != 3 || r.TotalLost != 12 || r.LastSequenceNumber != 70000 || r.Jitter != 40 {
		t.Errorf("block %+v", r)
	}
	// A receiver report with negative cumulative loss (duplicates).
	rr := `{"ssrc":7,"type":201,"report_blocks":[{"source_ssrc":9,"fraction_lost":0,"packets_lost":-2,"highest_seq_no":5,"ia_jitter":1,"lsr":0,"dlsr":0}]}`
	if b, err = rtcpFromJSON([]byte(rr)); err != nil {
		t.Fatal(err)
	}
	st := &rtcpState{}
	if err := st.report(b, b[1], 1, 1, false); err != nil || st.reports != 1 || st.srReports != 0 || len(st.sources) != 1 || st.sources[0].cumulativeLost != -2 {
		t.Errorf("read back: %+v %v", st, err)
	}
	for _, bad := range []string{
		`not json`,
		`{"ssrc":-1,"type":201}`,
		`{"ssrc":4294967296,"type":201}`,
		`{"ssrc":1,"type":200}`,
		`{"ssrc":1,"type":201,"report_blocks":[{"source_ssrc":1,"fraction_lost":256}]}`,
		`{"ssrc":1,"type":201,"report_blocks":[{"source_ssrc":1,"packets_lost":8388608}]}`,
		`{"ssrc":1.5,"type":201}`,
	} {
		if _, err := rtcpFromJSON([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
