package transact

import "time"

// Schedule is one retransmission schedule: send, wait RTO, resend, double
// the wait up to MaxRTO, and give up after Sends sends or Window.
type Schedule struct {
	// RTO is the first wait: STUN's RTO, SIP's T1.
	RTO time.Duration
	// MaxRTO caps the doubled waits (SIP's T2); 0 doubles without a cap.
	MaxRTO time.Duration
	// Sends is the most requests sent (RFC 5389's Rc); 0 sends as many as
	// fit in Window.
	Sends int
	// Window is how long after the first send the exchange gives up
	// waiting; 0 gives up when the last send's wait has passed.
	Window time.Duration
}

// wait is the wait after send number i (0-based): RTO doubled i times,
// capped at MaxRTO.
func (s Schedule) wait(i int) time.Duration {
	w := s.RTO
	for ; i > 0; i-- {
		w *= 2
		if s.MaxRTO > 0 && w >= s.MaxRTO {
			return s.MaxRTO
		}
	}
	return w
}

// bounded reports whether the schedule ends: a positive RTO and at least
// one of Sends and Window. An unbounded schedule sends once.
func (s Schedule) bounded() bool { return s.RTO > 0 && (s.Sends > 0 || s.Window > 0) }

// SendTimes lists the offsets from the first send at which the schedule
// sends (pure; the tests pin the RFC schedules with it).
func (s Schedule) SendTimes() []time.Duration {
	ts := []time.Duration{0}
	if !s.bounded() {
		return ts
	}
	t := time.Duration(0)
	for i := 0; ; i++ {
		t += s.wait(i)
		if (s.Sends > 0 && len(ts) >= s.Sends) || (s.Window > 0 && t >= s.Window) {
			return ts
		}
		ts = append(ts, t)
	}
}

// GiveUp is the offset from the first send after which no answer is
// awaited any more.
func (s Schedule) GiveUp() time.Duration {
	if s.Window > 0 {
		return s.Window
	}
	ts := s.SendTimes()
	return ts[len(ts)-1] + s.wait(len(ts)-1)
}
