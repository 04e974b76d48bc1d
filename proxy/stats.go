package proxy

import (
	"sort"
	"strconv"
	"strings"

	"github.com/natdoc/natdoc/metrics"
	"github.com/natdoc/natdoc/report"
)

// endKinds are the kinds ended calls are counted by (the summary's
// counters, natdoc_calls_ended_total): why calls end, with any other
// final response (its reason phrase comes from the network, so it is not
// a key) counted as rejected.
var endKinds = []string{"bye", "cancelled", "no answer", endMediaTimeout, "shutdown", "forward failed", "too many hops", "media"}

func endKind(reason string) string {
	for _, k := range endKinds {
		if reason == k || strings.HasPrefix(reason, k+":") {
			return k
		}
	}
	return "rejected"
}

// callTotals are the server's calls for the metrics: in progress,
// started, and ended by kind.
func (s *Server) callTotals() metrics.CallTotals {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := metrics.CallTotals{Active: len(s.calls), Started: s.callsStarted, Ended: make(map[string]uint64, len(s.endedBy))}
	for k, v := range s.endedBy {
		t.Ended[k] = v
	}
	return t
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
