package capture

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// TestFragmentDialogIDs: a first fragment's Call-ID and CSeq, long or
// compact, only from whole lines; a line the fragment cuts is not read.
func TestFragmentDialogIDs(t *testing.T) {
	for _, tc := range []struct{ body, callID, cseq string }{
		{"INVITE sip:a SIP/2.0\r\nCall-ID: abc@h\r\nCSeq: 1 INVITE\r\nVia: x\r\n", "abc@h", "1 INVITE"},
		{"INVITE sip:a SIP/2.0\r\ni:abc\r\ncseq:  2 INVITE \r\n", "abc", "2 INVITE"},
		{"INVITE sip:a SIP/2.0\r\nVia: x\r\nCall-ID: cut-by-the-frag", "", ""},
		{"INVITE sip:a SIP/2.0\r\nCSeq: 1 INVITE\r\n\r\nv=0\r\ni: not-a-header\r\n", "", "1 INVITE"},
	} {
		callID, cseq := fragmentDialogIDs([]byte(tc.body))
		if callID != tc.callID || cseq != tc.cseq {
			t.Errorf("%q: %q, %q; want %q, %q", tc.body, callID, cseq, tc.callID, tc.cseq)
		}
	}
}

// TestLostFragmentsGrouped: resends of one lost message are one message
// with its transmissions' frames; messages without a Call-ID in their
// first fragment are told apart by start line and source.
func TestLostFragmentsGrouped(t *testing.T) {
	var l lostFragments
	var sink anomalies
	src := netip.MustParseAddrPort("203.0.113.1:5060")
	lose := func(frame uint64, line, callID string) {
		l.note(&fragCount{frame: frame, sip: &sipFragment{line: line, callID: callID, cseq: "1 INVITE", src: src, frame: frame}}, &sink)
	}
	lose(1, "INVITE sip:a SIP/2.0", "call-a")
	lose(2, "INVITE sip:a SIP/2.0", "call-a")
	lose(3, "INVITE sip:b SIP/2.0", "call-b")
	lose(4, "INVITE sip:a SIP/2.0", "call-a")
	lose(5, "INVITE sip:c SIP/2.0", "")
	lose(6, "INVITE sip:c SIP/2.0", "")
	fs := l.findings()
	if len(fs) != 1 || !strings.HasPrefix(fs[0].Title, "3 SIP message(s) over UDP (6 transmissions) arrived only in part") {
		t.Fatalf("findings %+v", fs)
	}
	ev := fs[0].Evidence
	if len(ev) != 3 || !slices.Equal(ev[0].Frames, []uint64{1, 2, 4}) || !strings.Contains(ev[0].Text, "3 times (Call-ID call-a)") ||
		!slices.Equal(ev[1].Frames, []uint64{3}) || strings.Contains(ev[1].Text, "times") || !slices.Equal(ev[2].Frames, []uint64{5, 6}) {
		t.Errorf("evidence %+v", ev)
	}
	if n := sink.list(); len(n) != 1 || n[0].Count != 6 {
		t.Errorf("anomalies %+v, want 6 ip-fragments-incomplete", n)
	}
}
