package capture

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/natdoc/natdoc/hep"
	"github.com/natdoc/natdoc/internal/hepgen"
)

// sliceSource hands out prepared records, as the HEP receiver would.
type sliceSource struct {
	recs []Record
	i    int
}

func (s *sliceSource) Next() (Record, error) {
	if s.i == len(s.recs) {
		return Record{}, io.EOF
	}
	s.i++
	return s.recs[s.i-1], nil
}

// hepRecords encodes calls generated calls as HEP records, the calls
// spread over a minute so that sweeps judge them while the run goes on.
func hepRecords(tb testing.TB, calls int) []Record {
	base := time.Unix(1_800_000_000, 0)
	var recs []Record
	for n := 0; n < calls; n++ {
		at := base.Add(time.Duration(n) * time.Minute / time.Duration(calls))
		for _, p := range hepgen.Call(n, at) {
			b, err := hep.AppendV3(nil, &p)
			if err != nil {
				tb.Fatal(err)
			}
			recs = append(recs, Record{Data: b, Time: at, WireLen: len(b), LinkType: linkTypeHEP})
		}
	}
	return recs
}

// BenchmarkHEPCalls runs HEP-carried SIP through the whole pipeline: the
// time and allocations per message, for a small and a ten times larger
// number of calls (the cost per message must not grow with the calls).
func BenchmarkHEPCalls(b *testing.B) {
	for _, calls := range []int{1_000, 10_000} {
		recs := hepRecords(b, calls)
		b.Run(fmt.Sprintf("%d calls", calls), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s := newState()
				if err := runPipeline(context.Background(), &sliceSource{recs: recs}, &readerStats{}, s, func() {}); err != nil {
					b.Fatal(err)
				}
				if res := s.result(nil, ""); len(res.Calls) != calls {
					b.Fatalf("%d calls judged", len(res.Calls))
				}
			}
			msgs := float64(b.N * len(recs))
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/msgs, "ns/msg")
			b.ReportMetric(msgs/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkListenHEP sends calls' HEP over loopback UDP to ListenHEP, at
// most a burst of a thousand messages ahead of what it has read, and
// reports the receiving side's cost per message.
func BenchmarkListenHEP(b *testing.B) {
	recs := hepRecords(b, 5_000)
	for b.Loop() {
		udp, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		tcp, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var sips atomic.Int64
		done := make(chan *Result, 1)
		go func() {
			res, _ := ListenHEP(ctx, HEPOptions{LiveOptions: LiveOptions{OnSIP: func(bool, string, int) { sips.Add(1) }}, UDP: udp, TCP: tcp})
			done <- res
		}()
		conn, err := net.Dial("udp", udp.LocalAddr().String())
		if err != nil {
			b.Fatal(err)
		}
		for i, r := range recs {
			for int64(i)-sips.Load() > 1000 {
				time.Sleep(50 * time.Microsecond)
			}
			_, _ = conn.Write(r.Data)
		}
		for sips.Load() < int64(len(recs))*9/10 {
			time.Sleep(time.Millisecond)
		}
		cancel()
		<-done
		conn.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/msg")
}
