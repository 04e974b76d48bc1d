package capture

import (
	"strings"

	"github.com/natdoc/natdoc/report"
)

// mediaServerProducts are PBXs and media servers whose User-Agent or
// Server header names them: software that answers calls itself (voicemail,
// IVR, conference) or anchors the media of the calls it bridges. Such a
// server sends no RTP while it records a message or waits for digits
// unless told to send silence (Asterisk transmit_silence=yes, FreeSWITCH
// send_silence_when_idle), and a bridging one sends nothing while the
// phone on its other leg does not.
var mediaServerProducts = []string{"Asterisk", "FreeSWITCH", "FPBX", "FreePBX", "3CX", "Yate", "Issabel", "Elastix", "Wazo", "VitalPBX"}

// mediaServerName returns the product a User-Agent or Server header
// names when it is a PBX or media server, else "".
func mediaServerName(ua string) string {
	for _, p := range mediaServerProducts {
		if len(ua) >= len(p) && containsFold(ua, p) {
			return p
		}
	}
	return ""
}

// containsFold reports whether s contains sub, ASCII case folded.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// partyOf is the caller (0) or the callee (1) of a call.
func partyOf(c *report.Call, p int) *report.Party {
	if p == 0 {
		return &c.Caller
	}
	return &c.Callee
}
