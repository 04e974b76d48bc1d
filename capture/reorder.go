package capture

import "time"

// SIP copies out of order. A capture on one wire sees a request before
// the responses to it, but HEP agents (several servers, or the worker
// processes of one) send their copies independently, and their time stamps
// do not restore the order: Kamailio's siptrace stamps a request it
// forwards after sending it, so a callee that answers at once has its 180
// stamped, and often sent, before the INVITE it answers. Filed at once,
// such a response lands on the wrong leg (the only one there is yet,
// which shares the proxy's address), and the callee's address becomes
// that leg's signalling source. So a response to an INVITE whose hop no
// leg travels yet is held until that leg's INVITE arrives, for at most
// reorderWindow, or until another message of its Call-ID comes; then it
// is filed as before, or starts the leg of an INVITE the capture lacks
// (unseeninvite.go).

const (
	// reorderWindow is how long, in capture time, a response waits for
	// its request: HEP copies are late by the scheduling of a busy
	// server's workers or by the network path from its agent, a few to a
	// few hundred milliseconds; a request later than that was not seen.
	reorderWindow = 2 * time.Second
	// maxHeld bounds the responses waiting at once (a feed of responses
	// to calls that began before the capture); when full, the oldest is
	// filed as it stands.
	maxHeld = 1024
)

// heldMessage is a SIP message with what filing it needs.
type heldMessage struct {
	m      *sipInfo
	at     time.Time
	sdp    *sdpInfo
	sdpErr error
	// since is the latest capture time when it was held.
	since time.Time
}

// advance moves the table's clock to at and files the held responses
// whose wait is over.
func (t *callTable) advance(at time.Time) {
	if at.After(t.latest) {
		t.latest = at
	}
	if len(t.held) > 0 && t.latest.Sub(t.held[0].since) > reorderWindow {
		t.release(false)
	}
}

// hold keeps x, a message no leg's hop fits, if it is a response to an
// INVITE: the leg of its hop may start with an INVITE still on its way.
func (t *callTable) hold(x heldMessage) bool {
	if x.m.Request || x.m.Method != "INVITE" {
		return false
	}
	if len(t.held) == maxHeld {
		t.fileHeld(0)
	}
	x.since = t.latest
	t.held = append(t.held, x)
	return true
}

// replay files the held responses of a Call-ID that a leg's hop fits now
// that a new leg started, in the order they came.
func (t *callTable) replay(callID string) {
	for i := 0; i < len(t.held); {
		x := t.held[i]
		if x.m.CallID != callID {
			i++
			continue
		}
		c, onHop := t.find(x.m)
		if !onHop {
			i++
			continue
		}
		t.drop(i)
		t.file(c, x)
	}
}

// release files the held responses that waited reorderWindow (all when
// final) on whatever leg they share an address with, as a capture that
// lacks their request would have them.
func (t *callTable) release(final bool) {
	for len(t.held) > 0 && (final || t.latest.Sub(t.held[0].since) > reorderWindow) {
		t.fileHeld(0)
	}
}

// fileHeld files the i-th held message as it stands.
func (t *callTable) fileHeld(i int) {
	x := t.held[i]
	t.drop(i)
	c, _ := t.find(x.m)
	t.file(c, x)
}

// drop removes the i-th held message, keeping the order of the rest. The
// oldest, the one released in turn and at overflow, goes without moving
// the others: at maxHeld a copy per message cost a busy HEP feed a tenth
// of its CPU (append reuses or regrows the slice as it needs).
func (t *callTable) drop(i int) {
	if i == 0 {
		t.held[0] = heldMessage{}
		t.held = t.held[1:]
		return
	}
	copy(t.held[i:], t.held[i+1:])
	t.held[len(t.held)-1] = heldMessage{}
	t.held = t.held[:len(t.held)-1]
}

// releaseCallID files the held responses of that Call-ID, in the order
// they came (the rest of their dialog came without the INVITE), and says
// whether there were any.
func (t *callTable) releaseCallID(callID string) (released bool) {
	for i := 0; i < len(t.held); {
		if t.held[i].m.CallID != callID {
			i++
			continue
		}
		t.fileHeld(i)
		released = true
	}
	return released
}
