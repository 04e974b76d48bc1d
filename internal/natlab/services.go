//go:build linux

package natlab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
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
	igd.Proc = r.Start(t, "miniupnpd", "-f", confPath, "-d", "-P", filepath.Join(dir, "miniupnpd.pid"))
	waitListening(t, r.Host, "tcp", netip.AddrPortFrom(r.LANAddr(), uint16(cfg.HTTPPort)))
	return igd
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
