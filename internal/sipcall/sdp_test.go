package sipcall

import (
	"errors"
	"strings"
	"testing"
)

func TestAudioAddr(t *testing.T) {
	tests := []struct {
		name     string
		sdp      string
		want     string
		inactive bool
		err      error
	}{
		{"media-level c", "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\nc=IN IP4 10.0.0.1\r\n", "10.0.0.1:5000", false, nil},
		{"hold by c=0.0.0.0", "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n", "0.0.0.0:5000", true, nil},
		{"inactive", "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\na=inactive\r\n", "10.0.0.1:5000", true, nil},
		{"absurd port count", "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 5000/65535 RTP/AVP 0\r\n", "", false, ErrSDPPortCount},
		{"no audio", "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\n", "", false, ErrSDPNoAudio},
		{"too many streams", "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nt=0 0\r\n" + strings.Repeat("m=audio 5000 RTP/AVP 0\r\n", 40), "", false, ErrSDPTooMany},
		{"too large", "v=0\r\n" + strings.Repeat("a=x\r\n", 5000), "", false, ErrSDPTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AudioAddr([]byte(tt.sdp))
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.RTP.String() != tt.want || got.Inactive != tt.inactive {
				t.Errorf("got %v inactive=%v", got.RTP, got.Inactive)
			}
		})
	}
}
