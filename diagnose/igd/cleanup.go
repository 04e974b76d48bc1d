package igd

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
)

// MapAll adds each request (as `upnp map` does), reading each back and
// optionally verifying it. It does not stop at a refusal: the user asked
// for each port.
func MapAll(ctx context.Context, s *Session, opt Options, reqs []Request, verify netip.AddrPort) []MappingResult {
	out := make([]MappingResult, 0, len(reqs))
	for _, r := range reqs {
		if ctx.Err() != nil {
			break
		}
		out = append(out, attempt(ctx, s, opt, r, verify))
	}
	return out
}

// CleanupResult is what Cleanup did with each pending journal entry.
type CleanupResult struct {
	JournalPath string
	Pending     int
	Removed     []JournalEntry
	AlreadyGone []JournalEntry // not on the router any more
	NotOurs     []JournalEntry // the port now holds someone else's mapping: left alone
	InUse       []JournalEntry // a running natdoc still holds it: left alone
	Failed      []CleanupFailure
	BadLines    int
}

// CleanupFailure is an entry that could not be removed; it stays in the
// journal.
type CleanupFailure struct {
	Entry JournalEntry
	Err   string
}

// Cleanup removes the mappings in the journal that match keep (nil: all),
// after checking each is still natdoc's. Entries of a natdoc process that
// still runs are left to it.
func Cleanup(ctx context.Context, opt Options, j *Journal, match func(JournalEntry) bool) (*CleanupResult, error) {
	pending, bad, err := j.Pending()
	if err != nil {
		return nil, err
	}
	res := &CleanupResult{JournalPath: j.Path(), BadLines: bad}
	hc := opt.httpClient()
	gateways := map[string]*Gateway{} // location → loaded once
	claimed := claimedPorts(pending)
	for _, e := range pending {
		if match != nil && !match(e) {
			continue
		}
		res.Pending++
		if e.PID != 0 && processAlive(e.PID) && e.PID != ownPID() {
			res.InUse = append(res.InUse, e)
			continue
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		gone, err := releaseEntry(ctx, &opt, hc, gateways, claimed, e)
		switch {
		case errors.Is(err, errNotOurs):
			res.NotOurs = append(res.NotOurs, e)
			j.recordDone(e.ID)
		case err != nil:
			res.Failed = append(res.Failed, CleanupFailure{Entry: e, Err: err.Error()})
		case gone:
			res.AlreadyGone = append(res.AlreadyGone, e)
			j.recordDone(e.ID)
		default:
			res.Removed = append(res.Removed, e)
			j.recordDone(e.ID)
		}
	}
	if len(res.Failed) == 0 && len(res.InUse) == 0 {
		j.Compact()
	}
	return res, nil
}

// releaseEntry removes one journaled mapping; gone reports it was no
// longer there.
func releaseEntry(ctx context.Context, opt *Options, hc *http.Client, gateways map[string]*Gateway, claimed map[string]bool, e JournalEntry) (gone bool, err error) {
	switch e.Via {
	case "upnp":
		g, ok := gateways[e.Location]
		if !ok {
			loaded := loadGatewayService(ctx, hc, e.Location, e.Service)
			g = &loaded
			gateways[e.Location] = g
		}
		if !g.Usable() {
			return false, fmt.Errorf("upnp: IGD at %s: %s", e.Location, g.Err)
		}
		client, perr := netip.ParseAddr(e.InternalClient)
		if perr != nil {
			return false, fmt.Errorf("journal: internal client %q: %w", e.InternalClient, perr)
		}
		if e.AnyPort {
			return releasePicked(ctx, g, client, claimed, e)
		}
		before, err := readBack(ctx, g.wan, e.Proto, e.ExternalPort)
		if err != nil {
			return false, err
		}
		if before == nil {
			return true, nil
		}
		err = releaseUPnP(ctx, g.wan, e.Proto, e.ExternalPort, client)
		if errors.Is(err, errAlreadyGone) {
			return true, nil
		}
		return false, err
	case "nat-pmp":
		gw, perr := netip.ParseAddr(e.Gateway)
		if perr != nil {
			return false, fmt.Errorf("journal: gateway %q: %w", e.Gateway, perr)
		}
		// NAT-PMP keys mappings by our address and internal port, so
		// this can only remove our own (RFC 6886 §3.4).
		return false, releaseNATPMP(opt.Env, gw, e.Proto, e.InternalPort)
	case "pcp":
		gw, err1 := netip.ParseAddr(e.Gateway)
		client, err2 := netip.ParseAddr(e.InternalClient)
		nb, err3 := hex.DecodeString(e.Nonce)
		if err := errors.Join(err1, err2, err3); err != nil || len(nb) != 12 {
			return false, fmt.Errorf("journal: bad PCP entry %s", e.ID)
		}
		return false, releasePCP(ctx, opt, gw, client, [12]byte(nb), e.Proto, e.InternalPort)
	}
	return false, fmt.Errorf("journal: unknown protocol %q", e.Via)
}

// claimedPorts are the external ports pending UPnP entries name
// ("UDP/10000"): a mapping whose port the router chose is looked for
// among the others.
func claimedPorts(pending []JournalEntry) map[string]bool {
	out := map[string]bool{}
	for _, e := range pending {
		if e.Via == "upnp" && !e.AnyPort {
			out[fmt.Sprintf("%s/%d", e.Proto, e.ExternalPort)] = true
		}
	}
	return out
}

// releasePicked removes a mapping whose external port the router chose
// and a crash kept from the journal: natdoc's mapping to the same internal
// client and port whose external port no other entry names.
func releasePicked(ctx context.Context, g *Gateway, client netip.Addr, claimed map[string]bool, e JournalEntry) (gone bool, err error) {
	table, err := List(ctx, g)
	if err != nil {
		return false, err
	}
	gone = true
	for _, t := range table {
		if !t.Mine(client) || t.InternalPort != e.InternalPort || t.Proto != e.Proto || claimed[fmt.Sprintf("%s/%d", t.Proto, t.ExternalPort)] {
			continue
		}
		if err := releaseUPnP(ctx, g.wan, t.Proto, t.ExternalPort, client); err != nil && !errors.Is(err, errAlreadyGone) {
			return false, err
		}
		gone = false
	}
	return gone, nil
}

// loadGatewayService loads the IGD at location and selects the service
// the journal names (the one the mapping was made with).
func loadGatewayService(ctx context.Context, hc *http.Client, location, service string) Gateway {
	g := loadGateway(ctx, hc, SSDPReply{Location: location})
	if !g.Usable() || service == "" {
		return g
	}
	loc, _ := url.Parse(g.Location)
	root, err := fetchRootDevice(ctx, hc, loc)
	if err != nil {
		return g
	}
	for _, w := range wanServices(root, loc, hc) {
		if w.GetServiceClient().Service.ServiceType == service {
			g.wan, g.Service = w, shortService(service)
			break
		}
	}
	return g
}
