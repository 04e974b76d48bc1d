package transact

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

const ms = time.Millisecond

func TestSendTimes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		s      Schedule
		want   []time.Duration
		giveUp time.Duration
	}{
		{"RFC 5389 §7.2.1 example: RTO 500 ms, Rc 7", Schedule{RTO: 500 * ms, Sends: 7, Window: 39500 * ms},
			[]time.Duration{0, 500 * ms, 1500 * ms, 3500 * ms, 7500 * ms, 15500 * ms, 31500 * ms}, 39500 * ms},
		{"RFC 3261 timer E: T1 doubling to T2 = 4 s, timer F 64·T1", Schedule{RTO: 500 * ms, MaxRTO: 4 * time.Second, Window: 32 * time.Second},
			[]time.Duration{0, 500 * ms, 1500 * ms, 3500 * ms, 7500 * ms, 11500 * ms, 15500 * ms, 19500 * ms, 23500 * ms, 27500 * ms, 31500 * ms}, 32 * time.Second},
		{"three tries, give up after the last wait", Schedule{RTO: 500 * ms, Sends: 3},
			[]time.Duration{0, 500 * ms, 1500 * ms}, 3500 * ms},
		{"RFC 6887 §8.1.1 from 250 ms, three tries", Schedule{RTO: 250 * ms, Sends: 3},
			[]time.Duration{0, 250 * ms, 750 * ms}, 1750 * ms},
		{"window only: sends that fit in 5 s", Schedule{RTO: 500 * ms, Window: 5 * time.Second},
			[]time.Duration{0, 500 * ms, 1500 * ms, 3500 * ms}, 5 * time.Second},
		{"sends and window: the fewer wins", Schedule{RTO: 500 * ms, Sends: 2, Window: 5 * time.Second},
			[]time.Duration{0, 500 * ms}, 5 * time.Second},
		{"capped: RTO 50 ms to 200 ms in 1 s", Schedule{RTO: 50 * ms, MaxRTO: 200 * ms, Window: time.Second},
			[]time.Duration{0, 50 * ms, 150 * ms, 350 * ms, 550 * ms, 750 * ms, 950 * ms}, time.Second},
		{"unbounded sends once", Schedule{RTO: 500 * ms}, []time.Duration{0}, 500 * ms},
		{"no RTO sends once", Schedule{Window: time.Second}, []time.Duration{0}, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.SendTimes(); !slices.Equal(got, tc.want) {
				t.Errorf("send times %v, want %v", got, tc.want)
			}
			if got := tc.s.GiveUp(); got != tc.giveUp {
				t.Errorf("give up %s, want %s", got, tc.giveUp)
			}
		})
	}
}

func TestRunRetransmitsUntilAccepted(t *testing.T) {
	arrivals := make(chan int, 8)
	var sends atomic.Int32
	send := func() error {
		n := sends.Add(1)
		arrivals <- int(n) // the peer answers every send; only the third is good
		return nil
	}
	rejected := 0
	got, st, err := Run(context.Background(), Schedule{RTO: 10 * ms, Sends: 5}, send, arrivals, func(a int) (string, bool) {
		if a < 3 {
			rejected++
			return "", false
		}
		return "answer", true
	})
	// A stalled machine may send a fourth time before the third answer
	// is read; the answer is still the third.
	if err != nil || got != "answer" || st.Sends < 3 || rejected != 2 {
		t.Fatalf("got %q %+v %v, rejected %d", got, st, err, rejected)
	}
	if st.Last.Before(st.First) {
		t.Errorf("last send %v before first %v", st.Last, st.First)
	}
}

func TestRunGivesUp(t *testing.T) {
	sends := 0
	_, st, err := Run(context.Background(), Schedule{RTO: 5 * ms, Sends: 3}, func() error { sends++; return nil },
		make(chan int), func(int) (int, bool) { return 0, true })
	if !errors.Is(err, ErrNoAnswer) || st.Sends != 3 || sends != 3 {
		t.Fatalf("err %v, %d sends (stats %d)", err, sends, st.Sends)
	}
}

func TestRunStopsOnSendErrorAndContext(t *testing.T) {
	boom := errors.New("boom")
	_, _, err := Run(context.Background(), Schedule{RTO: 5 * ms, Sends: 3}, func() error { return boom },
		make(chan int), func(int) (int, bool) { return 0, true })
	if !errors.Is(err, boom) {
		t.Errorf("send error: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err = Run(ctx, Schedule{RTO: time.Hour, Sends: 3}, func() error { return nil },
		make(chan int), func(int) (int, bool) { return 0, true })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// A peer on loopback that drops the first two requests and then answers
// from another socket (a stray) and the right one: UDP must retransmit,
// skip what accept rejects, and leave the socket usable.
func TestUDPOnLoopback(t *testing.T) {
	peer := listen(t)
	stray := listen(t)
	var seen atomic.Int32
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := peer.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if seen.Add(1) <= 2 {
				continue
			}
			stray.WriteToUDPAddrPort([]byte("stray"), from)
			peer.WriteToUDPAddrPort(append([]byte("re: "), buf[:n]...), from)
		}
	}()
	conn := listen(t)
	dst := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	strays := 0
	got, st, err := UDP(context.Background(), Schedule{RTO: 20 * ms, Sends: 5}, conn, dst, []byte("hello"), func(d Datagram) (string, bool) {
		if d.From != dst {
			strays++
			return "", false
		}
		return string(d.Data), true
	})
	if err != nil || got != "re: hello" || st.Sends < 3 || strays != 1 {
		t.Fatalf("got %q %+v %v, %d strays", got, st, err, strays)
	}
	// The deadline used to stop the readers is gone: a plain read works.
	peer.WriteToUDPAddrPort([]byte("later"), conn.LocalAddr().(*net.UDPAddr).AddrPort())
	buf := make([]byte, 100)
	for {
		n, _, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("read after the exchange: %v", err)
		}
		if bytes.Equal(buf[:n], []byte("later")) {
			break
		}
	}
}

// An answer on another socket than the sender's (RESPONSE-PORT) is
// offered with its socket's index.
func TestUDPAnswerOnAnotherSocket(t *testing.T) {
	peer := listen(t)
	target := listen(t)
	go func() {
		buf := make([]byte, 1500)
		n, _, err := peer.ReadFromUDPAddrPort(buf)
		if err == nil {
			peer.WriteToUDPAddrPort(buf[:n], target.LocalAddr().(*net.UDPAddr).AddrPort())
		}
	}()
	conn := listen(t)
	on, _, err := UDP(context.Background(), Schedule{RTO: 50 * ms, Sends: 3}, conn, peer.LocalAddr().(*net.UDPAddr).AddrPort(),
		[]byte("x"), func(d Datagram) (int, bool) { return d.On, true }, target)
	if err != nil || on != 1 {
		t.Fatalf("answer on socket %d, %v", on, err)
	}
}

func TestNewID(t *testing.T) {
	a, b := NewID(), NewID()
	if len(a) != 16 || a == b {
		t.Errorf("ids %q %q", a, b)
	}
}

func listen(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
