package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/natdoc/natdoc/hep"
	"github.com/natdoc/natdoc/metrics"
	"github.com/natdoc/natdoc/report"
	"github.com/natdoc/natdoc/tlsdecrypt"
	"github.com/spf13/pflag"
)

// hepOutFlags are --hep-out and its options, shared by capture, analyze
// and serve: where natdoc copies the SIP it sees and its verdicts (HOMER).
type hepOutFlags struct {
	Addr      string
	CaptureID uint32
	Password  string
}

func (f *hepOutFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.Addr, "hep-out", "", "send the SIP seen and each call's verdict as HEPv3 to this `HOST:PORT` (HOMER; tcp:HOST:PORT for TCP)")
	fs.Uint32Var(&f.CaptureID, "hep-id", 2026, "capture agent ID in the HEP sent")
	fs.StringVar(&f.Password, "hep-password", "", "capture password (HEP auth key) in the HEP sent")
}

// dial returns the sender, nil when --hep-out is not set.
func (f *hepOutFlags) dial() (*hep.Sender, error) {
	if f.Addr == "" {
		return nil, nil
	}
	network, addr := "udp", f.Addr
	if rest, ok := strings.CutPrefix(f.Addr, "tcp:"); ok {
		network, addr = "tcp", rest
	} else if rest, ok := strings.CutPrefix(f.Addr, "udp:"); ok {
		addr = rest
	}
	s, err := hep.Dial(network, addr, hep.SenderOptions{CaptureID: f.CaptureID, AuthKey: f.Password})
	if err != nil {
		return nil, usageErrorf("--hep-out: %w", err)
	}
	return s, nil
}

// closeHEPOut closes the sender and says on stderr what did not go out.
func closeHEPOut(w io.Writer, s *hep.Sender) {
	if s == nil {
		return
	}
	if sent, failed, last := s.Stats(); failed > 0 {
		fmt.Fprintf(w, "hep-out: %d of %d HEP packets not sent (last error: %v)\n", failed, sent+failed, last)
	}
	_ = s.Close()
}

// tlsKeyFlags are analyze's --tls-keylog and --tls-key.
type tlsKeyFlags struct {
	KeyLogs, RSAKeys []string
}

func (f *tlsKeyFlags) register(fs *pflag.FlagSet) {
	fs.StringSliceVar(&f.KeyLogs, "tls-keylog", nil, "decrypt SIP over TLS with this NSS key log `FILE` (SSLKEYLOGFILE, -keylogfile; repeatable); a pcapng with its keys embedded (editcap --inject-secrets) needs none")
	fs.StringSliceVar(&f.RSAKeys, "tls-key", nil, "decrypt TLS 1.0-1.2 RSA key exchange with this server RSA private key `FILE` (PEM; repeatable)")
}

// load reads the keys, nil when none was given.
func (f *tlsKeyFlags) load() (*tlsdecrypt.Keys, error) {
	if len(f.KeyLogs) == 0 && len(f.RSAKeys) == 0 {
		return nil, nil
	}
	keys := tlsdecrypt.NewKeys()
	for _, name := range f.KeyLogs {
		file, err := os.Open(name)
		if err != nil {
			return nil, usageErrorf("--tls-keylog: %w", err)
		}
		n, err := keys.ReadKeyLog(file)
		file.Close()
		if err != nil {
			return nil, usageErrorf("--tls-keylog %s: %w", name, err)
		}
		if n == 0 {
			return nil, usageErrorf("--tls-keylog %s: no TLS secrets in it", name)
		}
	}
	for _, name := range f.RSAKeys {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, usageErrorf("--tls-key: %w", err)
		}
		if err := keys.ReadRSAKey(data); err != nil {
			return nil, usageErrorf("--tls-key %s: %w", name, err)
		}
	}
	return keys, nil
}

// startMetrics serves /metrics on addr until ctx ends (nil, no-op stop
// when addr is empty).
func startMetrics(ctx context.Context, w io.Writer, addr string) (*metrics.Metrics, func(), error) {
	if addr == "" {
		return nil, func() {}, nil
	}
	m := metrics.New()
	ctx, cancel := context.WithCancel(ctx)
	bound, wait, err := m.Serve(ctx, addr)
	if err != nil {
		cancel()
		return nil, nil, usageErrorf("--metrics: %w", err)
	}
	fmt.Fprintf(w, "metrics on http://%s/metrics\n", bound)
	return m, func() { cancel(); _ = wait() }, nil
}

// observeCapture feeds a capture's events to the metrics (all no-ops on a
// nil *Metrics).
func observeCapture(m *metrics.Metrics, judged func(report.Call)) (onJudged func(report.Call), onSIP func(bool, string, int), onAnomaly func(string)) {
	onJudged = func(c report.Call) {
		m.CallJudged(c)
		judged(c)
	}
	onSIP = func(request bool, method string, status int) {
		if request {
			m.SIPRequest(method)
		} else {
			m.SIPResponse(status)
		}
	}
	return onJudged, onSIP, func(kind string) { m.Rejected(kind, 1) }
}
