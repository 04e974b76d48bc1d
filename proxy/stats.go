package proxy

import (
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/natdoc/natdoc/report"
)

// Stats is a snapshot of a running server, for monitoring and for the
// soak benchmark's leak checks: what it holds now and what it did so far.
type Stats struct {
	Time time.Time `json:"time"`
	Kind string    `json:"kind"` // "stats", beside the events of serve --json
	// Registered phones and calls in progress now; calls started and
	// ended since the start, and how the ended ones ended.
	Registered   int               `json:"registered"`
	CallsActive  int               `json:"calls_active"`
	CallsStarted uint64            `json:"calls_started"`
	CallsEnded   uint64            `json:"calls_ended"`
	Ended        map[string]uint64 `json:"ended,omitempty"`
	// RelaySessions open and port pairs free (fix mode).
	RelaySessions  int `json:"relay_sessions"`
	RelayFreePairs int `json:"relay_free_pairs"`
	// The process: goroutines, live heap (after a collection: Stats forces
	// one, a few milliseconds for a server's heap, so that garbage not yet
	// collected does not read as a leak), open file descriptors (-1 where
	// the system does not say).
	Goroutines int    `json:"goroutines"`
	HeapBytes  uint64 `json:"heap_bytes"`
	OpenFiles  int    `json:"open_files"`
}

// endKinds are the buckets of Stats.Ended: why calls end, with any other
// final response (its reason phrase comes from the network, so it is not
// a key) counted as rejected.
var endKinds = []string{"bye", "cancelled", "no answer", endMediaTimeout, "shutdown", "forward failed", "too many hops", "sdp"}

func endKind(reason string) string {
	for _, k := range endKinds {
		if reason == k || strings.HasPrefix(reason, k+":") {
			return k
		}
	}
	return "rejected"
}

// Stats reads the server's figures now.
func (s *Server) Stats() Stats {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st := Stats{Time: s.cfg.Now(), Kind: "stats", Registered: len(s.Registrations()), Goroutines: runtime.NumGoroutine(),
		HeapBytes: ms.HeapAlloc, OpenFiles: openFiles(), Ended: map[string]uint64{}}
	s.mu.Lock()
	st.CallsActive, st.CallsStarted, st.CallsEnded = len(s.calls), s.callsStarted, s.callsEnded
	for k, v := range s.endedBy {
		st.Ended[k] = v
	}
	s.mu.Unlock()
	if r := s.cfg.Relay; r != nil {
		st.RelaySessions, st.RelayFreePairs = len(r.Sessions()), r.FreePairs()
	}
	return st
}

// openFiles counts the process's open descriptors (Linux), else -1.
func openFiles() int {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(fds) - 1 // the directory being read
}

// callCounters are the summary's call counts: started, ended, and ended
// by kind.
func (s *Server) callCounters() []report.KeyValue {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []report.KeyValue{{Key: "calls started", Value: strconv.FormatUint(s.callsStarted, 10)},
		{Key: "calls ended", Value: strconv.FormatUint(s.callsEnded, 10)}}
	kinds := make([]string, 0, len(s.endedBy))
	for k := range s.endedBy {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		out = append(out, report.KeyValue{Key: "ended: " + k, Value: strconv.FormatUint(s.endedBy[k], 10)})
	}
	return out
}
