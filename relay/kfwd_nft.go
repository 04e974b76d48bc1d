package relay

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// This file holds the pure half of kernel forwarding: what one stream's
// rules are, the nft text that installs, changes and removes them, and the
// parsing of what nft prints. It runs nothing, so it is table-tested
// without root; kfwd_linux.go runs it.

// kernelSpec is one direction of one stream as the kernel forwards it: a
// packet from party src to the relay's local address (this leg's port) leaves
// from out (the other leg's port) to dst, through device dev toward nexthop.
type kernelSpec struct {
	src, local netip.AddrPort // the match: who sends, to which relay port
	out, dst   netip.AddrPort // the rewrite: from which relay port, to whom
	nexthop    netip.Addr     // dst itself on a link, else the gateway
	dev        string         // egress device
}

// valid: one family throughout (nft cannot translate between IPv4 and
// IPv6), no zones (fwd names the device instead), a device name nft text
// can hold.
func (k kernelSpec) valid() bool {
	v6 := k.v6()
	for _, a := range []netip.Addr{k.src.Addr(), k.local.Addr(), k.out.Addr(), k.dst.Addr(), k.nexthop} {
		if !a.IsValid() || a.Is4In6() || a.Is6() != v6 || a.Zone() != "" {
			return false
		}
	}
	return validDevName(k.dev)
}

func (k kernelSpec) v6() bool { return k.src.Addr().Is6() }

// family is nft's keyword for the spec's addresses.
func (k kernelSpec) family() string {
	if k.v6() {
		return "ip6"
	}
	return "ip"
}

// streamMap is the verdict map of the spec's family.
func (k kernelSpec) streamMap() string {
	if k.v6() {
		return "streams6"
	}
	return "streams"
}

// headerBytes: nft counts bytes of the whole IP packet; the legs count UDP
// payload bytes (IP header without options or extension headers, UDP
// header).
func (k kernelSpec) headerBytes() uint64 {
	if k.v6() {
		return 40 + 8
	}
	return 20 + 8
}

// sameMatch: only the map element's key depends on it.
func (k kernelSpec) sameMatch(o kernelSpec) bool { return k.src == o.src && k.local == o.local }

// sameAction: only the stream chain's rule depends on it.
func (k kernelSpec) sameAction(o kernelSpec) bool {
	return k.out == o.out && k.dst == o.dst && k.nexthop == o.nexthop && k.dev == o.dev
}

// devName: Linux interface names are at most 15 bytes; they come from the
// kernel's own route lookup, but they end up inside nft text, so anything
// beyond this set is refused rather than quoted.
var devName = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,15}$`)

func validDevName(s string) bool { return devName.MatchString(s) }

// nftText builds one nft batch (`nft -f -` runs it as one transaction:
// all of it applies or none).
type nftText struct {
	table string // netdev table name
	b     strings.Builder
}

func (t *nftText) line(format string, a ...any) {
	fmt.Fprintf(&t.b, format, a...)
	t.b.WriteByte('\n')
}

func (t *nftText) String() string { return t.b.String() }
func (t *nftText) empty() bool    { return t.b.Len() == 0 }

// createTable: the table and one stream map per family. A map is keyed by
// the full match so the base chains stay two rules long whatever the
// number of streams (a hash lookup per packet, not a linear walk).
func (t *nftText) createTable() {
	t.line("add table netdev %s", t.table)
	t.line("add map netdev %s streams { type ipv4_addr . inet_service . ipv4_addr . inet_service : verdict ; }", t.table)
	t.line("add map netdev %s streams6 { type ipv6_addr . inet_service . ipv6_addr . inet_service : verdict ; }", t.table)
}

// probeFwd makes the kernel check, at start, that it has nft's fwd
// expression (nf_dup/nft_fwd_netdev): a rule using it is added and removed
// in the same transaction, which fails as a whole where it is missing.
func (t *nftText) probeFwd() {
	t.line("add chain netdev %s probe", t.table)
	t.line(`add rule netdev %s probe ip daddr set 127.0.0.1 fwd ip to 127.0.0.1 device "lo"`, t.table)
	t.line("delete chain netdev %s probe", t.table)
}

// ingressChain hooks device dev: every UDP packet arriving there is looked
// up in its family's stream map; no entry means the normal path (the
// relay's socket in user space).
func (t *nftText) ingressChain(chain, dev string) {
	t.line(`add chain netdev %s %s { type filter hook ingress device "%s" priority 0 ; policy accept ; }`, t.table, chain, dev)
	t.line("add rule netdev %s %s ip saddr . udp sport . ip daddr . udp dport vmap @streams", t.table, chain)
	t.line("add rule netdev %s %s ip6 saddr . udp sport . ip6 daddr . udp dport vmap @streams6", t.table, chain)
}

func streamChain(id uint64) string   { return "s" + strconv.FormatUint(id, 10) }
func streamCounter(id uint64) string { return "c" + strconv.FormatUint(id, 10) }

// streamRule: count, rewrite both ends, and hand the packet to the egress
// device (nft fwd: neighbour output, the IP stack never sees it, so no
// conntrack, no routing, no socket). The fwd address is the neighbour to
// resolve, hence the next hop rather than the destination. nft fixes the
// IP and UDP checksums for each rewrite (the UDP one covers the
// addresses through its pseudo-header).
func (t *nftText) streamRule(id uint64, k kernelSpec) {
	f := k.family()
	t.line(`add rule netdev %s %s counter name "%s" %s saddr set %s udp sport set %d %s daddr set %s udp dport set %d fwd %s to %s device "%s"`,
		t.table, streamChain(id), streamCounter(id), f, k.out.Addr(), k.out.Port(), f, k.dst.Addr(), k.dst.Port(), f, k.nexthop, k.dev)
}

func (t *nftText) element(verb string, id uint64, k kernelSpec) {
	if verb == "add" {
		t.line("add element netdev %s %s { %s . %d . %s . %d : jump %s }", t.table, k.streamMap(),
			k.src.Addr(), k.src.Port(), k.local.Addr(), k.local.Port(), streamChain(id))
		return
	}
	t.line("delete element netdev %s %s { %s . %d . %s . %d }", t.table, k.streamMap(),
		k.src.Addr(), k.src.Port(), k.local.Addr(), k.local.Port())
}

// addStream installs a stream: counter, chain with its rule, then the map
// element that makes packets reach it.
func (t *nftText) addStream(id uint64, k kernelSpec) {
	t.line("add counter netdev %s %s", t.table, streamCounter(id))
	t.line("add chain netdev %s %s", t.table, streamChain(id))
	t.streamRule(id, k)
	t.element("add", id, k)
}

// changeStream moves an installed stream from old to k: a new source
// (re-latch) swaps the map element, a new destination replaces the rule.
// The counter stays: the leg's totals go on.
func (t *nftText) changeStream(id uint64, old, k kernelSpec) {
	if !old.sameAction(k) {
		t.line("flush chain netdev %s %s", t.table, streamChain(id))
		t.streamRule(id, k)
	}
	if !old.sameMatch(k) {
		t.element("delete", id, old)
		t.element("add", id, k)
	}
}

// deleteStream: the element first, so the chain is unreferenced when it
// goes (same transaction).
func (t *nftText) deleteStream(id uint64, k kernelSpec) {
	t.element("delete", id, k)
	t.line("delete chain netdev %s %s", t.table, streamChain(id))
	t.line("delete counter netdev %s %s", t.table, streamCounter(id))
}

// counterValue is one named counter as `nft -j list counters` prints it.
type counterValue struct{ packets, bytes uint64 }

// parseCounters reads `nft -j list counters table netdev T`: stream id →
// counter. Names that are not ours are skipped.
func parseCounters(b []byte) (map[uint64]counterValue, error) {
	var doc struct {
		Nftables []struct {
			Counter *struct {
				Name    string `json:"name"`
				Packets uint64 `json:"packets"`
				Bytes   uint64 `json:"bytes"`
			} `json:"counter"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse nft counters: %w", err)
	}
	out := make(map[uint64]counterValue)
	for _, o := range doc.Nftables {
		if o.Counter == nil || !strings.HasPrefix(o.Counter.Name, "c") {
			continue
		}
		id, err := strconv.ParseUint(o.Counter.Name[1:], 10, 64)
		if err != nil {
			continue
		}
		out[id] = counterValue{packets: o.Counter.Packets, bytes: o.Counter.Bytes}
	}
	return out, nil
}

// tablePrefix names every relay's table; the PID after it says which
// process owns it (a table whose process is gone is stale).
const tablePrefix = "natdoc_relay_"

// parseTables reads `nft -j list tables netdev`: the names of natdoc relay
// tables with the PID each names.
func parseTables(b []byte) (map[string]int, error) {
	var doc struct {
		Nftables []struct {
			Table *struct {
				Family string `json:"family"`
				Name   string `json:"name"`
			} `json:"table"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse nft tables: %w", err)
	}
	out := make(map[string]int)
	for _, o := range doc.Nftables {
		if o.Table == nil || o.Table.Family != "netdev" || !strings.HasPrefix(o.Table.Name, tablePrefix) {
			continue
		}
		pidPart, _, _ := strings.Cut(strings.TrimPrefix(o.Table.Name, tablePrefix), "_")
		pid, err := strconv.Atoi(pidPart)
		if err != nil || pid <= 0 {
			continue
		}
		out[o.Table.Name] = pid
	}
	return out, nil
}

// routeInfo is what the kernel's route lookup says about one destination.
type routeInfo struct {
	dev     string
	gateway netip.Addr // invalid: on-link (or local)
	src     netip.Addr // preferred source address
	local   bool       // the address is this host's own
}

// nexthop is the neighbour a packet for dst is handed to.
func (r routeInfo) nexthop(dst netip.Addr) netip.Addr {
	if r.gateway.IsValid() {
		return r.gateway
	}
	return dst
}

// parseRoute reads `ip -j route get ADDR`.
func parseRoute(b []byte) (routeInfo, error) {
	var routes []struct {
		Type    string `json:"type"`
		Dev     string `json:"dev"`
		Gateway string `json:"gateway"`
		PrefSrc string `json:"prefsrc"`
	}
	if err := json.Unmarshal(b, &routes); err != nil {
		return routeInfo{}, fmt.Errorf("parse ip route get: %w", err)
	}
	if len(routes) == 0 || routes[0].Dev == "" {
		return routeInfo{}, fmt.Errorf("parse ip route get: no route")
	}
	r := routeInfo{dev: routes[0].Dev, local: routes[0].Type == "local"}
	if routes[0].Gateway != "" {
		gw, err := netip.ParseAddr(routes[0].Gateway)
		if err != nil {
			return routeInfo{}, fmt.Errorf("parse ip route get: gateway %q: %w", routes[0].Gateway, err)
		}
		r.gateway = gw
	}
	if routes[0].PrefSrc != "" {
		src, err := netip.ParseAddr(routes[0].PrefSrc)
		if err != nil {
			return routeInfo{}, fmt.Errorf("parse ip route get: prefsrc %q: %w", routes[0].PrefSrc, err)
		}
		r.src = src
	}
	return r, nil
}

// parseAddrDevice reads `ip -j addr show to ADDR`: the interface holding
// the address.
func parseAddrDevice(b []byte) (string, error) {
	var links []struct {
		IfName string `json:"ifname"`
	}
	if err := json.Unmarshal(b, &links); err != nil {
		return "", fmt.Errorf("parse ip addr show: %w", err)
	}
	if len(links) == 0 || !validDevName(links[0].IfName) {
		return "", fmt.Errorf("parse ip addr show: no interface holds the address")
	}
	return links[0].IfName, nil
}
