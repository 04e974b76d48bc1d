//go:build linux

package natlab

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// BaresipConfig is one real SIP phone (baresip) for a lab host.
type BaresipConfig struct {
	// User registers at Registrar (the SIP server's address as this
	// phone reaches it).
	User      string
	Registrar netip.AddrPort
	// AutoAnswer answers every incoming call.
	AutoAnswer bool
	// RTPPorts is baresip's media port range (default 10000-10020).
	RTPPorts string
	// Seconds ends baresip after that long (-t); 0 runs until stopped.
	Seconds int
	// Dial calls this URI once registered (-e "/dial URI").
	Dial string
	// Transport, when set ("tcp"), is the transport to the registrar;
	// UDP otherwise.
	Transport string
	// Password, when set, is the account's password (auth_pass): what it
	// answers a server's challenge with.
	Password string
	// Listen, when set, is the address its SIP listens on (an IPv6 one
	// for a phone on an IPv6-only network); the host's address otherwise.
	Listen netip.Addr
}

// Baresip is a running baresip.
type Baresip struct {
	Proc *Proc
	host *Host
}

// baresipConsPort is where baresip's cons module takes commands (UDP, on
// the phone's address).
const baresipConsPort = 5555

// StartBaresip runs baresip on h as a phone without a sound card: a
// 440 Hz tone from ausine (it needs 48 kHz stereo), PCMU only, fixed
// RTP ports, no RTCP mux, what it hears written to a WAV file, and
// rtcpsummary printing its own RTP counts when a call ends. Its SIP port is
// 5060 on the host's address; baresip puts that address in its SDP.
func StartBaresip(t testing.TB, h *Host, cfg BaresipConfig) *Baresip {
	t.Helper()
	if cfg.RTPPorts == "" {
		cfg.RTPPorts = "10000-10020"
	}
	if !cfg.Listen.IsValid() {
		cfg.Listen = h.Addr()
	}
	dir := t.TempDir()
	conf := fmt.Sprintf(`poll_method		epoll
sip_listen		%s
audio_player		aufile,%s
audio_source		ausine,440
audio_alert		aufile,/dev/null
ausrc_srate		48000
auplay_srate		48000
ausrc_channels		2
auplay_channels		2
rtp_ports		%s
rtcp_mux		no
module_path		/usr/lib/baresip/modules
module			g711.so
module			ausine.so
module			aufile.so
module			account.so
module			menu.so
module			rtcpsummary.so
module			cons.so
cons_listen		%s:%d
`, netip.AddrPortFrom(cfg.Listen, 5060), filepath.Join(dir, "heard.wav"), cfg.RTPPorts, h.Addr(), baresipConsPort)
	uri := fmt.Sprintf("sip:%s@%s", cfg.User, cfg.Registrar)
	if cfg.Transport != "" {
		uri += ";transport=" + cfg.Transport
	}
	acct := fmt.Sprintf("<%s>;regint=600;audio_codecs=PCMU", uri)
	if cfg.AutoAnswer {
		acct += ";answermode=auto"
	}
	if cfg.Password != "" {
		acct += ";auth_pass=" + cfg.Password
	}
	for name, body := range map[string]string{"config": conf, "accounts": acct + "\n", "contacts": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"-f", dir}
	if cfg.Seconds > 0 {
		args = append(args, "-t", strconv.Itoa(cfg.Seconds))
	}
	if cfg.Dial != "" {
		args = append(args, "-e", "/dial "+cfg.Dial)
	}
	return &Baresip{Proc: h.Start(t, "baresip", args...), host: h}
}

// Command sends one command line ("/dial sip:bob@...", "/hangup") to the
// phone's cons module.
func (b *Baresip) Command(t testing.TB, cmd string) {
	t.Helper()
	c, err := b.host.DialUDP("udp4", netip.AddrPortFrom(b.host.Addr(), baresipConsPort).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(cmd + "\n")); err != nil {
		t.Fatal(err)
	}
}

// BaresipCall is what baresip's rtcpsummary printed for one ended call:
// RTP packets it received and sent.
type BaresipCall struct {
	Received, Sent uint64
}

// summaryRE reads rtcpsummary's line: PR packets received, PS sent. A call
// on which no RTCP arrived prints "ERROR=No RTCP stats collected" instead.
var summaryRE = regexp.MustCompile(`EX=BareSip;.*?PR=(\d+);PS=(\d+);`)

// Calls returns the counts of every call that ended so far, oldest first.
func (b *Baresip) Calls() []BaresipCall {
	var out []BaresipCall
	for _, m := range summaryRE.FindAllStringSubmatch(b.Proc.Log(), -1) {
		rx, _ := strconv.ParseUint(m[1], 10, 64)
		tx, _ := strconv.ParseUint(m[2], 10, 64)
		out = append(out, BaresipCall{Received: rx, Sent: tx})
	}
	return out
}

// Ended counts the calls that ended, with RTCP counts or without.
func (b *Baresip) Ended() int {
	return strings.Count(b.Proc.Log(), "EX=BareSip")
}

// statusRE reads baresip's call status line, "audio=TX/RX (bit/s)".
var statusRE = regexp.MustCompile(`audio=(\d+)/(\d+) \(bit/s\)`)

// LogLen is how much the phone logged so far: pass it to AudioBothWays to
// look only at what came after.
func (b *Baresip) LogLen() int { return len(b.Proc.Log()) }

// AudioBothWays reports whether the latest call status line logged after
// offset shows audio sent and received (both bit rates above zero).
func (b *Baresip) AudioBothWays(offset int) bool {
	log := b.Proc.Log()
	if offset > len(log) {
		return false
	}
	lines := statusRE.FindAllStringSubmatch(log[offset:], -1)
	if len(lines) == 0 {
		return false
	}
	last := lines[len(lines)-1]
	return last[1] != "0" && last[2] != "0"
}

// HeardRTP reports whether baresip said incoming RTP was established on
// some call ("incoming rtp for 'audio' established").
func (b *Baresip) HeardRTP() bool {
	return strings.Contains(b.Proc.Log(), "incoming rtp for 'audio' established")
}
