package igd

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/natdoc/natdoc/report"
)

// Finding IDs this package produces (stable: scripts match on them).
const (
	FindingNotFound          report.FindingID = "upnp-not-found"
	FindingDoubleNAT         report.FindingID = "double-nat"
	FindingExternalIPDiffers report.FindingID = "upnp-external-ip-differs"
	FindingMappingLimit      report.FindingID = "upnp-mapping-limit"
	FindingNotApplied        report.FindingID = "upnp-mapping-not-applied"
	FindingNotForwarding     report.FindingID = "upnp-mapping-not-forwarding"
	FindingLeaseRewritten    report.FindingID = "upnp-lease-rewritten"
	FindingMappingRefused    report.FindingID = "upnp-mapping-refused"
	FindingCleanupFailed     report.FindingID = "upnp-cleanup-failed"
	FindingJournalPending    report.FindingID = "upnp-journal-pending"
	FindingLocationElsewhere report.FindingID = "upnp-location-elsewhere"
	FindingForwarded         report.FindingID = "upnp-forwarded"
	FindingPortsRestricted   report.FindingID = "upnp-ports-restricted"
	FindingRTPMoved          report.FindingID = "upnp-rtp-moved"
	FindingRTPPairs          report.FindingID = "upnp-rtp-pairs"
	FindingRTPPairsUsedUp    report.FindingID = "upnp-rtp-pairs-used-up"
)

const remedyForwardByHand = "Forward UDP 5060 and the RTP port range to the SIP server or phone by hand in the router's port-forwarding page."

// DiscoveryFindings derives findings from what Discover found and,
// optionally, the public address a STUN server saw (zero: not asked).
func DiscoveryFindings(d *Discovery, stunMapped netip.Addr) []report.Finding {
	var out []report.Finding
	g := d.Best()
	if g == nil && !d.NATPMP.Answered && !d.PCP.Answered {
		f := report.Finding{ID: FindingNotFound, Severity: report.SeverityWarning,
			Title:  "No UPnP IGD, NAT-PMP or PCP answered: nothing can open ports on this router automatically",
			Remedy: "Enable UPnP IGD on the router if the SIP server relies on it; otherwise " + lowerFirst(remedyForwardByHand)}
		ev := report.Evidence{Text: fmt.Sprintf("%d device(s) answered the search, none usable", len(d.Gateways))}
		for _, x := range d.Gateways {
			if x.Err != "" {
				ev.Values = append(ev.Values, report.KeyValue{Key: x.Location, Value: x.Err})
			}
		}
		f.Evidence = append(f.Evidence, ev)
		return append(out, f)
	}
	ext, where := externalIP(d)
	switch {
	case ext.IsValid() && !isPublic(ext) && !ext.IsUnspecified():
		f := report.Finding{ID: FindingDoubleNAT, Severity: report.SeverityError,
			Title: fmt.Sprintf("Double NAT: the router's own external address %s is not public", ext),
			Evidence: []report.Evidence{{Text: "external address reported by " + where, Addrs: []string{ext.String()},
				Values: []report.KeyValue{{Key: "range", Value: addrRange(ext)}}}},
			Remedy: "Mappings on this router lead only to the next NAT, not to the internet. Put the upstream modem in bridge mode, " +
				"or forward the same ports on the upstream router too, or use a relay (natdoc serve) on a public host."}
		if stunMapped.IsValid() {
			f.Evidence = append(f.Evidence, report.Evidence{Text: "public address seen by the STUN server", Addrs: []string{stunMapped.String()}})
		}
		out = append(out, f)
	case ext.IsValid() && stunMapped.IsValid() && ext != stunMapped:
		out = append(out, report.Finding{ID: FindingExternalIPDiffers, Severity: report.SeverityWarning,
			Title: fmt.Sprintf("The router says its external address is %s, but the internet sees %s", ext, stunMapped),
			Evidence: []report.Evidence{
				{Text: "external address reported by " + where, Addrs: []string{ext.String()}},
				{Text: "public address seen by the STUN server", Addrs: []string{stunMapped.String()}}},
			Remedy: "Another NAT (carrier-grade NAT or a second router) or another WAN path sits between this router and the internet; " +
				"mappings here may not be reachable. Ask the provider for a public address, or forward on the outer router too."})
	}
	if g != nil && g.ExternalIPHidden && !ext.IsValid() {
		out = append(out, hiddenExternalFinding(g, stunMapped))
	}
	for _, x := range d.Gateways {
		if x.LocationAdvertised != "" {
			out = append(out, report.Finding{ID: FindingLocationElsewhere, Severity: report.SeverityInfo,
				Title:    "The IGD advertised its description at another address; natdoc asked the device that answered instead",
				Subject:  x.Replier.String(),
				Evidence: []report.Evidence{{Text: "LOCATION header and the address that sent it", Addrs: []string{x.LocationAdvertised, x.Replier.String()}}}})
		}
	}
	return out
}

// hiddenExternalFinding: the IGD is connected but will not name its
// external address; with a public address seen by STUN that is another
// NAT in front of it.
func hiddenExternalFinding(g *Gateway, stunMapped netip.Addr) report.Finding {
	f := report.Finding{ID: FindingDoubleNAT, Severity: report.SeverityWarning,
		Title: "The router reports no external address: it is probably behind another NAT (or its WAN is down)",
		Evidence: []report.Evidence{{Text: "GetExternalIPAddress answered an empty or 0.0.0.0 address",
			Values: []report.KeyValue{{Key: "connection status", Value: g.Connection}, {Key: "IGD", Value: g.Location}}}},
		Remedy: "Mappings on this router lead only to the next NAT. Put the upstream modem in bridge mode, forward the ports on the upstream router too, or use a relay (natdoc serve) on a public host."}
	if stunMapped.IsValid() && isPublic(stunMapped) {
		f.Severity = report.SeverityError
		f.Title = fmt.Sprintf("Double NAT: the router has no public WAN address, while the internet sees %s", stunMapped)
		f.Evidence = append(f.Evidence, report.Evidence{Text: "public address seen by the STUN server", Addrs: []string{stunMapped.String()}})
	}
	return f
}

func externalIP(d *Discovery) (netip.Addr, string) {
	if g := d.Best(); g != nil && g.ExternalIP.IsValid() {
		return g.ExternalIP, "UPnP GetExternalIPAddress"
	}
	if d.PCP.Answered && d.PCP.ExternalIP.IsValid() {
		return d.PCP.ExternalIP, "PCP"
	}
	if d.NATPMP.Answered && d.NATPMP.ExternalIP.IsValid() {
		return d.NATPMP.ExternalIP, "NAT-PMP"
	}
	return netip.Addr{}, ""
}

func addrRange(a netip.Addr) string {
	switch {
	case cgnat.Contains(a):
		return "100.64.0.0/10 (carrier-grade NAT, RFC 6598)"
	case a.IsPrivate():
		return "private (RFC 1918)"
	case a.IsLoopback(), a.IsLinkLocalUnicast():
		return "loopback or link-local"
	}
	return "not globally routable"
}

// CallsFor is how many simultaneous calls n mappings carry: one for the
// SIP port, then RTP and RTCP for each call (RFC 3550 §11: RTCP on the
// next port).
func CallsFor(n int) int {
	if n < 1 {
		return 0
	}
	return (n - 1) / 2
}

// LimitFindings derives findings from the limit test.
func LimitFindings(r *LimitResult) []report.Finding {
	var out []report.Finding
	if f := limitFinding(r); f != nil {
		out = append(out, *f)
	}
	if f := restrictedFinding(r); f != nil {
		out = append(out, *f)
	}
	out = append(out, mappingFindings(r.Mappings)...)
	if r.RemoveErr != "" {
		out = append(out, cleanupFailed(r.RemoveErr))
	}
	return out
}

// limitFinding: the router stopped accepting mappings for another reason
// than its port rules (those are restrictedFinding's).
func limitFinding(r *LimitResult) *report.Finding {
	if r.Refusal == nil || r.Cause == CauseNone || r.Cause == CausePermission {
		return nil
	}
	code := r.Refusal.ErrorCode
	calls := CallsFor(r.Accepted)
	title := fmt.Sprintf("The router accepts at most %d %s mappings from this host (its table is full): enough for %d simultaneous calls", r.Accepted, r.Proto, calls)
	switch r.Cause {
	case CauseLease:
		title = fmt.Sprintf("The router stopped after %d %s mappings: it refuses the lease natdoc asked for (%s)", r.Accepted, r.Proto, errorText(r.Via, code, r.Refusal.Err))
	case CauseOther:
		title = fmt.Sprintf("The router refused mapping %d after accepting %d %s mappings: enough for %d simultaneous calls", r.Accepted+1, r.Accepted, r.Proto, calls)
	}
	return &report.Finding{ID: FindingMappingLimit, Severity: report.SeverityWarning, Title: title,
		Evidence: []report.Evidence{{Text: fmt.Sprintf("mapping %d (external port %d) refused", r.Accepted+1, r.Refusal.ExternalPort),
			Values: []report.KeyValue{{Key: "error", Value: fmt.Sprintf("%d %s", code, errorText(r.Via, code, r.Refusal.Err))},
				{Key: "accepted", Value: fmt.Sprint(r.Accepted)}, {Key: "via", Value: r.Via}, {Key: "cause", Value: string(r.Cause)}}}},
		Remedy: fmt.Sprintf("This router supports at most %d simultaneous calls through %s; beyond that %s", calls, ViaName(r.Via), lowerFirst(remedyForwardByHand))}
}

// restrictedFinding: the router's rules allow only some ports, which is
// not a limit on how many mappings it takes: where they are decides
// whether the SIP server's RTP range can use UPnP at all.
func restrictedFinding(r *LimitResult) *report.Finding {
	if !r.Restricted {
		return nil
	}
	f := report.Finding{ID: FindingPortsRestricted, Severity: report.SeverityWarning, Remedy: rtpAdvice(r.RTP, r.Allowed)}
	ev := report.Evidence{Text: fmt.Sprintf("%d request(s) to find the allowed ports, released at once", r.SearchRequests),
		Values: []report.KeyValue{{Key: "via", Value: r.Via}}}
	if p := r.firstPermissionRefusal(); p != nil {
		ev.Values = append(ev.Values, report.KeyValue{Key: "refused", Value: fmt.Sprintf("%d (%d %s)", p.ExternalPort, p.ErrorCode, errorText(r.Via, p.ErrorCode, p.Err))})
	}
	f.Evidence = []report.Evidence{ev}
	switch {
	case len(r.Allowed) == 0 && r.SearchGap > 0:
		f.Severity = report.SeverityError
		f.Title = fmt.Sprintf("The router's UPnP rules refused all %d ports natdoc asked for across %d-%d (at most %d ports apart): UPnP opens nothing for SIP or RTP here, unless the router allows a narrower range between them",
			r.SearchRequests, searchLow, searchHigh, r.SearchGap)
		f.Remedy = strings.TrimSpace(f.Remedy + " If the router's UPnP settings list allowed port ranges, set the server's RTP range inside one (natdoc serve --rtp-ports) and run natdoc upnp limits again.")
		return &f
	case len(r.Allowed) == 0:
		f.Severity = report.SeverityError
		f.Title = fmt.Sprintf("The router's UPnP rules refused every port natdoc asked for across %d-%d: UPnP opens nothing for SIP or RTP here", searchLow, searchHigh)
		return &f
	case r.Cause == CausePermission:
		f.Title = fmt.Sprintf("The router's UPnP rules allow only ports %s, and %d %s mappings there: enough for %d simultaneous calls",
			rangesText(r.Allowed), r.Accepted, r.Proto, CallsFor(r.Accepted))
	default:
		f.Title = fmt.Sprintf("The router's UPnP rules allow only ports %s (natdoc mapped %d %s ports there)", rangesText(r.Allowed), r.Accepted, r.Proto)
	}
	ev.Values = append(ev.Values, report.KeyValue{Key: "allowed", Value: rangesText(r.Allowed)}, report.KeyValue{Key: "accepted", Value: fmt.Sprint(r.Accepted)})
	f.Evidence = []report.Evidence{ev}
	if f.Remedy == "" {
		f.Severity = report.SeverityInfo // the server's RTP range is allowed
	}
	return &f
}

// firstPermissionRefusal is the first port the router's rules refused.
func (r *LimitResult) firstPermissionRefusal() *MappingResult {
	for i := range r.Mappings {
		if r.Mappings[i].Refusal == RefusalPermission {
			return &r.Mappings[i]
		}
	}
	return nil
}

// MapFindings derives findings from `upnp map`.
func MapFindings(ms []MappingResult) []report.Finding {
	out := mappingFindings(ms)
	var refused []string
	var ev []report.Evidence
	for _, m := range ms {
		if !m.Accepted {
			refused = append(refused, fmt.Sprint(m.ExternalPort))
			ev = append(ev, report.Evidence{Text: fmt.Sprintf("%d/%s", m.ExternalPort, m.Proto), Values: []report.KeyValue{{Key: "error", Value: m.Err}}})
		}
	}
	if len(refused) > 0 {
		remedy := remedyForwardByHand
		if slices.ContainsFunc(ms, func(m MappingResult) bool { return m.Refusal == RefusalPermission }) {
			remedy = "The router's UPnP rules refuse these ports; `natdoc upnp limits --rtp-ports LO-HI` finds the ports they allow. Otherwise " + lowerFirst(remedyForwardByHand)
		}
		out = append(out, report.Finding{ID: FindingMappingRefused, Severity: report.SeverityError,
			Title:    fmt.Sprintf("The router refused %d of %d mappings (%s)", len(refused), len(ms), portList(refused)),
			Evidence: ev, Remedy: remedy})
	}
	return out
}

// mappingFindings covers what every accepted mapping can show: absent on
// read-back, no packet through it, lease rewritten.
func mappingFindings(ms []MappingResult) []report.Finding {
	var out []report.Finding
	var absent, wrong, silent []string
	var absentEv, silentEv []report.Evidence
	leases := map[[2]time.Duration][]string{}
	for _, m := range ms {
		if !m.Accepted {
			continue
		}
		port := fmt.Sprint(m.ExternalPort)
		switch {
		case m.ReadBackOK == No && m.ReadBack == nil:
			absent = append(absent, port)
		case m.ReadBackOK == No:
			wrong = append(wrong, port)
			absentEv = append(absentEv, report.Evidence{Text: fmt.Sprintf("%s/%s points elsewhere", port, m.Proto),
				Addrs: []string{fmt.Sprintf("%s:%d", m.ReadBack.InternalClient, m.ReadBack.InternalPort)}})
		}
		if m.Verify != nil && m.Verify.Told() && !m.Verify.Arrived {
			silent = append(silent, port)
			silentEv = append(silentEv, report.Evidence{Text: fmt.Sprintf("%s/%s: %s", port, m.Proto, m.Verify.Err), Addrs: []string{m.Verify.Server.String()}})
		}
		if asked, granted, ok := m.leases(); ok && !sameLease(asked, granted) {
			k := [2]time.Duration{asked, granted}
			leases[k] = append(leases[k], port)
		}
	}
	if len(absent)+len(wrong) > 0 {
		ev := absentEv
		if len(absent) > 0 {
			ev = append([]report.Evidence{{Text: "accepted, then absent from GetSpecificPortMappingEntry: " + portList(absent)}}, ev...)
		}
		out = append(out, report.Finding{ID: FindingNotApplied, Severity: report.SeverityError,
			Title:    fmt.Sprintf("The router accepted %d mapping(s) it did not apply", len(absent)+len(wrong)),
			Evidence: ev,
			Remedy:   "Do not rely on UPnP on this router: " + lowerFirst(remedyForwardByHand)})
	}
	if len(silent) > 0 {
		out = append(out, report.Finding{ID: FindingNotForwarding, Severity: report.SeverityError,
			Title:    fmt.Sprintf("%d mapping(s) exist on paper but let no packet in (%s)", len(silent), portList(silent)),
			Evidence: silentEv,
			Remedy:   "The router (or a NAT in front of it) does not forward these ports: " + lowerFirst(remedyForwardByHand)})
	}
	return append(out, leaseFindings(leases)...)
}

// leaseFindings: one finding per lease rewrite (asked, granted) seen,
// shortest granted first.
func leaseFindings(leases map[[2]time.Duration][]string) []report.Finding {
	var out []report.Finding
	keys := make([][2]time.Duration, 0, len(leases))
	for k := range leases {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][1] < keys[j][1] })
	for _, k := range keys {
		asked, got := k[0], k[1]
		sev := report.SeverityInfo
		remedy := ""
		if asked == 0 || (got != 0 && got < asked) {
			sev = report.SeverityWarning
			remedy = fmt.Sprintf("Renew UPnP mappings before %s, or forward the ports by hand so they do not expire.", got)
		}
		out = append(out, report.Finding{ID: FindingLeaseRewritten, Severity: sev,
			Title: fmt.Sprintf("The router rewrote the lease: asked %s, granted %s", leaseText(asked), leaseText(got)),
			Evidence: []report.Evidence{{Text: "lease the router granted (UPnP read-back, PCP or NAT-PMP answer) for ports " + portList(leases[k]),
				Values: []report.KeyValue{{Key: "asked_s", Value: fmt.Sprint(int(asked.Seconds()))}, {Key: "granted_s", Value: fmt.Sprint(int(got.Seconds()))}}}},
			Remedy: remedy})
	}
	return out
}

// leases are the lease asked and the one granted, when the router said:
// UPnP on read-back, PCP and NAT-PMP in their answer. PCP and NAT-PMP have
// no permanent mappings, so natdoc asks them for pmpDefaultLease instead.
func (m MappingResult) leases() (asked, granted time.Duration, ok bool) {
	asked = m.Lease
	switch {
	case m.ReadBack != nil:
		return asked, m.ReadBack.Lease, true
	case m.Granted != 0:
		if asked == 0 {
			asked = pmpDefaultLease
		}
		return asked, m.Granted, true
	}
	return 0, 0, false
}

// leaseSlack: read-back reports the remaining lease (miniupnpd answers
// 3599 s a second after granting 3600 s), so a slightly shorter value is
// the same lease.
const leaseSlack = 10 * time.Second

func sameLease(asked, granted time.Duration) bool {
	if asked == 0 || granted == 0 {
		return asked == granted
	}
	return granted <= asked && asked-granted <= leaseSlack
}

func leaseText(d time.Duration) string {
	if d == 0 {
		return "permanent (0)"
	}
	return fmt.Sprintf("%d s", int(d.Seconds()))
}

func errorText(via string, code int, err string) string {
	if code == 0 {
		return err
	}
	if t := RefusalText(via, code); t != "" {
		return t
	}
	return err
}

func portList(ports []string) string {
	if len(ports) > 12 {
		return strings.Join(ports[:12], ", ") + fmt.Sprintf(" and %d more", len(ports)-12)
	}
	return strings.Join(ports, ", ")
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func cleanupFailed(err string) report.Finding {
	return report.Finding{ID: FindingCleanupFailed, Severity: report.SeverityError,
		Title:    "natdoc could not remove all the mappings it made",
		Evidence: []report.Evidence{{Text: err}},
		Remedy:   "Run `natdoc upnp cleanup` when the router is reachable; the journal remembers them."}
}

// CleanupFindings derives findings from Cleanup.
func CleanupFindings(c *CleanupResult) []report.Finding {
	var out []report.Finding
	if len(c.Failed) > 0 {
		var errs []string
		for _, f := range c.Failed {
			errs = append(errs, fmt.Sprintf("%d/%s: %s", f.Entry.ExternalPort, f.Entry.Proto, f.Err))
		}
		out = append(out, cleanupFailed(strings.Join(errs, "; ")))
	}
	return out
}

// PendingFinding reports mappings a crashed natdoc left behind (nil when
// there are none).
func PendingFinding(pending []JournalEntry, journalPath string) *report.Finding {
	var stale []string
	for _, e := range pending {
		if !e.Kept && (e.PID == 0 || !processAlive(e.PID)) {
			stale = append(stale, fmt.Sprintf("%d/%s", e.ExternalPort, e.Proto))
		}
	}
	if len(stale) == 0 {
		return nil
	}
	return &report.Finding{ID: FindingJournalPending, Severity: report.SeverityWarning,
		Title:    fmt.Sprintf("An earlier natdoc run left %d mapping(s) on the router", len(stale)),
		Evidence: []report.Evidence{{Text: "journal " + journalPath + ": " + portList(stale)}},
		Remedy:   "Run `natdoc upnp cleanup` to remove them (natdoc removes only mappings it made)."}
}

// ViaName names a mapping protocol for people.
func ViaName(via string) string {
	switch {
	case strings.HasPrefix(via, "upnp-igd"):
		return "UPnP IGD" + strings.TrimPrefix(via, "upnp-igd")
	case via == ViaNATPMP:
		return "NAT-PMP"
	case via == ViaPCP:
		return "PCP"
	}
	return via
}
