package capture

import (
	"context"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
)

func TestZZHeap(t *testing.T) {
	path := os.Getenv("ZZ_PCAP")
	if path == "" {
		t.Skip()
	}
	runtime.MemProfileRate = 4096
	r, err := Analyze(context.Background(), Options{Files: []string{path}})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("calls %d heapinuse %d heapalloc %d", len(r.Calls), ms.HeapInuse, ms.HeapAlloc)
	f, _ := os.Create("/tmp/perf5-heap.pprof")
	pprof.WriteHeapProfile(f)
	f.Close()
	runtime.KeepAlive(r)
}
