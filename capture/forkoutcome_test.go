package capture_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/report"
)

// forkMessage is a SIP message of TestForkThatAnsweredIsTheOutcome's call:
// one Call-ID and From-tag, the proxy 10.0.0.1 forking it to two phones.
func forkMessage(first, toTag, cseq, phone string, body string) []byte {
	to := "<sip:200@example.com>"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	ct := ""
	if body != "" {
		ct = "Content-Type: application/sdp\r\n"
	}
	return fmt.Appendf(nil, "%s\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-%s-%s\r\nFrom: <sip:100@example.com>;tag=pf1\r\nTo: %s\r\n"+
		"Call-ID: fork-1@10.0.0.1\r\nCSeq: %s\r\nContact: <sip:%s>\r\n%sContent-Length: %d\r\n\r\n%s",
		first, phone, cseq[:1], to, cseq, phone, ct, len(body), body)
}

func forkSDP(ip string, port int) string {
	return fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", ip, ip, port)
}

// TestForkThatAnsweredIsTheOutcome: a forking proxy (its own incoming leg
// not in the capture) rings two phones with one INVITE; the second
// answers, the first is cancelled (487). The call is answered, by the
// fork that answered: it read "rejected, 487", the first fork's outcome.
func TestForkThatAnsweredIsTheOutcome(t *testing.T) {
	path, w := createPcap(t, "forks.pcap", 1)
	proxy := netip.MustParseAddrPort("10.0.0.1:5060")
	a, b := netip.MustParseAddrPort("10.0.0.2:5060"), netip.MustParseAddrPort("10.0.0.3:5060")
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	send := func(src, dst netip.AddrPort, data []byte) {
		at = at.Add(10 * time.Millisecond)
		writeUDP(t, w, src, dst, data, at)
	}
	offer := forkSDP("10.0.0.1", 40000)
	send(proxy, a, forkMessage("INVITE sip:200@10.0.0.2 SIP/2.0", "", "1 INVITE", a.String(), offer))
	send(proxy, b, forkMessage("INVITE sip:200@10.0.0.3 SIP/2.0", "", "1 INVITE", b.String(), offer))
	send(a, proxy, forkMessage("SIP/2.0 180 Ringing", "ta", "1 INVITE", a.String(), ""))
	send(b, proxy, forkMessage("SIP/2.0 180 Ringing", "tb", "1 INVITE", b.String(), ""))
	at = at.Add(3 * time.Second)
	send(b, proxy, forkMessage("SIP/2.0 200 OK", "tb", "1 INVITE", b.String(), forkSDP("10.0.0.3", 50000)))
	send(proxy, a, forkMessage("CANCEL sip:200@10.0.0.2 SIP/2.0", "", "1 CANCEL", a.String(), ""))
	send(proxy, b, forkMessage("ACK sip:200@10.0.0.3 SIP/2.0", "tb", "1 ACK", b.String(), ""))
	send(a, proxy, forkMessage("SIP/2.0 200 OK", "ta", "1 CANCEL", a.String(), ""))
	send(a, proxy, forkMessage("SIP/2.0 487 Request Terminated", "ta", "1 INVITE", a.String(), ""))
	send(proxy, a, forkMessage("ACK sip:200@10.0.0.2 SIP/2.0", "ta", "1 ACK", a.String(), ""))
	at = at.Add(5 * time.Second)
	send(b, proxy, forkMessage("BYE sip:100@10.0.0.1 SIP/2.0", "tb", "2 BYE", b.String(), ""))
	send(proxy, b, forkMessage("SIP/2.0 200 OK", "tb", "2 BYE", b.String(), ""))

	res := capture.AnalyzePath(t, path)
	if len(res.Calls) != 1 || len(res.Calls[0].Legs) != 2 {
		t.Fatalf("got %d calls, want 1 of 2 legs (the forks)", len(res.Calls))
	}
	c := res.Calls[0]
	if c.Status != 200 || c.State != "ended" || c.ToTag != "tb" || c.Answer.IsZero() {
		t.Errorf("status %d, state %s, To-tag %s, answered at %v; want 200, ended, tb (the fork that answered)", c.Status, c.State, c.ToTag, c.Answer)
	}
	if c.Verdict == report.VerdictNotAnswered {
		t.Errorf("verdict %s: %s", c.Verdict, c.Explain)
	}
	if l := c.Legs[0]; l.Status != 487 || l.State != "cancelled" {
		t.Errorf("the cancelled fork: status %d, state %s, want 487, cancelled", l.Status, l.State)
	}
}
