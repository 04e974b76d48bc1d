package capture

import (
	"bytes"
	"net/netip"
	"slices"
	"time"
)

// A SIP message natdoc could not read (malformed, or cut by the capture's
// snap length) is counted as an anomaly of the capture. When it was a
// call's INVITE, the call still shows in the answers to it, followed
// from them (unseeninvite.go); unreadSIPLog lets that call point to the
// unreadable messages that went its INVITE's way, so the report says
// the INVITE is in the capture but unreadable, not missing.

// maxUnreadSIPPaths bounds the address pairs noted, maxUnreadSIPFrames
// the frames noted for each; a capture with more unreadable SIP than that
// is noted for the first only.
const (
	maxUnreadSIPPaths  = 4096
	maxUnreadSIPFrames = 32
)

// unreadSIP is what is noted of the unreadable SIP messages sent from
// one address to another.
type unreadSIP struct {
	count  int
	frames []uint64 // the first maxUnreadSIPFrames of them
	ns     []int64  // and their capture times
	kind   string   // the anomaly kind of the first
	detail string   // and why it could not be read
}

// unreadSIPLog notes unreadable SIP messages by sender and receiver.
type unreadSIPLog map[[2]netip.AddrPort]*unreadSIP

func (l *unreadSIPLog) note(pkt *packet, kind, detail string) {
	key := [2]netip.AddrPort{pkt.Src, pkt.Dst}
	u := (*l)[key]
	if u == nil {
		if len(*l) >= maxUnreadSIPPaths {
			return
		}
		if *l == nil {
			*l = unreadSIPLog{}
		}
		// The reason is the parser's, which may quote the message: cut,
		// and made safe to print.
		u = &unreadSIP{kind: kind, detail: cleanComment(detail)}
		(*l)[key] = u
	}
	u.count++
	if len(u.frames) < maxUnreadSIPFrames {
		u.frames = append(u.frames, pkt.Frame)
		u.ns = append(u.ns, pkt.Time.UnixNano())
	}
}

// before is what was noted of the unreadable messages sent from src to
// dst in the 32 s before frame, the time an INVITE transaction waits for
// its first answer (RFC 3261 Timer B): nil when there were none.
func (l unreadSIPLog) before(src, dst netip.AddrPort, frame uint64, at time.Time) *unreadSIP {
	u := l[[2]netip.AddrPort{src, dst}]
	if u == nil {
		return nil
	}
	end, _ := slices.BinarySearch(u.frames, frame)
	start := end
	for start > 0 && at.UnixNano()-u.ns[start-1] <= int64(inviteTimeout) {
		start--
	}
	if start == end {
		return nil
	}
	frames := u.frames[start:end]
	return &unreadSIP{count: len(frames), frames: frames[:min(len(frames), maxAnomalyRefs)], kind: u.kind, detail: u.detail}
}

// after is what was noted of the unreadable messages sent from src to dst
// after frame: nil when there were none.
func (l unreadSIPLog) after(src, dst netip.AddrPort, frame uint64) *unreadSIP {
	u := l[[2]netip.AddrPort{src, dst}]
	if u == nil {
		return nil
	}
	start, found := slices.BinarySearch(u.frames, frame)
	if found {
		start++
	}
	if start == len(u.frames) {
		return nil
	}
	frames := u.frames[start:]
	return &unreadSIP{count: len(frames), frames: frames[:min(len(frames), maxAnomalyRefs)], kind: u.kind, detail: u.detail}
}

// noteUnreadAfter finds, for the legs about to be judged whose INVITE has
// no final response in the capture, the unreadable messages the callee's
// side sent the caller after it.
func (s *state) noteUnreadAfter(legs []*sipCall) {
	for _, c := range legs {
		if t := &c.setup; t.sent > 0 && t.endedAt.IsZero() && t.src.IsValid() {
			t.unreadAfter = s.unreadPaths.after(t.dst, t.src, t.firstFrame)
		}
	}
}

// unreadableSIPMessage counts a SIP message that could not be read as an
// anomaly of kind, and notes it by its ends.
func (s *state) unreadableSIPMessage(pkt *packet, kind, detail string) {
	s.anomaly(kind, pkt.Offset, pkt.Frame, detail)
	s.unreadPaths.note(pkt, kind, detail)
}

// requestLine reads the method of a SIP request whose first line is whole
// (a message the snap length cut further on).
func requestLine(payload []byte) (string, bool) {
	end := bytes.Index(payload, []byte("\r\n"))
	if end < 0 {
		return "", false
	}
	info := newSIPInfo()
	if !readStartLine(info, string(payload[:end])) || !info.Request {
		return "", false
	}
	return info.Method, true
}
