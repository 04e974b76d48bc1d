// Package igd asks the router what it really forwards for SIP and RTP:
// it finds UPnP Internet Gateway Devices (SSDP, or a known root description
// URL), reads their connection status, external address and mapping table,
// adds and removes port mappings over UPnP IGD v1/v2, NAT-PMP (RFC 6886) or
// PCP (RFC 6887), measures how many mappings the router accepts and really
// applies, and proves a mapping with an inbound STUN packet (RFC 5780
// RESPONSE-PORT, diagnose/forward's probe).
//
// Routers refuse mappings for different reasons, and natdoc tells them
// apart (ClassifyRefusal): a full table ends the limit test, a port the
// router's rules refuse does not. Then natdoc finds the ranges the rules
// allow with few requests (seeds spread across 1024-65535, the router's own
// choice where it offers one: IGDv2 AddAnyPortMapping, PCP without
// PREFER_FAILURE, NAT-PMP; a binary search for each end), maps there, and
// says what that means for a SIP server's RTP range. ForwardForServer does
// the same for natdoc serve --upnp and keeps its mappings renewed.
//
// Every mapping it adds is written to an undo journal first and removed from
// it only after the router confirmed the delete, so a crash leaves a record
// that Cleanup replays. It never deletes a mapping it did not make, and
// never asks for a port another mapping holds (a client may overwrite its
// own, so this host's other mappings are left out too).
//
// It does not diagnose the NAT's mapping or filtering behaviour (that is
// diagnose/stunprobe), and does not speak the legacy pre-2015 service types
// or IPv6 firewall control (WANIPv6FirewallControl).
//
// Results are plain structs (Discovery, LimitResult, CleanupResult, ...);
// DiscoveryFindings, LimitFindings, MapFindings, CleanupFindings and
// PendingFinding derive report.Finding values from them with pure
// functions, and Report* fill report.IGDReport. A caller such as
// `natdoc diagnose` needs three calls:
//
//	d, err := igd.Discover(ctx, igd.Options{})      // absence is a result
//	findings := igd.DiscoveryFindings(d, stunPublicIP)
//	section := igd.ReportDiscovery(d)
//
// Every socket (SSDP, HTTP, NAT-PMP, PCP, STUN) comes from Options.Env
// (diagnose/netenv), so tests create them inside a network namespace;
// SSDPAddr points the search at loopback for tests without one.
package igd
