package transact

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// ErrNoAnswer: the schedule gave up without an accepted answer. It is an
// observation (the peer or the path dropped it), not a local failure.
var ErrNoAnswer = errors.New("no answer")

// Stats are what one exchange cost.
type Stats struct {
	Sends int       // requests sent, retransmissions included
	First time.Time // the first send
	Last  time.Time // the last send before the answer (or the end)
}

// Run sends with send at each of s's send times and returns the first
// arrival that accept turns into an answer. It ends with ErrNoAnswer when
// s gives up, with ctx's error when ctx ends, and with send's error
// (wrapped) when a send fails. accept runs on Run's goroutine only, so it
// may count what it rejects without locking.
func Run[A, T any](ctx context.Context, s Schedule, send func() error, arrivals <-chan A, accept func(A) (T, bool)) (T, Stats, error) {
	var zero T
	var st Stats
	times := s.SendTimes()
	st.First = time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	giveUp := time.NewTimer(s.GiveUp())
	defer giveUp.Stop()
	for {
		select {
		case <-ctx.Done():
			return zero, st, ctx.Err()
		case <-giveUp.C:
			return zero, st, fmt.Errorf("%w after %d tries in %s", ErrNoAnswer, st.Sends, s.GiveUp())
		case <-timer.C:
			// Stamped before the send: the answer may be read before
			// send returns on a fast path.
			st.Last = time.Now()
			if err := send(); err != nil {
				return zero, st, fmt.Errorf("send: %w", err)
			}
			st.Sends++
			if st.Sends < len(times) {
				timer.Reset(times[st.Sends] - time.Since(st.First))
			}
		case a := <-arrivals:
			if v, ok := accept(a); ok {
				return v, st, nil
			}
		}
	}
}

// NewID returns 16 random hex digits: a SIP Call-ID or branch, a journal
// entry's name. crypto/rand never fails on the platforms natdoc builds for.
func NewID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
