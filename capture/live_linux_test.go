//go:build linux

package capture

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/natdoc/natdoc/report"
)

// netnsPair creates two network namespaces joined by a veth pair
// (10.99.0.1 in the first, 10.99.0.2 in the second); everything is
// removed at cleanup. Traffic never leaves them.
func netnsPair(t *testing.T) (a, b string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("iproute2 not installed")
	}
	a = fmt.Sprintf("ndcapA%d", os.Getpid())
	b = fmt.Sprintf("ndcapB%d", os.Getpid())
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	run("netns", "add", a)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", a).Run() })
	run("netns", "add", b)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", b).Run() })
	run("link", "add", "va", "netns", a, "type", "veth", "peer", "name", "vb", "netns", b)
	run("-n", a, "addr", "add", "10.99.0.1/24", "dev", "va")
	run("-n", b, "addr", "add", "10.99.0.2/24", "dev", "vb")
	for _, ns := range []string{a, b} {
		run("-n", ns, "link", "set", "lo", "up")
	}
	run("-n", a, "link", "set", "va", "up")
	run("-n", b, "link", "set", "vb", "up")
	return a, b
}

// inNetns runs fn on a thread switched into the named namespace. Sockets
// fn creates stay in that namespace.
func inNetns(t *testing.T, name string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := os.Open(filepath.Join("/var/run/netns", name))
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatalf("setns %s: %v", name, err)
	}
	fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		return // leave the thread locked: it dies with the goroutine
	}
	runtime.UnlockOSThread()
}

func udpIn(t *testing.T, ns, addr string) *net.UDPConn {
	var c *net.UDPConn
	var err error
	inNetns(t, ns, func() {
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(mustAddrPort(addr)))
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustAddrPort(s string) netAddrPort { return netAddrPortMust(s) }

func sipText(first, callID, fromTag, toTag, cseq, via, body string) []byte {
	to := "<sip:200@10.99.0.2>"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	ct := ""
	if body != "" {
		ct = "Content-Type: application/sdp\r\n"
	}
	return []byte(fmt.Sprintf("%s\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%s\r\nFrom: <sip:100@10.99.0.1>;tag=%s\r\nTo: %s\r\n"+
		"Call-ID: %s\r\nCSeq: %s\r\nContact: <sip:100@%s>\r\n%sContent-Length: %d\r\n\r\n%s",
		first, via, cseq[:1], fromTag, to, callID, cseq, via, ct, len(body), body))
}

func sdpText(ip string, port int) string {
	return fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n", ip, ip, port)
}

func rtpPacket(seq uint16, ssrc uint32) []byte {
	p := make([]byte, 172)
	p[0], p[2], p[3] = 0x80, byte(seq>>8), byte(seq)
	ts := uint32(seq) * 160
	p[4], p[5], p[6], p[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
	p[8], p[9], p[10], p[11] = byte(ssrc>>24), byte(ssrc>>16), byte(ssrc>>8), byte(ssrc)
	return p
}

// TestLiveCapture runs natdoc's live capture on a veth inside a private
// namespace while a call is placed across it, and checks it judges the call
// as the packets show: two-way, 50 RTP packets each way. The saved pcap
// gives the same verdict offline.
func TestLiveCapture(t *testing.T) {
	nsA, nsB := netnsPair(t)
	sipA, sipB := udpIn(t, nsA, "10.99.0.1:5060"), udpIn(t, nsB, "10.99.0.2:5060")
	rtpA, rtpB := udpIn(t, nsA, "10.99.0.1:10000"), udpIn(t, nsB, "10.99.0.2:20000")
	saved := filepath.Join(t.TempDir(), "live.pcap")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type outcome struct {
		res *Result
		err error
	}
	done := make(chan outcome, 1)
	ended := make(chan CallEnd, 4)
	judged := make(chan report.Call, 4)
	go func() {
		var res *Result
		var err error
		inNetns(t, nsB, func() {
			res, err = Live(ctx, LiveOptions{Interface: "vb", WriteFile: saved, Duration: 20 * time.Second,
				OnCallEnd:    func(e CallEnd) { ended <- e },
				OnCallJudged: func(c report.Call) { judged <- c }})
		})
		done <- outcome{res, err}
	}()
	time.Sleep(500 * time.Millisecond) // let the ring open before the call starts

	toB := net.UDPAddrFromAddrPort(mustAddrPort("10.99.0.2:5060"))
	toA := net.UDPAddrFromAddrPort(mustAddrPort("10.99.0.1:5060"))
	send := func(c *net.UDPConn, to *net.UDPAddr, b []byte) {
		if _, err := c.WriteToUDP(b, to); err != nil {
			t.Fatal(err)
		}
	}
	const cid = "live-1@natdoc.test"
	send(sipA, toB, sipText("INVITE sip:200@10.99.0.2 SIP/2.0", cid, "ft", "", "1 INVITE", "10.99.0.1:5060", sdpText("10.99.0.1", 10000)))
	send(sipB, toA, sipText("SIP/2.0 200 OK", cid, "ft", "tt", "1 INVITE", "10.99.0.1:5060", sdpText("10.99.0.2", 20000)))
	send(sipA, toB, sipText("ACK sip:200@10.99.0.2 SIP/2.0", cid, "ft", "tt", "1 ACK", "10.99.0.1:5060", ""))
	for i := 0; i < 50; i++ {
		send(rtpA, net.UDPAddrFromAddrPort(mustAddrPort("10.99.0.2:20000")), rtpPacket(uint16(i), 0xA))
		send(rtpB, net.UDPAddrFromAddrPort(mustAddrPort("10.99.0.1:10000")), rtpPacket(uint16(i), 0xB))
		time.Sleep(2 * time.Millisecond)
	}
	// A re-INVITE the callee turns down (glare) leaves the call up: its
	// end is the BYE's.
	send(sipA, toB, sipText("INVITE sip:200@10.99.0.2 SIP/2.0", cid, "ft", "tt", "2 INVITE", "10.99.0.1:5060", sdpText("10.99.0.1", 10002)))
	send(sipB, toA, sipText("SIP/2.0 491 Request Pending", cid, "ft", "tt", "2 INVITE", "10.99.0.1:5060", ""))
	send(sipA, toB, sipText("ACK sip:200@10.99.0.2 SIP/2.0", cid, "ft", "tt", "2 ACK", "10.99.0.1:5060", ""))
	send(sipA, toB, sipText("BYE sip:200@10.99.0.2 SIP/2.0", cid, "ft", "tt", "3 BYE", "10.99.0.1:5060", ""))
	send(sipB, toA, sipText("SIP/2.0 200 OK", cid, "ft", "tt", "3 BYE", "10.99.0.1:5060", ""))

	select {
	case e := <-ended:
		if e.CallID != cid || e.Status != 200 {
			t.Errorf("ended call %q (status %d), want %q ended by its BYE (status 200)", e.CallID, e.Status, cid)
		}
	case <-time.After(10 * time.Second):
		t.Error("the call's end was not announced")
	}
	time.Sleep(300 * time.Millisecond)
	cancel() // Ctrl-C
	out := <-done
	if len(ended) > 0 {
		t.Errorf("the call's end announced twice: %+v", <-ended)
	}
	if out.err != nil {
		t.Fatal(out.err)
	}
	select { // judged at the latest when the capture stopped
	case c := <-judged:
		if c.CallID != cid || c.Verdict != report.VerdictTwoWay {
			t.Errorf("judged %s %s, want %s two-way", c.CallID, c.Verdict, cid)
		}
	default:
		t.Error("no verdict was announced")
	}
	checkLiveCall(t, out.res)
	checkLiveCall(t, analyzePath(t, saved))
}

func checkLiveCall(t *testing.T, res *Result) {
	t.Helper()
	if len(res.Calls) != 1 {
		t.Fatalf("%d calls, want 1", len(res.Calls))
	}
	c := res.Calls[0]
	pkts, _ := directionCounts(c)
	if c.Verdict != report.VerdictTwoWay || pkts != [2]uint64{50, 50} {
		t.Errorf("verdict %s, packets %v; want two-way, [50 50]", c.Verdict, pkts)
	}
}

type netAddrPort = netip.AddrPort

func netAddrPortMust(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
