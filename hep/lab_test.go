//go:build linux

package hep

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/natdoc/natdoc/internal/natlab"
)

// Lab addresses: phones and the proxy on the public side, the collector
// beside them.
var (
	labCaller    = netip.MustParseAddrPort("203.0.113.10:5060")
	labCallee    = netip.MustParseAddrPort("203.0.113.20:5060")
	labProxy     = netip.MustParseAddrPort("203.0.113.5:5060")
	labCollector = netip.MustParseAddrPort("203.0.113.9:9060")
)

// sippCalls makes n calls with sipp's built-in scenarios from labCaller to
// labCallee through the proxy and waits for the caller to finish.
func sippCalls(t *testing.T, lab *natlab.Lab, n int) {
	t.Helper()
	callee := lab.PublicHost("callee", labCallee.Addr().String())
	caller := lab.PublicHost("caller", labCaller.Addr().String())
	uas := callee.Start(t, "sipp", "-sn", "uas", "-i", labCallee.Addr().String(), "-p", "5060", "-nostdin")
	time.Sleep(300 * time.Millisecond)
	uac := caller.Start(t, "sipp", "-sn", "uac", labCallee.String(), "-rsa", labProxy.String(),
		"-i", labCaller.Addr().String(), "-p", "5060", "-m", fmt.Sprint(n), "-r", "5", "-d", "200", "-nostdin", "-timeout", "30s")
	if err := uac.Wait(); err != nil {
		t.Fatalf("sipp uac: %v\n%s", err, uac.Log())
	}
	uas.Stop()
}

// collect receives HEP datagrams on c until stop is closed.
func collect(c *net.UDPConn, stop chan struct{}) (get func() [][]byte) {
	var mu sync.Mutex
	var got [][]byte
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			n, _, err := c.ReadFromUDP(buf)
			if err == nil {
				mu.Lock()
				got = append(got, append([]byte(nil), buf[:n]...))
				mu.Unlock()
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	return func() [][]byte {
		<-done
		mu.Lock()
		defer mu.Unlock()
		return got
	}
}

// sipOnWire reads the SIP datagrams of a tcpdump capture as "src dst
// payload" lines, the truth the HEP copies are held to.
func sipOnWire(t *testing.T, path string) []string {
	t.Helper()
	var out []string
	for _, p := range natlab.ReadPcap(t, path) {
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if ip == nil || udp == nil || (udp.SrcPort != 5060 && udp.DstPort != 5060) {
			continue
		}
		out = append(out, fmt.Sprintf("%s:%d %s:%d %q", ip.SrcIP, udp.SrcPort, ip.DstIP, udp.DstPort, udp.Payload))
	}
	sort.Strings(out)
	return out
}

// TestLabKamailioSiptrace holds the decoder to a real HEP sender: Kamailio
// proxies sipp calls and copies every SIP message with siptrace, in HEPv3
// and HEPv2; tcpdump at the proxy records the same messages on the wire.
// Every message on the wire must arrive as one HEP packet with the same
// addresses, ports and bytes, stamped with the capture ID and a time from
// the call.
func TestLabKamailioSiptrace(t *testing.T) {
	natlab.Require(t)
	for _, version := range []int{3, 2} {
		t.Run(fmt.Sprintf("HEPv%d", version), func(t *testing.T) {
			lab := natlab.New(t)
			proxy := lab.PublicHost("proxy", labProxy.Addr().String(), labCollector.Addr().String())
			c, err := proxy.ListenUDP("udp4", labCollector.String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			stop := make(chan struct{})
			get := collect(c, stop)
			natlab.StartKamailioProxy(t, proxy, natlab.KamailioProxy{Listen: labProxy, HEPTo: labCollector, HEPVersion: version, CaptureID: 2001, AuthKey: "s3cret"})
			pcap := filepath.Join(t.TempDir(), "proxy.pcap")
			dump := proxy.StartTcpdump(t, pcap, "udp port 5060")
			start := time.Now()
			sippCalls(t, lab, 2)
			time.Sleep(300 * time.Millisecond)
			dump.Stop()
			close(stop)
			wire := sipOnWire(t, pcap)
			var fromHEP []string
			for _, b := range get() {
				var p Packet
				if _, err := Decode(b, &p); err != nil {
					t.Errorf("HEP packet does not decode: %v\n% x", err, b[:min(len(b), 64)])
					continue
				}
				checkTracePacket(t, &p, version, start)
				fromHEP = append(fromHEP, fmt.Sprintf("%s %s %q", p.Src, p.Dst, p.Payload))
			}
			sort.Strings(fromHEP)
			t.Logf("%d SIP messages on the wire, %d HEPv%d packets", len(wire), len(fromHEP), version)
			if len(wire) < 14 {
				t.Fatalf("only %d SIP messages on the wire: the calls did not pass the proxy", len(wire))
			}
			if strings.Join(wire, "\n") != strings.Join(fromHEP, "\n") {
				t.Errorf("HEP copies differ from the wire:\nwire:\n%s\nHEP:\n%s", strings.Join(wire, "\n"), strings.Join(fromHEP, "\n"))
			}
		})
	}
}

func checkTracePacket(t *testing.T, p *Packet, version int, start time.Time) {
	t.Helper()
	if int(p.Version) != version || p.Proto != 17 || p.Type != TypeSIP || p.CaptureID != 2001 {
		t.Errorf("packet: version %d proto %d type %s capture ID %d", p.Version, p.Proto, p.Type, p.CaptureID)
	}
	if version == 3 && (string(p.AuthKey) != "s3cret" || !bytes.Contains(p.Payload, p.CorrelationID)) {
		t.Errorf("auth key %q, correlation ID %q not the Call-ID", p.AuthKey, p.CorrelationID)
	}
	if d := p.Time.Sub(start); d < -time.Second || d > time.Minute {
		t.Errorf("time stamp %v is %v from the test's start", p.Time, d)
	}
}

// TestLabKamailioSipcapture holds the encoder to a real HEP receiver:
// Kamailio's sipcapture module (the collector half of HOMER) parses the
// HEPv3 packets natdoc writes, a SIP message and a JSON log line
// correlated to its Call-ID, and logs what it read from each chunk.
func TestLabKamailioSipcapture(t *testing.T) {
	lab := natlab.New(t)
	host := lab.PublicHost("homer", labCollector.Addr().String())
	collector := natlab.KamailioCollector(t, host, labCollector)
	conn, err := host.DialUDP("udp4", labCollector.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sip := samplePacket()
	sip.Payload = []byte("INVITE sip:200@203.0.113.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK1\r\n" +
		"From: <sip:100@192.168.1.10>;tag=1\r\nTo: <sip:200@203.0.113.10>\r\nCall-ID: abc@192.168.1.10\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
	logLine := samplePacket()
	logLine.Type, logLine.Payload = TypeLog, []byte(`{"verdict":"one-way","cannot_hear":"caller"}`)
	v6 := samplePacket()
	v6.Src, v6.Dst = netip.MustParseAddrPort("[2001:db8::1]:5060"), netip.MustParseAddrPort("[2001:db8::2]:5062")
	v6.Payload = bytes.Replace(sip.Payload, []byte("abc@"), []byte("v6@"), 1)
	for _, p := range []*Packet{&sip, &logLine, &v6} {
		b, err := AppendV3(nil, p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"HEP v=3 type=1 cid=2001 src=192.168.1.10:5060 dst=203.0.113.10:5060 corr=abc@192.168.1.10 key=secret",
		"HEPDATA INVITE sip:200@203.0.113.10 SIP/2.0 Call-ID: abc@192.168.1.10",
		"HEP v=3 type=100 cid=2001 src=192.168.1.10:5060 dst=203.0.113.10:5060 corr=abc@192.168.1.10 key=secret",
		`HEPDATA {"verdict":"one-way","cannot_hear":"caller"} `,
		"src=2001:db8::1:5060 dst=2001:db8::2:5062",
		"Call-ID: v6@192.168.1.10",
	}
	collector.WaitLog(t, 5*time.Second, want...)
}
