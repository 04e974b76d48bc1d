package proxy

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/natdoc/natdoc/internal/sipcall"
	"github.com/natdoc/natdoc/relay"
	"github.com/natdoc/natdoc/report"
	"github.com/natdoc/natdoc/rtpengine"
)

// Finding IDs of a serve run (stable: scripts match on them).
const (
	IDMediaLatchedNATAddress report.FindingID = "media-latched-nat-address"
	IDRelayNoMediaFromParty  report.FindingID = "relay-no-media-from-party"
	IDRelayUnexpectedSource  report.FindingID = "relay-unexpected-source"
	IDSIPInputRejected       report.FindingID = "sip-input-rejected"
	// IDRelayMediaTimeout: a party's media stopped mid-call and the relay
	// ended the call after its idle timeout.
	IDRelayMediaTimeout report.FindingID = "relay-media-timeout"
	// IDLANPhoneGivenPublicAddr: a LAN phone told to send its media to the
	// router's public address sent nothing (no hairpin NAT).
	IDLANPhoneGivenPublicAddr report.FindingID = "lan-phone-given-public-address"
)

// ServeReport turns the server's state into the report section.
func ServeReport(listen []string, cfg Config, rtpPorts string, regs []Binding, calls []CallRecord) *report.ServeReport {
	public := cfg.PublicAddr
	if cfg.PublicPort != 0 {
		public = net.JoinHostPort(public, strconv.Itoa(cfg.PublicPort))
	}
	sr := &report.ServeReport{Listen: listen, PublicAddr: public, Fix: cfg.Fix, Registered: len(regs), RTPPorts: rtpPorts}
	if cfg.LocalAddr.IsValid() {
		sr.LocalAddr = cfg.LocalAddr.String()
	}
	for _, b := range regs {
		c := b.Contact
		sr.Registrations = append(sr.Registrations, report.Registration{User: b.User, Contact: c.String(), Source: b.Source.String(), LAN: b.LAN})
	}
	for _, c := range calls {
		rc := report.RelayedCall{CallID: c.CallID, From: c.Caller, To: c.Callee, Start: c.Start, End: c.End, State: c.State, Ended: c.EndReason,
			Engine: c.Engine}
		if c.Relay != nil {
			rc.Legs = []report.RelayLeg{relayLeg(c.Caller, c.Relay.A, c.Relay.B), relayLeg(c.Callee, c.Relay.B, c.Relay.A)}
		}
		if c.Echo != nil && c.Relay == nil {
			// No relay (--fix=false): what the echo itself sent to the
			// caller's SDP address and heard, and from where.
			rc.Legs = []report.RelayLeg{{Party: EchoUser, Packets: c.Echo.Sent.Packets, Received: c.Echo.Received.Packets, Lost: c.Echo.Received.Lost,
				Latched: sipcall.AddrString(c.Echo.Received.From), SDPAddr: sipcall.AddrString(c.Echo.SentTo)}}
		}
		sr.Calls = append(sr.Calls, rc)
	}
	return sr
}

// relayLeg describes the leg facing party: what it sent (own) and what the
// relay forwarded to it (from the other leg).
func relayLeg(party string, own, other relay.LegStats) report.RelayLeg {
	return report.RelayLeg{Party: party, Latched: sipcall.AddrString(own.Latched), SDPAddr: sipcall.AddrString(own.SDPAddr),
		Packets: other.RTP.Forwarded, Bytes: other.RTP.Bytes, Dropped: other.RTP.NoDestination + other.RTP.SendErrors,
		Received: own.RTP.Packets, Lost: own.RTP.Lost, Unexpected: own.RTP.Unexpected,
		Kernel: own.RTP.Kernel, LossNotMeasured: own.RTP.LossNotMeasured}
}

// ServeFindings derives findings from the calls the server relayed and its
// anomaly counters; server is the server's own address (its --listen IP).
func ServeFindings(calls []CallRecord, anomalies []report.KeyValue, server netip.Addr) []report.Finding {
	var out []report.Finding
	for _, c := range calls {
		if c.Relay == nil {
			continue
		}
		if c.EndReason == endMediaTimeout {
			out = append(out, mediaTimeoutFinding(c))
		}
		for _, p := range []party{
			{name: c.Caller, signalling: c.CallerAddr, given: c.CallerMedia, st: c.Relay.A},
			{name: c.Callee, signalling: c.CalleeAddr, given: c.CalleeMedia, st: c.Relay.B},
		} {
			out = append(out, legFindings(c, p, server)...)
		}
	}
	var anomalyCount uint64
	for _, kv := range anomalies {
		n, _ := strconv.ParseUint(kv.Value, 10, 64)
		anomalyCount += n
	}
	if anomalyCount > 0 {
		out = append(out, report.Finding{ID: IDSIPInputRejected, Severity: report.SeverityInfo,
			Title:    fmt.Sprintf("%d SIP messages were dropped or refused as malformed, invalid, stray, oversized or over the rate limit", anomalyCount),
			Evidence: []report.Evidence{{Text: "counters", Values: anomalies}}})
	}
	return out
}

// mediaTimeoutFinding names who fell silent on a call the relay ended
// for silence.
func mediaTimeoutFinding(c CallRecord) report.Finding {
	who, st := "Both parties", c.Relay.A
	switch c.Relay.Idle {
	case relay.IdleA:
		who = c.Caller
	case relay.IdleB:
		who, st = c.Callee, c.Relay.B
	}
	last := st.RTP.Last
	if st.RTCP.Last.After(last) {
		last = st.RTCP.Last
	}
	title := fmt.Sprintf("%s sent no media for the relay's idle timeout mid-call: the relay ended the call and freed its ports", who)
	ev := []report.Evidence{{Text: "relay leg", Values: []report.KeyValue{{Key: "silent side", Value: c.Relay.Idle},
		{Key: "packets before it stopped", Value: strconv.FormatUint(st.RTP.Packets, 10)}, {Key: "last packet", Value: last.Format(time.RFC3339)},
		{Key: "call ended", Value: c.End.Format(time.RFC3339)}}}}
	return report.Finding{ID: IDRelayMediaTimeout, Severity: report.SeverityWarning, Subject: c.CallID, Title: title, Evidence: ev,
		Remedy: "The phone lost its network, crashed, or its NAT forgot the media mapping (a router whose UDP timeout is shorter than the gaps in the phone's RTP/RTCP). Check the phone's network and keep-alives; the server hung up for it with a BYE to both sides."}
}

// party is one side of a relayed call as its leg saw it.
type party struct {
	name       string
	signalling netip.AddrPort // where its SIP came from
	given      netip.Addr     // the server address its SDP named
	st         relay.LegStats
}

func legFindings(c CallRecord, p party, server netip.Addr) []report.Finding {
	var out []report.Finding
	st := p.st
	if st.Latched.IsValid() && st.SDPAddr.IsValid() && st.Latched != st.SDPAddr {
		out = append(out, report.Finding{ID: IDMediaLatchedNATAddress, Severity: report.SeverityInfo,
			Title:   fmt.Sprintf("%s's SDP named %s, its media came from %s: the relay sent its audio there", p.name, st.SDPAddr, st.Latched),
			Subject: c.CallID, Evidence: []report.Evidence{{Text: "SDP address versus real media source", Addrs: []string{st.SDPAddr.String(), st.Latched.String()}}},
			Remedy: "Without natdoc's relay this party needs STUN on an endpoint-independent NAT, a port forward with the public address in SDP, or a relay on its server."})
	}
	if c.Answer.IsZero() {
		return out
	}
	if st.RTP.Packets == 0 {
		out = append(out, noMediaFinding(c, p, server))
	}
	if st.RTP.Unexpected > 0 {
		out = append(out, report.Finding{ID: IDRelayUnexpectedSource, Severity: report.SeverityInfo,
			Title:   fmt.Sprintf("%d packets to %s's relay port came from a source that may not latch, and were dropped", st.RTP.Unexpected, p.name),
			Subject: c.CallID})
	}
	return out
}

// noMediaFinding says why a party's media never reached the relay. A
// phone on the server's own private network that was given the router's
// public address sends there; unless the router loops packets to its own
// public address back in (hairpin NAT, "NAT loopback"), they vanish.
func noMediaFinding(c CallRecord, p party, server netip.Addr) report.Finding {
	ev := []report.Evidence{{Text: "relay leg counters", Values: []report.KeyValue{
		{Key: "unexpected source packets", Value: strconv.FormatUint(p.st.RTP.Unexpected, 10)}, {Key: "expected source", Value: p.st.Expected.String()},
		{Key: "server address in its SDP", Value: p.given.String()}}}}
	src := p.signalling.Addr()
	if src.IsPrivate() && p.given.IsValid() && isPublic(p.given) && server.IsPrivate() {
		return report.Finding{ID: IDLANPhoneGivenPublicAddr, Severity: report.SeverityWarning, Subject: c.CallID, Evidence: ev,
			Title: fmt.Sprintf("%s, on the LAN at %s, sent no media: it was told to send to the public address %s, and the router does not pass packets for its own public address back into the LAN (no hairpin NAT)",
				p.name, src, p.given),
			Remedy: fmt.Sprintf("Give LAN phones this server's own LAN address: run natdoc serve with --local-addr %s (the default when --listen is that address) and a --lan that includes %s. Or turn on the router's NAT loopback (also called NAT reflection or hairpinning).", server, src)}
	}
	return report.Finding{ID: IDRelayNoMediaFromParty, Severity: report.SeverityWarning, Subject: c.CallID, Evidence: ev,
		Title:  fmt.Sprintf("%s sent no media to the relay on an answered call", p.name),
		Remedy: "The phone never sent RTP to the relay's address, or its media came from another IP than its SIP (see unexpected packets); check that UDP to the relay's port range is allowed out."}
}

// statusCalls: calls shown on the live status line.
const statusCalls = 3

// StatusLine is the one-line live view of a running server: registrations,
// calls in progress and, per relayed call, packets relayed each way.
func StatusLine(registered int, active []CallRecord) string {
	s := fmt.Sprintf("%d registered, %d calls", registered, len(active))
	for i, c := range active {
		if i == statusCalls {
			s += fmt.Sprintf(" (+%d more)", len(active)-statusCalls)
			break
		}
		s += fmt.Sprintf(" | %s→%s", c.Caller, c.Callee)
		if c.Relay != nil {
			s += fmt.Sprintf(" %d→ ←%d pkts", c.Relay.A.RTP.Forwarded, c.Relay.B.RTP.Forwarded)
		}
	}
	return s
}

// IDMediaEngineDown: an rtpengine stopped answering during the run.
const IDMediaEngineDown report.FindingID = "media-engine-down"

// EngineReport describes the rtpengines of a run for the report.
func EngineReport(sts []rtpengine.Status) []report.MediaEngine {
	out := make([]report.MediaEngine, 0, len(sts))
	for _, st := range sts {
		e := report.MediaEngine{Address: st.Config.String(), Weight: st.Config.Weight, Up: st.Up, Calls: st.Calls, Active: st.Active,
			Failures: st.Failures, Outages: len(st.Outages)}
		if !st.Up {
			e.LastError = st.LastError
		}
		if !st.StatsAt.IsZero() {
			x := st.Stats
			e.Stats = []report.KeyValue{{Key: "sessions", Value: fmt.Sprint(x.Sessions)}, {Key: "packets/s", Value: fmt.Sprint(x.PacketRate)},
				{Key: "relayed packets", Value: fmt.Sprint(x.RelayedPackets)}, {Key: "one-way streams", Value: fmt.Sprint(x.OneWay)},
				{Key: "no-way streams", Value: fmt.Sprint(x.NoWay)}}
		}
		out = append(out, e)
	}
	return out
}

// EngineFindings reports every outage of an engine: new calls went to the
// others, but the calls it had in progress could not move, their media
// went through it.
func EngineFindings(sts []rtpengine.Status) []report.Finding {
	var out []report.Finding
	for _, st := range sts {
		for _, o := range st.Outages {
			sev, lost := report.SeverityInfo, "it had no call in progress"
			if len(o.Calls) > 0 {
				sev, lost = report.SeverityWarning, count(len(o.Calls), "call")+" in progress lost the media it had there"
			}
			until := "until the end of the run"
			if !o.End.IsZero() {
				until = "for " + o.End.Sub(o.Start).Round(time.Second).String()
			}
			out = append(out, report.Finding{ID: IDMediaEngineDown, Severity: sev,
				Title:    fmt.Sprintf("rtpengine %s stopped answering at %s %s; %s", st.Config.Addr, o.Start.Format("15:04:05"), until, lost),
				Evidence: []report.Evidence{{Text: "why: " + o.Reason, Values: callIDs(o.Calls)}},
				Remedy: "New calls went to the engines that answered. A call's media cannot move to another engine mid-call: " +
					"run rtpengine under a supervisor that restarts it, and give natdoc serve several engines (--media rtpengine=... more than once)."})
		}
	}
	return out
}

func callIDs(ids []string) []report.KeyValue {
	out := make([]report.KeyValue, 0, len(ids))
	for i, id := range ids {
		if i == 20 {
			out = append(out, report.KeyValue{Key: "more", Value: strconv.Itoa(len(ids) - 20)})
			break
		}
		out = append(out, report.KeyValue{Key: "call", Value: id})
	}
	return out
}

// engineStatus is the engines' part of the live status line.
func engineStatus(sts []rtpengine.Status) string {
	s := ""
	for _, st := range sts {
		state := "up"
		if !st.Up {
			state = "DOWN"
		}
		s += fmt.Sprintf(" | rtpengine %s %s %d calls", st.Config.Addr, state, st.Active)
		if !st.StatsAt.IsZero() {
			s += fmt.Sprintf(" %d pkt/s", st.Stats.PacketRate)
		}
	}
	return s
}
