package relay_test

import (
	"context"
	"net/netip"
	"strconv"
	"testing"

	"github.com/natdoc/natdoc/relay"
)

// BenchmarkRelayAllocate: the relay's cost of one call's set-up and
// tear-down (two legs, four sockets, four goroutines), which `natdoc serve`
// pays per INVITE in fix mode. B/op shows the memory a session takes; at
// thousands of calls per second it decides how much time goes to the
// garbage collector (bench/signalling.sh). Sub-benchmarks per batch size,
// because each socket gets Batch receive buffers of 1,500 bytes.
func BenchmarkRelayAllocate(b *testing.B) {
	for _, batch := range []int{32, 4} {
		b.Run("batch"+strconv.Itoa(batch), func(b *testing.B) {
			r, err := relay.New(relay.Config{Bind: netip.MustParseAddr("127.0.0.1"), PortMin: 23000, PortMax: 23999, Batch: batch})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { r.Close() })
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				s, err := r.Allocate(ctx, "bench-allocate-"+strconv.Itoa(i))
				if err != nil {
					b.Fatal(err)
				}
				s.Close()
				s.Wait()
			}
		})
	}
}
