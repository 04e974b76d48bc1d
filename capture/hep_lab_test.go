//go:build linux

package capture

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/natlab"
	"github.com/natdoc/natdoc/report"
)

// Lab addresses for calls through a HEP-tracing Kamailio.
var (
	hepProxy     = netip.MustParseAddrPort("203.0.113.5:5060")
	hepCollector = netip.MustParseAddrPort("203.0.113.9:9060")
)

// kamailioCalls places a real baresip call from a phone behind a NAT that
// leaks its private address in SDP, through a Kamailio proxy that copies
// every SIP message as HEP to the collector host; start is called with
// that host before the call. It returns tcpdump's captures of the SIP at
// the proxy and of the HEP at the collector.
func kamailioCalls(t *testing.T, overTCP bool, start func(collector *natlab.Host)) (sipPcap, hepPcap string, kamailio *natlab.Proc) {
	lab := natlab.New(t)
	proxy := lab.PublicHost("proxy", hepProxy.Addr().String())
	collector := lab.PublicHost("homer", hepCollector.Addr().String())
	callee := lab.PublicHost("callee", "203.0.113.20")
	r1 := lab.Router("r1", natlab.RouterConfig{WAN: "203.0.113.1", LAN: "192.168.1.1/24",
		NAT: natlab.NATConfig{Mapping: natlab.EndpointIndependent}})
	phone := r1.LANHost("phone", "192.168.1.10")
	kamailio = natlab.StartKamailioProxy(t, proxy, natlab.KamailioProxy{Listen: hepProxy, HEPTo: hepCollector, HEPOverTCP: overTCP, CaptureID: 7})
	dir := t.TempDir()
	sipPcap, hepPcap = filepath.Join(dir, "sip.pcap"), filepath.Join(dir, "hep.pcap")
	d1 := proxy.StartTcpdump(t, sipPcap, "udp port 5060")
	d2 := collector.StartTcpdump(t, hepPcap, "port 9060")
	start(collector)
	time.Sleep(500 * time.Millisecond)
	calleeDir := baresipConfig(t, "203.0.113.20:5060", "<sip:200@203.0.113.20>;regint=0;answermode=auto", false)
	b := callee.Start(t, "baresip", "-f", calleeDir, "-t", "10")
	time.Sleep(500 * time.Millisecond)
	account := fmt.Sprintf(`<sip:100@192.168.1.10>;regint=0;outbound="sip:%s;lr"`, hepProxy)
	caller := phone.Start(t, "baresip", "-f", baresipConfig(t, "192.168.1.10:5060", account, false), "-t", "6",
		"-e", "/dial sip:200@203.0.113.20")
	select {
	case <-caller.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the calling phone did not finish")
	}
	b.Stop()
	time.Sleep(500 * time.Millisecond)
	d1.Stop()
	d2.Stop()
	return sipPcap, hepPcap, kamailio
}

// verdictLines summarises calls for comparison: parties, verdict, who
// cannot hear, the explanation and the finding IDs.
func verdictLines(calls []report.Call) []string {
	var out []string
	for _, c := range calls {
		ids := findingIDs(c)
		sort.Strings(ids)
		out = append(out, fmt.Sprintf("%s %s→%s %s (%s) %s; %s", c.CallID, partyKey(c.Caller), partyKey(c.Callee),
			c.Verdict, c.CannotHear, c.Explain, strings.Join(ids, ",")))
	}
	sort.Strings(out)
	return out
}

func partyKey(p report.Party) string { return p.User + "@" + p.Host }

// TestLabHEPFromKamailio: Kamailio's siptrace copies the SIP of a real
// call to natdoc capture --hep (UDP) while tcpdump records the SIP at the
// proxy and the HEP at the collector. natdoc's verdicts from the live HEP,
// from the pcap of the HEP (unwrapped from UDP 9060) and from the pcap of
// the SIP itself are the same. Only SIP passes the proxy (media flows
// between the phones), so all three say audio cannot be judged.
func TestLabHEPFromKamailio(t *testing.T) {
	natlab.Require(t)
	t.Run("UDP", func(t *testing.T) { hepFromKamailio(t, false) })
	t.Run("TCP", func(t *testing.T) { hepFromKamailio(t, true) })
}

// hepFromKamailio compares live HEP (over UDP or TCP) with the captures;
// a capture of HEP over TCP is not unwrapped (natdoc unwraps UDP 9060),
// so over TCP the live HEP is compared with the SIP capture only.
func hepFromKamailio(t *testing.T, overTCP bool) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var done <-chan hepOutcome
	sipPcap, hepPcap, kamailio := kamailioCalls(t, overTCP, func(collector *natlab.Host) {
		done = listenHEPIn(t, ctx, collector)
	})
	cancel()
	live := <-done
	if live.err != nil {
		t.Fatal(live.err)
	}
	fromSIP := analyzePath(t, sipPcap)
	want := verdictLines(fromSIP.Calls)
	t.Logf("from the SIP pcap: %s", strings.Join(want, "\n"))
	if len(want) != 1 || fromSIP.Calls[0].Verdict != report.VerdictIncompleteCapture {
		t.Fatalf("the proxy's SIP capture gives %d calls: %v", len(want), want)
	}
	results := map[string]*Result{"live HEP": live.res}
	if !overTCP {
		results["HEP pcap"] = analyzePath(t, hepPcap)
	}
	for name, res := range results {
		if got := verdictLines(res.Calls); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s gives\n%s\nwant\n%s\nKamailio's log:\n%s", name, strings.Join(got, "\n"), strings.Join(want, "\n"), kamailio.Log())
		}
		if len(res.Capture.Anomalies) > 0 {
			t.Errorf("%s: anomalies %+v", name, res.Capture.Anomalies)
		}
	}
}

// TestLabHEPRTCPFromRtpengine: what a SIP server running Kamailio and
// rtpengine sends HOMER (siptrace's SIP, rtpengine's RTCP reports as
// JSON, no RTP) judges a real call between two baresip phones as the
// capture of SIP and RTP at the server does: two-way, both legs, each
// direction proven by the RTCP of the phone that received it.
func TestLabHEPRTCPFromRtpengine(t *testing.T) {
	natlab.Require(t)
	lab := natlab.New(t)
	server := lab.PublicHost("server", "203.0.113.20")
	collector := lab.PublicHost("homer", hepCollector.Addr().String())
	a := lab.PublicHost("alice", "203.0.113.10")
	b := lab.PublicHost("bob", "203.0.113.11")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	live := listenHEPIn(t, ctx, collector)
	startKamailio(t, server, "203.0.113.20", true, hepCollector)
	pcap := filepath.Join(t.TempDir(), "server.pcap")
	dump := server.StartTcpdump(t, pcap, "udp and not port 9060")
	baresipCall(t, netip.MustParseAddrPort("203.0.113.20:5060"), a, b, 18*time.Second, dump)
	time.Sleep(time.Second) // the last HEP on its way
	cancel()
	res := <-live
	if res.err != nil {
		t.Fatal(res.err)
	}
	fromPcap := analyzePath(t, pcap)
	if len(res.res.Calls) != 1 || len(fromPcap.Calls) != 1 {
		t.Fatalf("%d calls from HEP, %d from the capture", len(res.res.Calls), len(fromPcap.Calls))
	}
	c, want := res.res.Calls[0], fromPcap.Calls[0]
	t.Logf("HEP: %s (%s), %d legs, counts %v; capture: %s", c.Verdict, c.Explain, len(c.Legs), res.res.Capture.Counts, want.Verdict)
	if c.Verdict != report.VerdictTwoWay || want.Verdict != report.VerdictTwoWay || len(c.Legs) != 2 {
		t.Fatalf("HEP %s with %d legs, capture %s: want two-way, two legs, from both", c.Verdict, len(c.Legs), want.Verdict)
	}
	for i, l := range c.Legs {
		for _, d := range l.Streams[0].Delivery {
			if !d.Delivered || d.Proof != report.ProofRTCPReported {
				t.Errorf("leg %d %s: %+v, want delivered by the receiver's RTCP", i+1, d.Direction, d)
			}
		}
	}
}

type hepOutcome struct {
	res *Result
	err error
}

// listenHEPIn runs ListenHEP on the collector's HEP address (UDP and TCP)
// until ctx ends; the result comes on the channel.
func listenHEPIn(t *testing.T, ctx context.Context, collector *natlab.Host) <-chan hepOutcome {
	t.Helper()
	udp, err := collector.ListenUDP("udp4", hepCollector.String())
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := collector.ListenTCP("tcp4", hepCollector.String())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan hepOutcome, 1)
	go func() {
		res, err := ListenHEP(ctx, HEPOptions{UDP: udp, TCP: tcp})
		done <- hepOutcome{res, err}
	}()
	return done
}
