package capture

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
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

// TestHEPSourceHandsOutWhatCameBeforeTheEnd: packets received before the
// capture ends (Ctrl-C, --duration) are judged, even when the pipeline had
// not taken them yet.
func TestHEPSourceHandsOutWhatCameBeforeTheEnd(t *testing.T) {
	udp, tcp := loopbackHEPSockets(t)
	ctx, cancel := context.WithCancel(context.Background())
	src, err := newHEPSource(ctx, HEPOptions{UDP: udp, TCP: tcp})
	if err != nil {
		t.Fatal(err)
	}
	defer src.close()
	for _, p := range [][]byte{[]byte("first"), []byte("second")} {
		b := src.batch()
		b.add(p)
		src.deliver(b)
	}
	cancel()
	var got []string
	for {
		rec, err := src.Next()
		if errors.Is(err, errIdle) {
			continue
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(rec.Data))
	}
	if strings.Join(got, ",") != "first,second" {
		t.Errorf("handed out %q after the end, want both packets received before it", got)
	}
}

// loopbackHEPSockets are a UDP socket and a TCP listener on 127.0.0.1 for
// ListenHEP, which closes them.
func loopbackHEPSockets(t testing.TB) (net.PacketConn, net.Listener) {
	t.Helper()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		udp.Close()
		t.Fatal(err)
	}
	return udp, tcp
}
