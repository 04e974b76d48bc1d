package capture

import (
	"net/netip"
	"testing"
	"time"
)

// TestCancelAfterAnswer: a client that sent its INVITE several times
// (through several sockets, as the phone in DTMFsipinfo.pcap does) cancels
// the copies after the first was answered; those CANCELs have no effect
// (RFC 3261 §9.2) and the call stays up.
func TestCancelAfterAnswer(t *testing.T) {
	table := newCallTable()
	phone, server := netip.MustParseAddrPort("198.51.100.7:5060"), netip.MustParseAddrPort("203.0.113.1:5060")
	msg := func(request bool, method string, status int, cseq uint32, toTag string, src, dst netip.AddrPort) *sipInfo {
		return tableMsg(request, method, status, cseq, "caller", toTag, src, dst)
	}
	at := time.Unix(1000, 0)
	for _, m := range []*sipInfo{
		msg(true, "INVITE", 0, 1, "", phone, server),
		msg(true, "INVITE", 0, 2, "", phone, server),
		msg(false, "INVITE", 200, 1, "callee", server, phone),
		msg(true, "CANCEL", 0, 2, "", phone, server),
		msg(true, "ACK", 0, 1, "callee", phone, server),
	} {
		at = at.Add(10 * time.Millisecond)
		table.add(m, at, nil, nil)
	}
	c := table.order[0]
	if len(table.order) != 1 || c.Cancelled || c.ended(at.Add(time.Minute)) {
		t.Errorf("%d calls, cancelled %v, ended %v: the answered call must stay up", len(table.order), c.Cancelled, c.ended(at.Add(time.Minute)))
	}
}
