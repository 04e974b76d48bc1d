package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natdoc/natdoc/internal/udptcp"
	"github.com/natdoc/natdoc/relay"
)

// The RFC 4475 and RFC 5118 torture messages (testdata/torture, one file
// each, bytes as the RFCs give them) against a server in fix mode that
// trusts loopback and has nobody registered. Each message meets a fresh
// server, since the RFCs' messages share branches and Call-IDs and would
// otherwise match each other's transactions.

// dropped: no answer, counted as an anomaly.
var dropped []int

// tortureWant is what natdoc answers to each message over UDP: the codes
// the RFC allows for natdoc's role (a registrar and proxy where the
// callees are not registered), or dropped where sipgo cannot parse the
// message (counted as malformed) or it is a response matching nothing.
var tortureWant = map[string][]int{
	// RFC 4475 §3.1.1: valid messages.
	"wsinv":      {481}, // an INVITE with a To tag and no such dialog (RFC 3261 §12.2.2)
	"intmeth":    {501},
	"esc01":      {404},
	"escnull":    {200},
	"esc02":      {501},
	"lwsdisp":    {200},
	"longreq":    {404},
	"dblreq":     {200}, // the REGISTER; the octets after its body are ignored
	"semiuri":    {200},
	"transports": {200},
	"mpart01":    {405}, // MESSAGE: parsed, not served here
	"unreason":   dropped,
	"noreason":   dropped,
	// §3.1.2: invalid messages. Those sipgo cannot parse are dropped and
	// counted: without a parsed Via, From, To, Call-ID and CSeq there is
	// no response to build.
	"badinv01":   dropped,
	"clerr":      dropped,
	"ncl":        dropped,
	"scalar02":   dropped,
	"scalarlg":   dropped,
	"quotbal":    dropped,
	"ltgtruri":   dropped,
	"lwsruri":    dropped,
	"lwsstart":   dropped,
	"trws":       dropped,
	"escruri":    {400},
	"baddate":    {404}, // the Date is not used, so it may be ignored
	"regbadct":   {200, 400},
	"badaspec":   dropped,
	"baddn":      dropped,
	"badvers":    {505},
	"mismatch01": {400},
	"mismatch02": {501},
	"bigcode":    dropped,
	// §3.2, §3.3, §3.4: transaction and application layer.
	"badbranch": {200},
	"insuf":     {400},
	"unkscm":    {416},
	"novelsc":   dropped, // sipgo refuses the URI scheme; the RFC wants 416
	"unksm2":    {400},
	"bext01":    {420},
	"invut":     {404},
	"regaut01":  {200}, // trusted by --allow; with --users see TestTortureAuth
	"multi01":   {400},
	"mcl01":     {400},
	"bcast":     dropped,
	"zeromf":    {200, 483}, // OPTIONS answered by natdoc itself, or not forwarded
	"cparam01":  {200},
	"cparam02":  {200},
	"regescrt":  {200},
	"sdp01":     {404, 406},
	"inv2543":   {400}, // sipgo: no From tag, no transaction (see testdata/torture/README.md)
	// RFC 5118 §4: IPv6.
	"ipv6-good":                     {200},
	"ipv6-bad":                      dropped,
	"port-ambiguous":                {200},
	"port-unambiguous":              {200},
	"via-received-param-with-delim": {481},
	"via-received-param-no-delim":   {200},
	"ipv6-in-sdp":                   {404},
	"mult-ip-in-header":             {481},
	"mult-ip-in-sdp":                {404},
	"ipv4-mapped-ipv6":              {404},
	"ipv6-bug-abnf-3-colons":        {200},
	"ipv6-correct-abnf-2-colons":    {200},
}

func tortureFiles(t *testing.T) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob("../testdata/torture/*/*.dat")
	if err != nil || len(paths) != 61 {
		t.Fatalf("torture messages: %d files (%v), want 49 of RFC 4475 and 12 of RFC 5118", len(paths), err)
	}
	out := make(map[string][]byte)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(p), ".dat")] = b
	}
	return out
}

type tortureServer struct {
	srv  *Server
	addr string
}

// startTortureServer runs a server with UDP and TCP listeners on loopback.
func startTortureServer(t *testing.T, cfg Config) *tortureServer {
	t.Helper()
	udp, tcp, err := udptcp.Listen("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rl, err := relay.New(relay.Config{Bind: netip.MustParseAddr("127.0.0.1"), PortMin: 27000, PortMax: 27099})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Fix, cfg.Relay = true, rl
	cfg.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ctx, udp, tcp) }()
	t.Cleanup(func() { cancel(); <-done; rl.Close() })
	ts := &tortureServer{srv: srv, addr: udp.LocalAddr().String()}
	waitFor(t, func() bool { return ts.ping(t) })
	return ts
}

// anomalies counts what the server dropped or refused.
func (ts *tortureServer) anomalies() uint64 {
	c := &ts.srv.Counters
	return c.Malformed.Load() + c.Oversize.Load() + c.Invalid.Load() + c.StrayResponses.Load()
}

// ping: the server answers an ordinary OPTIONS from another address.
func (ts *tortureServer) ping(t *testing.T) bool {
	msg := "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bK-ping" + strconv.FormatInt(time.Now().UnixNano(), 36) +
		"\r\nFrom: <sip:probe@127.0.0.9>;tag=p\r\nTo: <sip:127.0.0.1>\r\nCall-ID: ping-" + strconv.FormatInt(time.Now().UnixNano(), 36) +
		"\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	return sendFrom(t, "127.0.0.9", ts.addr, []byte(msg)) == 200
}

// sendFrom sends one datagram from ip and returns the status code of the
// first answer (0: none within 500 ms).
func sendFrom(t *testing.T, ip, server string, msg []byte) int {
	t.Helper()
	return statusCode(exchangeUDP(t, ip, server, msg))
}

func statusCode(msg string) int {
	line, _, _ := strings.Cut(msg, "\r\n")
	f := strings.Fields(line)
	if len(f) < 2 || !strings.HasPrefix(f[0], "SIP/") {
		return 0
	}
	code, _ := strconv.Atoi(f[1])
	return code
}

func TestTortureUDP(t *testing.T) {
	msgs := tortureFiles(t)
	for name, msg := range msgs {
		want, ok := tortureWant[name]
		if !ok {
			t.Errorf("%s: no expectation", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			ts := startTortureServer(t, Config{})
			before := ts.anomalies()
			got := sendFrom(t, "127.0.0.5", ts.addr, msg)
			checkTortureAnswer(t, ts, want, got, before)
		})
	}
}

func checkTortureAnswer(t *testing.T, ts *tortureServer, want []int, got int, before uint64) {
	t.Helper()
	switch {
	case want == nil && got != 0:
		t.Errorf("answered %d, want no answer", got)
	case want == nil:
		waitFor(t, func() bool { return ts.anomalies() > before })
	case !slices.Contains(want, got):
		t.Errorf("answered %d, want one of %v", got, want)
	}
	if !ts.ping(t) {
		t.Error("the server did not answer the next request")
	}
}

// TestTortureTCP: the same messages, each on a TCP connection of its
// own. Where the framing is broken (Content-Length missing, negative,
// repeated or longer than the body) the connection may also stay
// silent or be closed; either way the server answers the next request.
func TestTortureTCP(t *testing.T) {
	msgs := tortureFiles(t)
	for name, msg := range msgs {
		want := tortureWant[name]
		if w, ok := tortureWantTCP[name]; ok {
			want = w
		}
		t.Run(name, func(t *testing.T) {
			ts := startTortureServer(t, Config{})
			before := ts.anomalies()
			got, closed := sendTCP(t, ts.addr, msg)
			if closed || (got == 0 && framingBroken(name)) {
				if !ts.ping(t) {
					t.Error("the server did not answer the next request")
				}
				return
			}
			checkTortureAnswer(t, ts, want, got, before)
		})
	}
}

// tortureWantTCP differs from tortureWant where natdoc cannot tidy a
// message before sipgo reads it: a TCP read is not a whole message. Over
// TCP the INVITE after dblreq's REGISTER is the stream's next message,
// and sipgo handles the two at once: the INVITE's 404 (its user not yet
// registered) may come back first (seen once in CI, under -race).
var tortureWantTCP = map[string][]int{"wsinv": {400}, "dblreq": {200, 404}}

// framingBroken: messages whose length over a stream cannot be known
// (RFC 4475 clerr, ncl, mcl01) or whose header section never ends
// (baddn: sipgo's stream parser waits for the rest).
func framingBroken(name string) bool {
	return slices.Contains([]string{"clerr", "ncl", "mcl01", "baddn"}, name)
}

// sendTCP writes msg on a new connection and returns the first answer's
// status (0: none within 500 ms) and whether the server closed the
// connection instead.
func sendTCP(t *testing.T, server string, msg []byte) (int, bool) {
	t.Helper()
	c, err := net.DialTimeout("tcp4", server, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(msg); err != nil {
		return 0, true
	}
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	line, err := bufio.NewReader(c).ReadString('\n')
	if errors.Is(err, io.EOF) {
		return 0, true
	}
	return statusCode(line + "\r\n"), false
}

// TestTortureAuth: with digest users, a REGISTER with an authorization
// scheme nobody knows is challenged (RFC 4475 regaut01).
func TestTortureAuth(t *testing.T) {
	msg := tortureFiles(t)["regaut01"]
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Users: map[string]string{"j.user": "secret"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ctx, udp, nil) }()
	defer func() { cancel(); <-done }()
	var got int
	waitFor(t, func() bool { got = sendFrom(t, "127.0.0.5", udp.LocalAddr().String(), msg); return got != 0 })
	if got != 401 {
		t.Errorf("answered %d, want 401", got)
	}
}
