//go:build linux

package natlab

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// KamailioProxy configures a Kamailio SIP proxy whose siptrace module
// copies every SIP message it receives and sends to a HEP collector, as
// production servers copy theirs to HOMER.
type KamailioProxy struct {
	// Listen is the proxy's SIP address (UDP).
	Listen netip.AddrPort
	// HEPTo is where siptrace sends HEP (UDP, or TCP with HEPOverTCP);
	// zero means no tracing.
	HEPTo      netip.AddrPort
	HEPOverTCP bool
	// HEPVersion is siptrace's hep_version: 1, 2 or 3 (default 3).
	HEPVersion int
	// CaptureID is the capture agent ID siptrace stamps (default 1).
	CaptureID int
	// AuthKey, when set, is sent in every HEPv3 packet.
	AuthKey string
}

// kamailioModules is where Debian installs Kamailio's modules.
const kamailioModules = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"

// StartKamailioProxy runs Kamailio in h as a stateful proxy that routes
// every request by its Request-URI (no registrar: phones dial each other's
// address through it), records the route of INVITE dialogs and, with
// HEPTo set, traces all SIP it handles with siptrace in HEP mode
// (trace_mode 1: the core's send and receive events, so every message in
// and out is copied, replies and retransmissions included).
func StartKamailioProxy(t testing.TB, h *Host, cfg KamailioProxy) *Proc {
	t.Helper()
	var b strings.Builder
	// One worker passes replies on in the order they came: with two, a
	// 200 can overtake the 180 sent just before it, and sipp's scripted
	// UAC aborts the call it then reads out of order.
	fmt.Fprintf(&b, "#!KAMAILIO\ndebug=1\nlog_stderror=yes\nchildren=1\nauto_aliases=no\ndns=no\nrev_dns=no\n")
	fmt.Fprintf(&b, "listen=udp:%s\nmpath=%q\n", cfg.Listen, kamailioModules)
	if cfg.HEPOverTCP { // Kamailio sends over TCP only from a TCP listening socket
		fmt.Fprintf(&b, "listen=tcp:%s\n", cfg.Listen)
	}
	for _, m := range []string{"kex", "corex", "tm", "sl", "rr", "pv", "maxfwd", "textops", "siputils"} {
		fmt.Fprintf(&b, "loadmodule \"%s.so\"\n", m)
	}
	if cfg.HEPTo.IsValid() {
		b.WriteString(cfg.Siptrace())
	}
	b.WriteString(kamailioProxyRoute)
	return startKamailio(t, h, b.String(), "udp", cfg.Listen)
}

// Siptrace is the configuration that loads siptrace and copies every SIP
// message Kamailio receives and sends to HEPTo as HEP (the fields of cfg
// other than Listen), for any Kamailio configuration.
func (cfg KamailioProxy) Siptrace() string {
	version, captureID := cfg.HEPVersion, cfg.CaptureID
	if version == 0 {
		version = 3
	}
	if captureID == 0 {
		captureID = 1
	}
	var b strings.Builder
	b.WriteString("loadmodule \"siptrace.so\"\n")
	for _, p := range []string{
		`"trace_on", 1`, `"trace_mode", 1`, `"trace_to_database", 0`, `"hep_mode_on", 1`,
		fmt.Sprintf(`"hep_version", %d`, version), fmt.Sprintf(`"hep_capture_id", %d`, captureID),
		fmt.Sprintf(`"duplicate_uri", "sip:%s%s"`, cfg.HEPTo, map[bool]string{true: ";transport=tcp"}[cfg.HEPOverTCP]),
	} {
		fmt.Fprintf(&b, "modparam(\"siptrace\", %s)\n", p)
	}
	if cfg.AuthKey != "" {
		fmt.Fprintf(&b, "modparam(\"siptrace\", \"auth_key\", %q)\n", cfg.AuthKey)
	}
	return b.String()
}

// kamailioProxyRoute relays by Request-URI; in-dialog requests follow the
// recorded route when they carry one (phones that ignore Record-Route,
// like sipp's built-in scenarios, still reach the callee by its URI).
const kamailioProxyRoute = `
request_route {
	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483", "Too Many Hops");
		exit;
	}
	if (has_totag()) {
		loose_route();
		if (is_method("ACK") && !t_check_trans()) {
			forward();
			exit;
		}
		t_relay();
		exit;
	}
	if (is_method("CANCEL")) {
		if (t_check_trans()) {
			t_relay();
		}
		exit;
	}
	if (is_method("INVITE")) {
		record_route();
	}
	t_relay();
}
`

// KamailioCollector runs Kamailio's sipcapture module in h as a HEP
// collector on listen (UDP): the receiving half of HOMER. It parses each
// HEP packet and logs one line per packet, "HEP v=V type=T cid=C src=S:P
// dst=D:P corr=X key=K" (S and D are the IPv4 and the IPv6 chunk, one
// of them empty) and "HEPDATA FIRSTLINE CALLIDLINE" for its payload, so a
// test can read back what a HEP sender delivered.
func KamailioCollector(t testing.TB, h *Host, listen netip.AddrPort) *Proc {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "#!KAMAILIO\ndebug=1\nlog_stderror=yes\nchildren=1\nauto_aliases=no\ndns=no\nrev_dns=no\n")
	fmt.Fprintf(&b, "listen=udp:%s\nmpath=%q\n", listen, kamailioModules)
	for _, m := range []string{"kex", "corex", "sl", "pv", "xlog", "textops", "db_text", "sipcapture"} {
		fmt.Fprintf(&b, "loadmodule \"%s.so\"\n", m)
	}
	// sipcapture binds a database at start even when nothing is stored;
	// an empty db_text directory satisfies it.
	db := fmt.Sprintf(`"db_url", "text://%s"`, t.TempDir())
	for _, p := range []string{db, `"capture_on", 1`, `"hep_capture_on", 1`, `"nonsip_hook", 1`} {
		fmt.Fprintf(&b, "modparam(\"sipcapture\", %s)\n", p)
	}
	b.WriteString(kamailioCollectorRoute)
	return startKamailio(t, h, b.String(), "udp", listen)
}

// kamailioCollectorRoute logs the chunks of every HEP packet, and of its
// payload the first line and the Call-ID line, through Kamailio's own line
// transformations. Nothing goes on to the core: this Kamailio (5.6) fails
// to parse SIP that sipcapture hands back, its own siptrace's included,
// and there is no database in the lab to store into.
const kamailioCollectorRoute = `
event_route[sipcapture:request] {
	xlog("L_ERR", "HEP v=$hep(version) type=$hep(0x00b) cid=$hep(0x00c) src=$hep(0x003)$hep(0x005):$hep(0x007) dst=$hep(0x004)$hep(0x006):$hep(0x008) corr=$hep(0x011) key=$hep(0x00e)\n");
	xlog("L_ERR", "HEPDATA $(hep(0x00f){line.at,0}) $(hep(0x00f){line.sw,Call-ID:})\n");
	return 0;
}
request_route {
	drop;
}
`

// startKamailio writes cfg and runs Kamailio in the foreground, logging
// to its Proc log, until it listens on addr.
func startKamailio(t testing.TB, h *Host, cfg, proto string, addr netip.AddrPort) *Proc {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatalf("natlab: %v", err)
	}
	p := h.Start(t, "kamailio", "-f", path, "-DD", "-E", "-m", "64", "-M", "8", "-Y", dir, "-P", filepath.Join(dir, "kamailio.pid"))
	waitListening(t, h, proto, addr)
	return p
}
