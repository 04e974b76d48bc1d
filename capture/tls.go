package capture

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/natdoc/natdoc/report"
	"github.com/natdoc/natdoc/tlsdecrypt"
)

// Findings about SIP over TLS read with keys (analyze --tls-keylog,
// --tls-key).
const (
	IDTLSDecrypted    report.FindingID = "tls-decrypted"
	IDTLSNotDecrypted report.FindingID = "tls-not-decrypted"
)

// maxTLSSessions bounds the TLS sessions remembered for the report; later
// ones are counted only.
const maxTLSSessions = 10_000

// tlsSession is one TLS connection followed with keys: both directions'
// tcpStreams point to it, side 0 being the first to send.
type tlsSession struct {
	conn       *tlsdecrypt.Conn
	addrs      [2]netip.AddrPort // side 0 first
	firstFrame uint64
}

// isClientHello tells a TCP payload that starts a TLS handshake (RFC 8446
// §5.1 record, §4.1.2 ClientHello) and returns its client random.
func isClientHello(b []byte) ([]byte, bool) {
	if len(b) < 43 || b[0] != 22 || b[1] != 3 || b[5] != 1 {
		return nil, false
	}
	return b[11:43], true
}

// tlsStart makes the streams of a TLS connection to decrypt: one on a SIP
// TLS port, or any whose ClientHello the key log names. The reverse
// direction joins the session when its first bytes come.
func (s *state) tlsStart(k tcpKey, pkt *packet) *tcpStream {
	if rev := s.tcp[tcpKey{k.Dst, k.Src}]; rev != nil && rev.tls != nil {
		return &tcpStream{next: pkt.Seq, frame: pkt.Frame, tls: rev.tls, tlsSide: 1 - rev.tlsSide}
	}
	random, hello := isClientHello(pkt.Payload)
	if !hello || (!isTLSPort(pkt.Src.Port()) && !isTLSPort(pkt.Dst.Port()) && !s.tlsKeys.Has(random)) {
		return nil
	}
	ts := &tlsSession{conn: tlsdecrypt.NewConn(s.tlsKeys), addrs: [2]netip.AddrPort{pkt.Src, pkt.Dst}, firstFrame: pkt.Frame}
	if len(s.tlsSessions) < maxTLSSessions {
		s.tlsSessions = append(s.tlsSessions, ts)
	} else {
		s.tlsUnlisted++
	}
	return &tcpStream{next: pkt.Seq, frame: pkt.Frame, tls: ts}
}

// feedTLS decrypts the in-order bytes of a TLS stream and parses the SIP
// they carry as SIP over TCP.
func (s *state) feedTLS(pkt *packet, st *tcpStream, b []byte) {
	s.counts.tls++
	over := false
	st.tls.conn.Feed(st.tlsSide, b, func(plain []byte) {
		if len(st.buf)+len(plain) > maxTCPBuffer {
			over = true
			return
		}
		st.buf = append(st.buf, plain...)
	})
	if over {
		s.anomaly("sip-message-too-large", pkt.Offset, pkt.Frame, "SIP over TLS: more than 64 KiB without a complete message")
		st.buf = st.buf[:0]
		return
	}
	s.drainTCP(pkt, st)
}

// tlsFindings report the TLS sessions followed with keys: which were read,
// and for the others why not (no key, a wrong key, the handshake missing).
func tlsFindings(s *state) []report.Finding {
	var ok []report.Evidence
	byProblem := map[string][]report.Evidence{}
	var kinds []string
	for _, ts := range s.tlsSessions {
		st := ts.conn.Status()
		what := fmt.Sprintf("TLS session %s → %s", ts.addrs[0], ts.addrs[1])
		if st.Problem == "" && st.Decrypting {
			ok = append(ok, report.Evidence{Text: fmt.Sprintf("%s: %s %s, %d records decrypted", what, tlsdecrypt.VersionName(st.Version), st.Suite, st.Decrypted),
				Frames: []uint64{ts.firstFrame}})
			continue
		}
		problem := st.Problem
		if problem == "" {
			problem = "no application data was exchanged after the handshake in the capture"
		}
		kind := problemKind(problem)
		if byProblem[kind] == nil {
			kinds = append(kinds, kind)
		}
		byProblem[kind] = append(byProblem[kind], report.Evidence{Text: what + ": " + problem, Frames: []uint64{ts.firstFrame}})
	}
	var fs []report.Finding
	if len(ok) > 0 {
		fs = append(fs, report.Finding{ID: IDTLSDecrypted, Severity: report.SeverityInfo,
			Title:    fmt.Sprintf("%d SIP over TLS sessions decrypted with %s; their SIP is judged like clear SIP", len(ok), s.keysSource()),
			Evidence: firstEvidence(ok)})
	}
	sort.Strings(kinds)
	for _, kind := range kinds {
		ev := byProblem[kind]
		fs = append(fs, report.Finding{ID: IDTLSNotDecrypted, Severity: report.SeverityWarning,
			Title:    fmt.Sprintf("%d TLS sessions not decrypted: %s", len(ev), ev[0].Text),
			Evidence: firstEvidence(ev),
			Remedy:   remedyTLSKeys})
	}
	if s.tlsUnlisted > 0 && len(fs) > 0 {
		fs[len(fs)-1].Evidence = append(fs[len(fs)-1].Evidence, report.Evidence{Text: fmt.Sprintf("%d more TLS sessions not listed", s.tlsUnlisted)})
	}
	return fs
}

// keysSource says where the keys came from.
func (s *state) keysSource() string {
	switch {
	case s.tlsKeysEmbeddedOnly:
		return "the keys the capture carries (pcapng decryption secrets)"
	case s.tlsEmbeddedSecrets > 0:
		return "the keys given and those the capture carries"
	}
	return "the keys given"
}

// problemKind groups problems that differ only in the session named.
func problemKind(p string) string {
	if i := strings.Index(p, "client random"); i >= 0 {
		return p[:i]
	}
	return p
}

func firstEvidence(ev []report.Evidence) []report.Evidence {
	if len(ev) > maxAnomalyRefs {
		rest := len(ev) - maxAnomalyRefs
		ev = append(ev[:maxAnomalyRefs:maxAnomalyRefs], report.Evidence{Text: fmt.Sprintf("and %d more", rest)})
	}
	return ev
}
