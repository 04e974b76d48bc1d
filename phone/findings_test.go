package phone

import (
	"net/netip"
	"testing"

	"github.com/natdoc/natdoc/internal/sipcall"
	"github.com/natdoc/natdoc/report"
)

func TestJudge(t *testing.T) {
	tests := []struct {
		name       string
		rx         uint64
		peerRx     int64
		verdict    report.Verdict
		cannotHear string
	}{
		{"both heard", 100, 90, report.VerdictTwoWay, ""},
		{"peer heard nothing", 100, 0, report.VerdictOneWay, "remote"},
		{"we heard nothing", 0, 80, report.VerdictOneWay, "local"},
		{"nobody heard", 0, 0, report.VerdictNoWay, ""},
		{"peer count unknown, we heard", 50, -1, report.VerdictOneWay, "remote"},
		{"peer count unknown, silence", 0, -1, report.VerdictNoWay, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, who, explain := Judge(tt.rx, tt.peerRx, 100)
			if v != tt.verdict || who != tt.cannotHear || explain == "" {
				t.Errorf("got %s %q %q", v, who, explain)
			}
		})
	}
}

func TestCallFindings(t *testing.T) {
	for _, tt := range []struct {
		verdict report.Verdict
		who     string
		id      report.FindingID
		problem bool
	}{
		{report.VerdictTwoWay, "", report.IDTwoWayAudio, false},
		{report.VerdictOneWay, "local", report.IDOneWayAudio, true},
		{report.VerdictOneWay, "remote", report.IDOneWayAudio, true},
		{report.VerdictNoWay, "", report.IDNoWayAudio, true},
	} {
		r := &CallResult{Verdict: tt.verdict, CannotHear: tt.who, SDPAddr: netip.MustParseAddrPort("192.168.1.10:4000"),
			RemoteSDP: netip.MustParseAddrPort("198.51.100.20:5000"), Received: sipcall.DirStats{From: netip.MustParseAddrPort("198.51.100.20:5000")}}
		f := CallFindings(r)
		if len(f) != 1 || f[0].ID != tt.id || f[0].Severity.IsProblem() != tt.problem {
			t.Errorf("%s/%s: %+v", tt.verdict, tt.who, f)
		}
		if tt.problem && f[0].Remedy == "" {
			t.Errorf("%s: no remedy", tt.id)
		}
	}
}

// TestCallFindingsEcho: a call to natdoc serve's echo user says how the echo
// sent its audio; an unknown value from the network says nothing.
func TestCallFindingsEcho(t *testing.T) {
	for _, tt := range []struct {
		via  string
		want bool
	}{{sipcall.EchoViaRelay, true}, {sipcall.EchoToSDP, true}, {"", false}} {
		r := &CallResult{Verdict: report.VerdictTwoWay, EchoMedia: tt.via}
		var got bool
		for _, f := range CallFindings(r) {
			got = got || f.ID == IDEchoMedia
		}
		if got != tt.want || (echoBehaviour(tt.via) != "") != tt.want {
			t.Errorf("via %q: echo finding %v, want %v", tt.via, got, tt.want)
		}
	}
	if echoBehaviour("<script>") != "" {
		t.Error("an unknown header value was taken")
	}
}
