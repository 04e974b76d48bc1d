package capture

import "time"

// clockJumpLimit: a forward step in capture time this large while calls
// are in progress is a clock set in the middle of the capture (a device
// without a real-time clock getting its time from NTP, a writer that
// stamps garbage), not time that passed: no call waits a day for its next
// message. Without this, every call in progress would time out at the
// step and the messages after it would belong to none. When every call
// has ended (a BYE, a failure, a CANCEL), the step is time that passed: a
// capture that records only during calls (a router's call trace) or ran
// for days.
const clockJumpLimit = 24 * time.Hour

// captureClock keeps capture time steady across such steps.
type captureClock struct {
	// shift is subtracted from the time of every packet after a step.
	shift int64
	// latest is the latest (shifted) packet time seen.
	latest int64
}

// steadyClock shifts ev's time by the clock steps seen so far, and takes
// a new step out, as an anomaly, when ev comes more than clockJumpLimit
// after, or before, the latest packet while calls are in progress. A step
// back is the same fault the other way (a device that booted with a
// future date and then learnt the time); small steps back are packets
// merged out of order, and stay.
func (s *state) steadyClock(ev *event) {
	c := &s.clock
	at := ev.at - c.shift
	step := at - c.latest
	if c.latest != 0 && (step > int64(clockJumpLimit) || step < -int64(clockJumpLimit)) && s.calls.inProgress(time.Unix(0, c.latest)) {
		c.shift += step - int64(time.Millisecond)
		at = ev.at - c.shift
		way, shifted := "forward", "back"
		if step < 0 {
			way, shifted, step = "back", "forward", -step
		}
		s.anomaly("clock-jump", ev.offset, ev.frame, "capture time steps "+time.Duration(step).Round(time.Second).String()+" "+way+
			" while calls are in progress: the packets after it are read as following on, their times shifted "+shifted+" by that much")
	}
	ev.at = at
	c.latest = max(c.latest, at)
}
