package capture

import (
	"strings"
	"testing"
)

// TestOfferProblem: what in a refused offer the other side may not take.
func TestOfferProblem(t *testing.T) {
	for _, tc := range []struct {
		name  string
		media []sdpMedia
		want  string
	}{
		{"stream disabled", []sdpMedia{{Media: "audio", Port: 0, Proto: "RTP/AVP", Codecs: []string{"0 PCMU/8000"}}},
			"it has no active stream, every m= line on port 0 (disabled)"},
		{"SRTP only", []sdpMedia{{Media: "audio", Port: 4000, Proto: "RTP/SAVP", Codecs: []string{"0 PCMU/8000"}}},
			"it offers encrypted media only (RTP/SAVP)"},
		{"DTLS-SRTP only", []sdpMedia{{Media: "audio", Port: 9, Proto: "UDP/TLS/RTP/SAVPF", Codecs: []string{"111 opus/48000/2"}}},
			"it offers encrypted media only (UDP/TLS/RTP/SAVPF)"},
		{"video only", []sdpMedia{{Media: "audio", Port: 0, Proto: "RTP/AVP"}, {Media: "video", Port: 9078, Proto: "RTP/AVP", Codecs: []string{"96 VP8/90000"}}},
			"it offers no audio, only video"},
		{"codecs", []sdpMedia{{Media: "audio", Port: 4000, Proto: "RTP/AVP", Codecs: []string{"18 G729/8000", "101 telephone-event/8000", "13 CN/8000", "9"}}},
			"the other side takes none of its codecs (G729/8000, payload type 9) over RTP/AVP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := offerProblem(&sdpInfo{Media: tc.media}); !strings.HasPrefix(got, tc.want) {
				t.Errorf("%q, want %q", got, tc.want)
			}
		})
	}
}
