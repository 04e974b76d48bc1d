package capture

import (
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/report"
)

func TestPayloadFindings(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	offer := sdpAt(caller, "INVITE", t0, "audio", "sendrecv")
	offer.SDP.Media[0].Codecs = []string{"0 PCMU/8000", "8 PCMA/8000", "101 telephone-event/8000"}
	answer := sdpAt(callee, "200 OK", t0.Add(time.Second), "audio", "sendrecv")
	answer.SDP.Media[0].Codecs = []string{"0 PCMU/8000", "101 telephone-event/8000"}
	for _, tc := range []struct {
		name    string
		callee  []uint8 // payload types the callee sends
		caller  []uint8
		verdict report.Verdict
		want    string // the sender reported, "" for none
	}{
		{"both send what the other listed", []uint8{0, 101}, []uint8{0, 13}, report.VerdictTwoWay, ""},
		{"the callee sends G.729 the caller never offered", []uint8{18, 13}, []uint8{0}, report.VerdictTwoWay, "The callee sends RTP with payload type 18,"},
		{"the caller sends PCMA the callee did not answer with", []uint8{0}, []uint8{8}, report.VerdictTwoWay, "The caller sends RTP with payload type 8,"},
		{"a DTMF number differs, the audio is fine", []uint8{0, 96}, []uint8{0}, report.VerdictTwoWay, ""},
		{"comfort noise alone says nothing", []uint8{13}, []uint8{0}, report.VerdictTwoWay, ""},
		{"a call judged one-way", []uint8{18}, []uint8{0}, report.VerdictOneWay, ""},
	} {
		c := report.Call{CallID: "cid", Verdict: tc.verdict, Streams: []report.MediaStream{{Media: "audio", Flows: []report.RTPFlow{
			{Direction: "caller->callee", Src: "203.0.113.1:10000", Dst: "198.51.100.20:30000", Packets: 500, PayloadTypes: tc.caller},
			{Direction: "callee->caller", Src: "198.51.100.20:30000", Dst: "203.0.113.1:10000", Packets: 500, PayloadTypes: tc.callee},
		}}}}
		fs := payloadFindings(&c, &callBuild{call: &sipCall{}, events: []sdpEvent{offer, answer}})
		switch {
		case tc.want == "" && len(fs) != 0:
			t.Errorf("%s: %+v, want none", tc.name, fs)
		case tc.want != "" && (len(fs) != 1 || fs[0].ID != IDPayloadNotListed || !strings.HasPrefix(fs[0].Title, tc.want)):
			t.Errorf("%s: %+v, want one %s: %q", tc.name, fs, IDPayloadNotListed, tc.want)
		}
	}
}
