//go:build linux

package natlab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// serviceStartTimeout bounds how long a daemon may take to open its sockets;
// coturn and miniupnpd need well under a second here.
const serviceStartTimeout = 10 * time.Second

// STUNServer is a running RFC 5780 STUN server.
type STUNServer struct {
	Proc *Proc
	// Primary is the first address and port 3478; Alternate the second
	// address and port 3479 (the OTHER-ADDRESS clients learn).
	Primary, Alternate netip.AddrPort
}

// StartCoturn runs coturn in STUN-only mode on the host's first two
// addresses, which makes it an RFC 5780 server (OTHER-ADDRESS,
// CHANGE-REQUEST, RESPONSE-PORT). With one address it answers plain STUN.
func StartCoturn(t testing.TB, h *Host) *STUNServer {
	t.Helper()
	addrs := h.Addrs()
	if len(addrs) == 0 {
		t.Fatalf("natlab: coturn host %s has no address", h.name)
	}
	dir := t.TempDir()
	args := []string{"-n", "--stun-only", "--no-cli", "--no-tls", "--no-dtls",
		"--listening-port", "3478", "--alt-listening-port", "3479",
		"--log-file", filepath.Join(dir, "turn.log"), "--simple-log", "--no-stdout-log",
		"--pidfile", filepath.Join(dir, "turn.pid")}
	s := &STUNServer{Primary: netip.AddrPortFrom(addrs[0], 3478)}
	// coturn opens the alternate port only when it has two addresses.
	listen := []netip.AddrPort{s.Primary}
	for i, a := range addrs {
		if i == 2 {
			break
		}
		args = append(args, "--listening-ip", a.String())
	}
	if len(addrs) > 1 {
		s.Alternate = netip.AddrPortFrom(addrs[1], 3479)
		listen = append(listen, netip.AddrPortFrom(addrs[0], 3479), netip.AddrPortFrom(addrs[1], 3478), s.Alternate)
	}
	s.Proc = h.Start(t, "turnserver", args...)
	waitListening(t, h, "udp", listen...)
	return s
}

// StartTURN runs coturn as a TURN server (RFC 8656) on h's first address,
// port 3478, relaying from that address on ports 50000-50100, with
// anonymous access (--no-auth): the relay a WebRTC client or softphone
// behind a strict NAT sends its media through.
func StartTURN(t testing.TB, h *Host) netip.AddrPort {
	t.Helper()
	addrs := h.Addrs()
	if len(addrs) == 0 {
		t.Fatalf("natlab: TURN host %s has no address", h.name)
	}
	dir := t.TempDir()
	server := netip.AddrPortFrom(addrs[0], 3478)
	h.Start(t, "turnserver", "-n", "--no-auth", "--no-cli", "--no-tls", "--no-dtls",
		"--listening-ip", addrs[0].String(), "--relay-ip", addrs[0].String(), "--listening-port", "3478",
		"--min-port", "50000", "--max-port", "50100",
		"--log-file", filepath.Join(dir, "turn.log"), "--simple-log", "--no-stdout-log",
		"--pidfile", filepath.Join(dir, "turn.pid"))
	waitListening(t, h, "udp", server)
	return server
}

// waitListening polls `ss` inside h until every address is bound.
func waitListening(t testing.TB, h *Host, proto string, addrs ...netip.AddrPort) {
	t.Helper()
	flag := "-Hlun"
	if proto == "tcp" {
		flag = "-Hltn"
	}
	deadline := time.Now().Add(serviceStartTimeout)
	for {
		out, err := h.Run(context.Background(), "ss", flag)
		missing := ""
		for _, a := range addrs {
			if err != nil || !ssListens(string(out), a) {
				missing = a.String()
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("natlab: nothing listens on %s/%s in %s after %s: %v\n%s", missing, proto, h.name, serviceStartTimeout, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ssListens reports whether `ss -Hl` output shows a socket bound to a, or to
// the wildcard (possibly scoped to an interface, "*%brlan:5000") on its port.
func ssListens(ssOut string, a netip.AddrPort) bool {
	port := fmt.Sprintf(":%d", a.Port())
	for _, line := range strings.Split(ssOut, "\n") {
		fields := strings.Fields(line)
		if len(fields) < 4 {
			continue
		}
		local := fields[3]
		if local == a.String() {
			return true
		}
		if strings.HasSuffix(local, port) && (strings.HasPrefix(local, "*") || strings.HasPrefix(local, "0.0.0.0")) {
			return true
		}
	}
	return false
}

// MiniupnpdConfig configures the router's IGD.
type MiniupnpdConfig struct {
	// STUN is the lab STUN server miniupnpd asks for its external address;
	// it refuses to forward with a WAN in a documentation range otherwise.
	STUN netip.AddrPort
	// Allow lines ("10000-10029 192.168.1.0/24 1024-65535"); when any are
	// given everything else is denied, which caps the number of mappings.
	// Empty allows any port to the router's LAN.
	Allow []string
	// NATPMP enables NAT-PMP and PCP too.
	NATPMP bool
	// SecureMode lets clients map only to their own address (default off so
	// tests can probe conflicts).
	SecureMode bool
	// HTTPPort defaults to 5000.
	HTTPPort int
	// Extra config lines appended verbatim; a "key=value" line replaces
	// the default line of that key (e.g. "ext_perform_stun=no").
	Extra []string
	// Quiet runs miniupnpd as a router does: as a daemon logging only
	// notices. By default it runs with -d, which logs a line per port a
	// NAT-PMP or PCP request walks through its permission rules: with
	// many refused ports that alone takes seconds, longer than a client
	// waits. A quiet daemon's log is not kept.
	Quiet bool
}

// IGD is a running miniupnpd.
type IGD struct {
	Proc *Proc
	// RootURL is the root description URL on the router's LAN address.
	RootURL string
	// LeaseFile lists current mappings as miniupnpd saves them.
	LeaseFile string
	// Table is the nftables table miniupnpd writes its rules to.
	Table string
}

// StartMiniupnpd runs miniupnpd (nftables backend) on the router's LAN side.
// It creates the table and chains miniupnpd expects first: it does not
// create them itself, and Debian's helper script for that is broken here.
func StartMiniupnpd(t testing.TB, r *Router, cfg MiniupnpdConfig) *IGD {
	t.Helper()
	if !cfg.STUN.IsValid() {
		t.Fatalf("natlab: StartMiniupnpd needs the lab STUN server (cfg.STUN)")
	}
	if cfg.HTTPPort == 0 {
		cfg.HTTPPort = 5000
	}
	const table = "miniupnpd"
	if err := r.applyNft(miniupnpdRuleset(table)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	igd := &IGD{LeaseFile: filepath.Join(dir, "leases"), Table: table,
		RootURL: fmt.Sprintf("http://%s:%d/rootDesc.xml", r.LANAddr(), cfg.HTTPPort)}
	conf := miniupnpdConf(r, cfg, igd.LeaseFile, table)
	confPath := filepath.Join(dir, "miniupnpd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	igd.Proc = r.Start(t, "sh", "-c", miniupnpdScript(confPath, filepath.Join(dir, "miniupnpd.pid"), cfg.Quiet))
	waitListening(t, r.Host, "tcp", netip.AddrPortFrom(r.LANAddr(), uint16(cfg.HTTPPort)))
	return igd
}

// miniupnpdScript starts miniupnpd from a shell that stays in the
// foreground, so the Proc's Stop ends it. syslog here has no daemon to
// write to and falls back to /dev/console, at about 2.5 ms a line: in the
// process's own mount namespace (ip netns exec makes one) the console is
// /dev/null. With -d every line also goes to stderr, the Proc's log.
// Quiet runs the daemon (notices only) and waits for it; a TERM to the
// shell is passed on, and a zombie counts as gone (PID 1 here reaps no
// orphans).
func miniupnpdScript(conf, pidFile string, quiet bool) string {
	const console = "mount --bind /dev/null /dev/console || exit 1\n"
	if !quiet {
		return console + "exec miniupnpd -f " + conf + " -d -P " + pidFile
	}
	return console + `P=` + pidFile + `
alive() { pid=$(cat "$P" 2>/dev/null); [ -n "$pid" ] && [ -r "/proc/$pid/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status"; }
stop() { kill "$(cat "$P")" 2>/dev/null; while alive; do sleep 0.05; done; exit 0; }
trap stop TERM INT
miniupnpd -f ` + conf + ` -P "$P" || exit 1
while [ ! -s "$P" ]; do sleep 0.05; done
while alive; do sleep 0.2; done`
}

func miniupnpdRuleset(table string) string {
	return fmt.Sprintf(`table inet %[1]s {
  chain forward {
    type filter hook forward priority 0; policy accept;
    jump miniupnpd
  }
  chain miniupnpd {
  }
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    jump prerouting_miniupnpd
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    jump postrouting_miniupnpd
  }
  chain prerouting_miniupnpd {
  }
  chain postrouting_miniupnpd {
  }
}
`, table)
}

func miniupnpdConf(r *Router, cfg MiniupnpdConfig, leaseFile, table string) string {
	yesNo := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	lines := []string{
		"ext_ifname=wan0",
		"listening_ip=brlan",
		fmt.Sprintf("http_port=%d", cfg.HTTPPort),
		"enable_upnp=yes",
		"enable_natpmp=" + yesNo(cfg.NATPMP),
		"secure_mode=" + yesNo(cfg.SecureMode),
		"system_uptime=yes",
		"lease_file=" + leaseFile,
		"ext_perform_stun=yes",
		"ext_stun_host=" + cfg.STUN.Addr().String(),
		fmt.Sprintf("ext_stun_port=%d", cfg.STUN.Port()),
		"upnp_table_name=" + table,
		"upnp_nat_table_name=" + table,
		"upnp_forward_chain=miniupnpd",
		"upnp_nat_chain=prerouting_miniupnpd",
		"upnp_nat_postrouting_chain=postrouting_miniupnpd",
		"uuid=3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b",
		"friendly_name=natlab router",
	}
	if len(cfg.Allow) == 0 {
		lines = append(lines, fmt.Sprintf("allow 1024-65535 %s 1024-65535", r.LANPrefix()))
	}
	for _, a := range cfg.Allow {
		lines = append(lines, "allow "+a)
	}
	lines = append(lines, "deny 0-65535 0.0.0.0/0 0-65535")
	return strings.Join(overrideKeys(lines, cfg.Extra), "\n") + "\n"
}

// overrideKeys appends extra to lines, replacing a default "key=value"
// line when extra sets the same key: miniupnpd takes the first value of
// some keys (ext_perform_stun=no after =yes is ignored).
func overrideKeys(lines, extra []string) []string {
	for _, e := range extra {
		key, _, isKV := strings.Cut(e, "=")
		replaced := false
		for i, l := range lines {
			if k, _, ok := strings.Cut(l, "="); isKV && ok && k == key {
				lines[i], replaced = e, true
			}
		}
		if !replaced {
			lines = append(lines, e)
		}
	}
	return lines
}

// ServeUDP answers UDP datagrams on addr inside h with answer's reply (nil:
// no reply) until the test ends: the small servers tests need (echo, DNS, a
// scripted SIP peer). answer runs on one goroutine and must not keep req.
func ServeUDP(t testing.TB, h *Host, addr string, answer func(req []byte, from netip.AddrPort) []byte) netip.AddrPort {
	t.Helper()
	c, err := h.ListenUDP("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if resp := answer(buf[:n], from); resp != nil {
				_, _ = c.WriteToUDPAddrPort(resp, from)
			}
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// upnpcEntry matches one mapping line of `upnpc -l`: index, protocol,
// external->client:internal, description and remote host in quotes, lease.
var upnpcEntry = regexp.MustCompile(`^\s*\d+\s+(UDP|TCP)\s+(\d+->[0-9.]+:\d+)\s+'([^']*)'\s+'([^']*)'`)

// Mappings lists the IGD's port mappings as miniupnpc's `upnpc -l` shows
// them from h (a host on the router's LAN), without the index and the
// remaining lease, which change with time: protocol, the mapping,
// description and remote host. It is how a user checks the router's
// table is as before.
func (igd *IGD) Mappings(t testing.TB, h *Host) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// -i: miniupnpd with a WAN in a documentation range reports itself
	// "not connected" (LAB-NOTES); upnpc would refuse to list otherwise.
	out, err := h.Run(ctx, "upnpc", "-i", "-u", igd.RootURL, "-l")
	if err != nil {
		t.Fatalf("natlab: upnpc -l: %v\n%s", err, out)
	}
	var entries []string
	for _, line := range strings.Split(string(out), "\n") {
		if m := upnpcEntry.FindStringSubmatch(line); m != nil {
			entries = append(entries, fmt.Sprintf("%s %s '%s' '%s'", m[1], m[2], m[3], m[4]))
		}
	}
	sort.Strings(entries)
	return entries
}

// AddMapping maps ext to client:internal with miniupnpc's upnpc from h,
// as another program on the LAN would (permanent lease).
func (igd *IGD) AddMapping(t testing.TB, h *Host, client string, ext, internal uint16, proto, desc string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := h.Run(ctx, "upnpc", "-i", "-u", igd.RootURL, "-e", desc, "-a", client, fmt.Sprint(internal), fmt.Sprint(ext), proto)
	if err != nil || !strings.Contains(string(out), "is redirected to internal") {
		t.Fatalf("natlab: upnpc -a %s %d %d %s: %v\n%s", client, internal, ext, proto, err, out)
	}
}
