package diagnose

import (
	"fmt"
	"strings"

	"github.com/natdoc/natdoc/diagnose/hostinfo"
	"github.com/natdoc/natdoc/diagnose/sipserver"
	"github.com/natdoc/natdoc/report"
)

// dynDNSSuffixes are dynamic-DNS providers' domains, for the seed's setup:
// a SIP server at home reached by a dynamic-DNS name.
var dynDNSSuffixes = []string{
	"dyndns.org", "dyndns.info", "dynu.net", "dynv6.net", "duckdns.org", "no-ip.org", "no-ip.biz", "no-ip.info",
	"ddns.net", "hopto.org", "zapto.org", "myfritz.net", "selfhost.eu", "spdns.de", "dnshome.de", "freeddns.org",
	"dynalias.com", "homeip.net", "changeip.com", "afraid.org", "servebeer.com", "myddns.me", "dedyn.io",
}

// IsDynDNSName reports whether name belongs to a known dynamic-DNS provider.
func IsDynDNSName(name string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	for _, s := range dynDNSSuffixes {
		if name == s || strings.HasSuffix(name, "."+s) {
			return true
		}
	}
	return false
}

func serverFindings(r *Result) []report.Finding {
	s := r.Server
	if s == nil {
		return nil
	}
	subject := s.Target
	if s.ResolveErr != "" {
		return []report.Finding{{ID: IDServerUnresolved, Severity: report.SeverityError, Subject: subject,
			Title:    "The SIP server's name does not resolve",
			Evidence: []report.Evidence{{Text: s.ResolveErr}},
			Remedy:   "Check the server name in the phones, and the DNS records (SRV _sip._udp, A/AAAA)"}}
	}
	var out []report.Finding
	out = append(out, dnsFindings(r, s)...)
	if pub, _ := PublicAddr(r); !s.Answered && pub.IsValid() && s.Contacted.Addr() == pub {
		// The server is in this network, reached through the router's own
		// public address: that needs hairpinning (NAT loopback), so
		// silence here says little about callers outside.
		out = append(out, report.Finding{ID: IDServerNoAnswer, Severity: report.SeverityWarning, Subject: subject,
			Title: "The SIP server is this network's own public address and did not answer from inside: the router does not hairpin, or the server is down",
			Evidence: []report.Evidence{{Text: fmt.Sprintf("%d OPTIONS from %s to %s (this network's public address), no final answer", s.Attempts, s.LocalAddr, s.Contacted),
				Addrs: []string{s.Contacted.String()}}},
			Remedy: "Check the server from outside this network (or from its own LAN address); phones on this LAN should use the server's LAN address or a DNS name that resolves to it inside"})
		return out
	}
	if !s.Answered {
		out = append(out, report.Finding{ID: IDServerNoAnswer, Severity: report.SeverityError, Subject: subject,
			Title: "The SIP server did not answer an OPTIONS request over UDP",
			Evidence: []report.Evidence{{Text: fmt.Sprintf("%d OPTIONS from %s to %s, no final answer", s.Attempts, s.LocalAddr, s.Contacted),
				Addrs: []string{s.Contacted.String()}}},
			Remedy: "Check that the server listens on UDP " + fmt.Sprint(s.Port) + " and that its router forwards that port to it"})
		return out
	}
	out = append(out, report.Finding{ID: IDServerReachable, Severity: report.SeverityInfo, Subject: subject,
		Title: fmt.Sprintf("The SIP server answers OPTIONS in %s (%d %s)", s.RTT.Round(1e5), s.Status, s.Reason),
		Evidence: []report.Evidence{{Text: fmt.Sprintf("%d send(s) to %s", s.Attempts, s.Contacted), Addrs: []string{s.Contacted.String()},
			Values: []report.KeyValue{{Key: "rtt", Value: s.RTT.String()}, {Key: "server", Value: s.Server}}}}})
	if s.Rport == 0 {
		out = append(out, report.Finding{ID: IDServerNoRport, Severity: report.SeverityWarning, Subject: subject,
			Title:    "The SIP server ignores rport (RFC 3581): answers to phones behind NAT may go to the wrong port",
			Evidence: []report.Evidence{{Text: "our Via asked for rport; the answer's Via has no rport value", Values: []report.KeyValue{{Key: "received", Value: s.Received}}}},
			Remedy:   "Enable NAT handling on the server (rport / force_rport / nat=yes), or forward the phones' SIP ports"})
	}
	if len(s.Leaks) > 0 {
		f := report.Finding{ID: IDServerPrivate, Severity: report.SeverityError, Subject: subject,
			Title:  "The SIP server announces a private address: it sits behind NAT without its public address set, so callers outside get one-way or no audio",
			Remedy: "Set the server's main (external/public) address to this network's public address or a dynamic-DNS name, and forward its SIP and RTP ports"}
		for _, l := range s.Leaks {
			f.Evidence = append(f.Evidence, report.Evidence{Text: fmt.Sprintf("%s: %s", l.Where, l.Value), Addrs: []string{l.Addr.String()}})
		}
		out = append(out, f)
	}
	return out
}

// dnsFindings checks where the name points: a private address (unreachable
// from outside), or, for a dynamic-DNS name, an address that is not this
// network's current public one (the update client stopped).
func dnsFindings(r *Result, s *sipserver.Result) []report.Finding {
	if !s.IsName {
		return nil
	}
	var out []report.Finding
	var names []string
	for _, a := range s.Addrs {
		names = append(names, a.String())
	}
	for _, a := range s.Addrs {
		if !hostinfo.IsPublic(a) {
			out = append(out, report.Finding{ID: IDServerDNSPrivate, Severity: report.SeverityError, Subject: s.Target,
				Title:    "The SIP server's name resolves to a private address: phones outside this network cannot reach it",
				Evidence: []report.Evidence{{Text: s.Host + " → " + strings.Join(names, ", "), Addrs: names}},
				Remedy:   "Publish the public address in DNS (a dynamic-DNS name for a home server); keep the private one for internal DNS only"})
			return out
		}
	}
	pub, who := PublicAddr(r)
	if !pub.IsValid() || !IsDynDNSName(s.Host) {
		return out
	}
	if !containsAddr(s.Addrs, pub) {
		out = append(out, report.Finding{ID: IDDynDNSStale, Severity: report.SeverityError, Subject: s.Target,
			Title:    "The dynamic-DNS name does not point at this network's current public address",
			Evidence: []report.Evidence{{Text: fmt.Sprintf("%s → %s, but the %s saw %s", s.Host, strings.Join(names, ", "), who, pub), Addrs: append(names, pub.String())}},
			Remedy:   "Check the router's or server's dynamic-DNS client: it must update the name whenever the public address changes"})
	}
	return out
}
