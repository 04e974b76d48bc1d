package igd

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/natdoc/natdoc/report"
)

// ReportDiscovery converts a Discovery into the report's IGD section.
func ReportDiscovery(d *Discovery) *report.IGDReport {
	r := &report.IGDReport{Chosen: d.Chosen, ChosenReason: d.ChosenReason, SSDPMalformed: d.SSDPMalformed,
		NATPMP: probeTri(d.NATPMP), PCP: probeTri(d.PCP)}
	for _, g := range d.Gateways {
		dev := report.IGDDevice{Location: g.Location, FriendlyName: g.FriendlyName, Manufacturer: g.Manufacturer,
			Model: strings.TrimSpace(g.ModelName + " " + g.ModelNumber), Connection: g.Connection,
			LocationAdvertised: g.LocationAdvertised, Error: g.Err}
		for _, s := range g.Services {
			dev.Services = append(dev.Services, shortService(s))
		}
		if g.ExternalIP.IsValid() {
			dev.ExternalIP = g.ExternalIP.String()
		} else if g.ExternalIPError != "" && dev.Error == "" {
			dev.Error = g.ExternalIPError
		}
		if g.Usable() {
			dev.Protocol = fmt.Sprintf("upnp-igd%d", g.Version())
		}
		r.Devices = append(r.Devices, dev)
	}
	if d.NATPMP.ExternalIP.IsValid() {
		r.NATPMPExternalIP = d.NATPMP.ExternalIP.String()
	}
	return r
}

func probeTri(p PMPProbe) report.Tri {
	switch {
	case !p.Tried:
		return report.TriUnknown
	case p.Answered:
		return report.TriYes
	}
	return report.TriNo
}

func tri(t Tri) report.Tri {
	switch t {
	case Yes:
		return report.TriYes
	case No:
		return report.TriNo
	}
	return report.TriUnknown
}

// ReportTable converts the router's table, marking this host's entries
// and natdoc's.
func ReportTable(entries []Entry, client netip.Addr) []report.PortMapping {
	out := make([]report.PortMapping, 0, len(entries))
	for _, e := range entries {
		out = append(out, report.PortMapping{Protocol: e.Proto, ExternalPort: e.ExternalPort, InternalAddr: e.InternalClient,
			InternalPort: e.InternalPort, Description: e.Description, LeaseGranted: e.Lease, Enabled: e.Enabled,
			ThisHost: client.IsValid() && e.InternalClient == client.String(), ByNatdoc: e.Mine(client)})
	}
	return out
}

// ReportMappings converts mapping attempts (map, limits).
func ReportMappings(ms []MappingResult, client netip.Addr) []report.PortMapping {
	out := make([]report.PortMapping, 0, len(ms))
	for _, m := range ms {
		pm := report.PortMapping{Protocol: m.Proto, ExternalPort: m.ExternalPort, InternalAddr: client.String(),
			InternalPort: m.InternalPort, Description: Description, LeaseAsked: m.Lease, Enabled: m.Accepted,
			ThisHost: true, ByNatdoc: true, Applied: tri(m.ReadBackOK), ErrorCode: m.ErrorCode}
		if !m.Accepted {
			pm.Error = m.Err
		}
		if asked, granted, ok := m.leases(); ok {
			pm.LeaseGranted = granted
			if sameLease(asked, granted) {
				pm.LeaseGranted = asked // the remaining lease, read a moment later
			}
		}
		if m.Verify != nil {
			switch {
			case m.Verify.Arrived:
				pm.Verified = report.TriYes
			case m.Verify.Told():
				pm.Verified = report.TriNo
			}
		}
		out = append(out, pm)
	}
	return out
}

// ReportLimit converts the limit test.
func ReportLimit(r *LimitResult) *report.MappingLimit {
	l := &report.MappingLimit{Asked: r.Asked, Accepted: r.Accepted, Applied: r.Applied, Verified: r.Verified,
		Calls: CallsFor(r.Accepted), Reached: r.Reached(), Skipped: len(r.Skipped), Conflicts: r.Conflicts, Removed: r.Removed,
		Cause: string(r.Cause), SearchRequests: r.SearchRequests, SearchGap: r.SearchGap}
	for _, a := range r.Allowed {
		l.Allowed = append(l.Allowed, a.String())
	}
	l.ReadBack = r.ReadBack
	if r.Refusal != nil {
		l.ErrorCode = r.Refusal.ErrorCode
		l.ErrorText = errorText(r.Via, r.Refusal.ErrorCode, r.Refusal.Err)
	}
	l.LeaseNote = leaseNote(r.Mappings)
	return l
}

// leaseNote summarises asked versus granted leases in one line.
func leaseNote(ms []MappingResult) string {
	seen := map[string]int{}
	var order []string
	for _, m := range ms {
		asked, granted, ok := m.leases()
		if !ok {
			continue
		}
		if sameLease(asked, granted) {
			granted = asked
		}
		k := fmt.Sprintf("asked %s, granted %s", leaseText(asked), leaseText(granted))
		if seen[k] == 0 {
			order = append(order, k)
		}
		seen[k]++
	}
	var parts []string
	for _, k := range order {
		parts = append(parts, fmt.Sprintf("%s (%d)", k, seen[k]))
	}
	return strings.Join(parts, "; ")
}

// ReportCleanup converts a cleanup.
func ReportCleanup(c *CleanupResult) *report.IGDCleanup {
	out := &report.IGDCleanup{Pending: c.Pending, Removed: len(c.Removed), AlreadyGone: len(c.AlreadyGone),
		NotOurs: len(c.NotOurs), InUse: len(c.InUse)}
	for _, f := range c.Failed {
		out.Failed = append(out.Failed, fmt.Sprintf("%d/%s: %s", f.Entry.ExternalPort, f.Entry.Proto, f.Err))
	}
	return out
}
