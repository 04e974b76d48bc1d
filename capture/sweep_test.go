package capture

import (
	"bytes"
	"testing"
	"time"
)

// analyseInBatches runs a classic pcap through decoding and analysis with
// event batches of the given size (1: every packet alone), on one
// goroutine, as the pipeline would with other batch boundaries.
func analyseInBatches(t *testing.T, data []byte, batch int) *Result {
	t.Helper()
	s := newState()
	s.side = newProducer(nil, nil, nil, false)
	s.side.batch, s.side.sink = newEventBatch(), s.consume
	p := newProducer(nil, nil, nil, true)
	p.batch = &eventBatch{events: make([]event, 0, batch), arena: make([]byte, 0, batchArena+MaxRecordLen)}
	p.sink = s.consume
	src, err := openSource(bytes.NewReader(data), &s.anomalies)
	if err != nil {
		t.Fatal(err)
	}
	for frame := uint64(1); ; frame++ {
		rec, err := src.Next()
		if err != nil {
			break
		}
		p.dec.decode(rec, frame, p.emit)
	}
	p.flush()
	return s.result(nil, "")
}

// TestQuietNeeded: a call last challenged for credentials waits for its
// retry (same Call-ID, RFC 3261 §22.2) longer than a call that ended.
func TestQuietNeeded(t *testing.T) {
	for _, tc := range []struct {
		name string
		call sipCall
		want time.Duration
	}{
		{"407 awaiting retry", sipCall{Status: 407}, challengeQuiet},
		{"401 awaiting retry", sipCall{Status: 401}, challengeQuiet},
		{"403 after the retry", sipCall{Status: 403}, quietAfter},
		{"cancelled after a 407", sipCall{Status: 407, Cancelled: true}, quietAfter},
		{"answered and hung up", sipCall{Status: 200, ByeSeen: true}, quietAfter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.call.quietNeeded(); got != tc.want {
				t.Errorf("quietNeeded = %v, want %v", got, tc.want)
			}
		})
	}
}
