package capture

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/natdoc/natdoc/hep"
	"github.com/natdoc/natdoc/internal/hepgen"
)

// TestListenHEPUDPAndTCP: one call arrives as HEP over UDP, another over
// TCP (framed), on an IPv6 loopback address; both are judged, and a TCP
// agent that sends garbage is dropped with an anomaly.
func TestListenHEPUDPAndTCP(t *testing.T) {
	udp, err := net.ListenPacket("udp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	tcp, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan *Result, 1)
	go func() {
		res, err := ListenHEP(context.Background(), HEPOptions{LiveOptions: LiveOptions{Duration: 1500 * time.Millisecond}, UDP: udp, TCP: tcp})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	u, err := net.Dial("udp", udp.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	bad, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = bad.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	at := time.Now()
	for i, conn := range []net.Conn{u, c} {
		for _, p := range hepgen.Call(i, at) {
			b, err := hep.AppendV3(nil, &p)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Write(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	res := <-done
	u.Close()
	c.Close()
	bad.Close()
	if len(res.Calls) != 2 {
		t.Fatalf("%d calls judged, want 2", len(res.Calls))
	}
	found := false
	for _, a := range res.Capture.Anomalies {
		found = found || a.Kind == "hep-receiver"
	}
	if !found {
		t.Errorf("the garbage TCP agent left no anomaly: %+v", res.Capture.Anomalies)
	}
}
