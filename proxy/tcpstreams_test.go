package proxy

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// TestServerNeverDialsOut: requests over TCP whose connection closes
// before the answer, with a Via naming another host (here a loopback
// listener of the test's): the server must not connect to it.
func TestServerNeverDialsOut(t *testing.T) {
	ts := startTortureServer(t, Config{})
	victim, err := net.Listen("tcp4", "127.0.0.7:0")
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	dialled := make(chan struct{}, 1)
	go func() {
		if c, err := victim.Accept(); err == nil {
			c.Close()
			dialled <- struct{}{}
		}
	}()
	for i := 0; i < 20; i++ {
		c, err := net.Dial("tcp4", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		// Requests in one write, then gone (a reset): the last ones are
		// answered after the connection closed.
		var msgs string
		for n := 1; n <= 10; n++ {
			msgs += optionsVia(victim.Addr().String(), i, n)
		}
		c.Write([]byte(msgs))
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	}
	select {
	case <-dialled:
		t.Fatal("the server connected to the address in a Via")
	case <-time.After(time.Second):
	}
	if !ts.ping(t) {
		t.Error("the server did not answer the next request")
	}
}

func optionsVia(via string, i, n int) string {
	return fmt.Sprintf("OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP %s;branch=z9hG4bK-dial%d-%d\r\n"+
		"From: <sip:probe@127.0.0.9>;tag=d%d\r\nTo: <sip:127.0.0.1>\r\nCall-ID: dial-%d-%d\r\nCSeq: %d OPTIONS\r\n"+
		"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", via, i, n, i, i, n, n)
}

// TestTCPMalformedCounted: a message sipgo cannot parse over TCP is a
// malformed message in the counters, as over UDP; one it can is not.
func TestTCPMalformedCounted(t *testing.T) {
	ts := startTortureServer(t, Config{})
	for _, tt := range []struct {
		msg  string
		want uint64
	}{
		{optionsVia("127.0.0.9:5060", 0, 1), 0},
		{"INVITE sip:x SIP/2.0\r\nVia: garbage\r\nFrom x\r\nContent-Length: 0\r\n\r\n", 1},
		{"NOT SIP AT ALL\r\n\r\n", 1},
	} {
		before := ts.srv.Counters.Malformed.Load()
		c, err := net.Dial("tcp4", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(tt.msg))
		if tt.want > 0 {
			waitFor(t, func() bool { return ts.srv.Counters.Malformed.Load() >= before+tt.want })
		} else {
			time.Sleep(200 * time.Millisecond)
		}
		c.Close()
		if got := ts.srv.Counters.Malformed.Load() - before; got != tt.want {
			t.Errorf("%q: %d malformed, want %d", tt.msg, got, tt.want)
		}
	}
	ts.srv.tcpStreams.mu.Lock()
	defer ts.srv.tcpStreams.mu.Unlock()
	if n := len(ts.srv.tcpStreams.open); n > 1 { // the last ping's may still be open
		t.Errorf("%d TCP streams still followed after their connections closed", n)
	}
}
