package capture

import "slices"

// noteAnsweredUpstream finds, for the legs about to be judged whose
// INVITE got no response in the capture, the 18x or 2xx its sender
// passed on upstream after it, on the leg that brought it the call, when
// no other leg it sent got one: the answer came back out of the capture's
// sight (a capture of one direction of that hop, on one interface of a
// host that sends on another). Only for an INVITE sent once: over UDP a
// sender that got no response resends it (a PBX hunting lines of a dead
// ATA, then answering with its voicemail, resends each); and only for a
// proxy, which keeps the Call-ID and makes no 18x or 2xx of its own.
func noteAnsweredUpstream(legs []*sipCall) {
	if len(legs) < 2 {
		return
	}
	for _, down := range legs {
		t := &down.setup
		if t.sent != 1 || t.responded {
			continue
		}
		via := t.src.Addr()
		if slices.ContainsFunc(legs, func(o *sipCall) bool { return o.setup.src.Addr() == via && o.setup.progress.frame != 0 }) {
			continue // a fork of it answered in sight
		}
		for _, up := range legs {
			if p := up.setup.progress; up.CallID == down.CallID && p.frame != 0 && p.src.Addr() == via && p.at.After(t.sentAt) {
				t.passedOn = p
				break
			}
		}
	}
}
