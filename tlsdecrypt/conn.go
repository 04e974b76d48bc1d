package tlsdecrypt

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// Record content types (RFC 8446 §5.1).
const (
	typeChangeCipherSpec = 20
	typeAlert            = 21
	typeHandshake        = 22
	typeApplicationData  = 23
)

// Handshake message types (RFC 8446 §4, RFC 5246 §7.4).
const (
	hsClientHello       = 1
	hsServerHello       = 2
	hsClientKeyExchange = 16
	hsFinished          = 20
	hsKeyUpdate         = 24
)

// Bounds on what a hostile stream can make a connection hold.
const (
	// maxCiphertext is the largest record body TLS allows (RFC 8446
	// §5.2: 2^14 + 256; RFC 5246 §6.2.3 allows 2^14 + 2048 in TLS 1.2).
	maxCiphertext = 1<<14 + 2048
	// maxHandshakeMessage bounds one handshake message; certificate
	// chains of real servers stay far below it.
	maxHandshakeMessage = 128 << 10
)

// Status says what became of a connection, for the report.
type Status struct {
	// Version is the negotiated version (0x0301 TLS 1.0 to 0x0304 TLS
	// 1.3), 0 before the ServerHello was seen.
	Version uint16
	// Suite is the negotiated cipher suite's IANA name.
	Suite string
	// EncryptThenMAC (RFC 7366) and ExtendedMasterSecret (RFC 7627) were
	// negotiated (TLS 1.2).
	EncryptThenMAC, ExtendedMasterSecret bool
	// ClientRandom (hex) names the session in a key log.
	ClientRandom string
	// Decrypting: keys were found and records verified under them.
	Decrypting bool
	// Problem, when not empty, is why records are not decrypted: the
	// handshake is not in the capture, no key matches, a key that does
	// not open the records, an unsupported version or suite.
	Problem string
	// Records counts records seen; Decrypted those whose plaintext was
	// authenticated and handed on.
	Records, Decrypted uint64
}

// VersionName names a TLS version.
func VersionName(v uint16) string {
	switch v {
	case 0x0304:
		return "TLS 1.3"
	case 0x0303:
		return "TLS 1.2"
	case 0x0302:
		return "TLS 1.1"
	case 0x0301:
		return "TLS 1.0"
	case 0:
		return "TLS"
	}
	return fmt.Sprintf("version 0x%04x", v)
}

// Conn follows one TCP connection's two byte streams. Sides are the
// caller's: 0 and 1, stable for the connection; which is the client is
// learnt from the ClientHello. A Conn is not safe for concurrent use.
type Conn struct {
	keys   *Keys
	side   [2]direction
	client int // side index of the client, -1 until a ClientHello
	status Status
	dead   bool // a problem stops all further work

	clientRandom, serverRandom []byte
	suite                      *suite
	ems, etm                   bool
	// transcript holds the handshake messages up to ClientKeyExchange
	// while an extended master secret may have to be computed from an RSA
	// pre-master (RFC 7627 §4); nil once it cannot be needed.
	transcript []byte
	premaster  []byte
	tls13      bool
}

// NewConn starts following a connection, opened with keys (nil: none).
func NewConn(keys *Keys) *Conn {
	return &Conn{keys: keys, client: -1, transcript: []byte{}}
}

// Status returns what the connection has shown so far.
func (c *Conn) Status() Status { return c.status }

// Feed adds bytes that side sent, in order, and calls out with each piece
// of application data decrypted from them. out's argument is valid only
// during the call.
func (c *Conn) Feed(side int, data []byte, out func([]byte)) {
	if c.dead || side < 0 || side > 1 {
		return
	}
	d := &c.side[side]
	d.buf = append(d.buf, data...)
	pos := 0
	for len(d.buf)-pos >= 5 && !c.dead {
		h := d.buf[pos : pos+5]
		n := int(binary.BigEndian.Uint16(h[3:5]))
		if h[1] != 3 || n > maxCiphertext || h[0] < typeChangeCipherSpec || h[0] > typeApplicationData {
			c.fail(fmt.Sprintf("not a TLS record stream (bytes %x at a record start)", h))
			break
		}
		if len(d.buf)-pos < 5+n {
			break
		}
		c.status.Records++
		c.record(side, d.buf[pos:pos+5], d.buf[pos+5:pos+5+n], out)
		pos += 5 + n
	}
	d.buf = append(d.buf[:0], d.buf[pos:]...)
	if c.dead {
		d.buf = nil
	}
}

// Gap says bytes of the connection are missing from the capture: records
// cannot be found again, so the rest of the session is not read.
func (c *Conn) Gap() {
	c.fail("TCP segments are missing from the capture: the rest of the session cannot be read")
}

// fail records why nothing more can be decrypted.
func (c *Conn) fail(problem string) {
	if c.status.Problem == "" {
		c.status.Problem = problem
	}
	c.status.Decrypting = false
	c.dead = true
	c.transcript = nil
}

// record handles one whole record of a side.
func (c *Conn) record(side int, header, body []byte, out func([]byte)) {
	d := &c.side[side]
	typ := header[0]
	if c.tls13 && typ == typeChangeCipherSpec {
		return // RFC 8446 §5: middlebox compatibility, unprotected
	}
	if d.protect != nil {
		var err error
		typ, body, err = d.open(header, body)
		if err != nil {
			c.fail(fmt.Sprintf("record %d of the %s does not decrypt (%v): the key for client random %s is wrong",
				d.seq, c.sideName(side), err, c.status.ClientRandom))
			return
		}
		c.status.Decrypted++
		c.status.Decrypting = true
	} else if d.encrypted {
		return // keys unknown: already a problem
	}
	switch typ {
	case typeHandshake:
		c.handshakeBytes(side, body)
	case typeChangeCipherSpec:
		c.changeCipherSpec(side)
	case typeApplicationData:
		if d.protect == nil {
			c.fail(fmt.Sprintf("application data before the handshake finished, from the %s", c.sideName(side)))
			return
		}
		out(body)
	}
}

func (c *Conn) sideName(side int) string {
	if side == c.client {
		return "client"
	}
	if c.client < 0 {
		return "first sender"
	}
	return "server"
}

// handshakeBytes reassembles handshake messages, which may span records
// or share one.
func (c *Conn) handshakeBytes(side int, b []byte) {
	d := &c.side[side]
	d.hs = append(d.hs, b...)
	pos := 0
	for len(d.hs)-pos >= 4 && !c.dead {
		n := int(d.hs[pos+1])<<16 | int(d.hs[pos+2])<<8 | int(d.hs[pos+3])
		if n > maxHandshakeMessage {
			c.fail(fmt.Sprintf("handshake message of %d bytes", n))
			break
		}
		if len(d.hs)-pos < 4+n {
			break
		}
		c.handshake(side, d.hs[pos:pos+4+n])
		pos += 4 + n
	}
	if c.dead {
		d.hs = nil
		return
	}
	d.hs = append(d.hs[:0], d.hs[pos:]...)
}

// handshake handles one whole handshake message (header included).
func (c *Conn) handshake(side int, msg []byte) {
	body := msg[4:]
	if c.transcript != nil {
		c.transcript = append(c.transcript, msg...)
	}
	switch msg[0] {
	case hsClientHello:
		c.clientHello(side, body)
	case hsServerHello:
		c.serverHello(side, body)
	case hsClientKeyExchange:
		c.clientKeyExchange(body)
	case hsFinished:
		if c.tls13 {
			c.tls13Finished(side)
		}
	case hsKeyUpdate:
		if c.tls13 {
			c.tls13KeyUpdate(side)
		}
	}
}

func (c *Conn) clientHello(side int, body []byte) {
	if len(body) < 34 {
		c.fail("ClientHello too short")
		return
	}
	if c.client >= 0 {
		return // the second ClientHello after a HelloRetryRequest
	}
	c.client = side
	c.clientRandom = append([]byte(nil), body[2:34]...)
	c.status.ClientRandom = hex.EncodeToString(c.clientRandom)
}

// helloRetryRandom marks a ServerHello that is a HelloRetryRequest (RFC
// 8446 §4.1.3): SHA-256 of "HelloRetryRequest".
var helloRetryRandom = [32]byte{0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C}

func (c *Conn) serverHello(side int, body []byte) {
	if c.client < 0 {
		c.fail("the capture starts after the ClientHello: the session's client random, which names its key, is missing")
		return
	}
	hello, err := parseServerHello(body)
	if err != nil {
		c.fail(err.Error())
		return
	}
	if hello.random == helloRetryRandom {
		return
	}
	c.serverRandom = append([]byte(nil), hello.random[:]...)
	c.status.Version, c.status.Suite = hello.version, suiteName(hello.suite)
	c.suite, c.ems, c.etm = suites[hello.suite], hello.ems, hello.etm
	c.status.EncryptThenMAC, c.status.ExtendedMasterSecret = hello.etm && c.suite != nil && c.suite.kind == cipherCBC, hello.ems
	switch {
	case hello.version < 0x0301 || hello.version > 0x0304:
		c.fail(fmt.Sprintf("%s is not decrypted (TLS 1.0 to 1.3 are)", VersionName(hello.version)))
	case c.suite == nil || c.suite.tls13 != (hello.version == 0x0304) || (legacyVersion(hello.version) && !c.suite.legacySuite()):
		c.fail(fmt.Sprintf("cipher suite %s is not one natdoc decrypts", suiteName(hello.suite)))
	case hello.version == 0x0304:
		c.transcript = nil
		c.startTLS13(side)
	case !c.suite.rsaKex:
		c.transcript = nil
	}
}

// serverHelloFields are the ServerHello fields that select keys.
type serverHelloFields struct {
	version  uint16
	random   [32]byte
	suite    uint16
	ems, etm bool
}

// parseServerHello reads a ServerHello body (RFC 5246 §7.4.1.3, RFC 8446
// §4.1.3): the negotiated version is in supported_versions when present.
func parseServerHello(b []byte) (serverHelloFields, error) {
	var h serverHelloFields
	if len(b) < 35 {
		return h, fmt.Errorf("ServerHello too short")
	}
	h.version = binary.BigEndian.Uint16(b[0:2])
	copy(h.random[:], b[2:34])
	sid := int(b[34])
	rest := b[35:]
	if len(rest) < sid+3 {
		return h, fmt.Errorf("ServerHello too short")
	}
	h.suite = binary.BigEndian.Uint16(rest[sid : sid+2])
	rest = rest[sid+3:] // suite and compression method
	if len(rest) < 2 {
		return h, nil // no extensions
	}
	ext := rest[2:]
	if int(binary.BigEndian.Uint16(rest[0:2])) != len(ext) {
		return h, fmt.Errorf("ServerHello extensions length does not match")
	}
	for len(ext) >= 4 {
		typ, n := binary.BigEndian.Uint16(ext[0:2]), int(binary.BigEndian.Uint16(ext[2:4]))
		if len(ext) < 4+n {
			return h, fmt.Errorf("ServerHello extension 0x%04x truncated", typ)
		}
		v := ext[4 : 4+n]
		switch typ {
		case 43: // supported_versions (RFC 8446 §4.2.1)
			if n == 2 {
				h.version = binary.BigEndian.Uint16(v)
			}
		case 23: // extended_master_secret (RFC 7627)
			h.ems = true
		case 22: // encrypt_then_mac (RFC 7366)
			h.etm = true
		}
		ext = ext[4+n:]
	}
	return h, nil
}
