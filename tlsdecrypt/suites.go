package tlsdecrypt

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
)

// cipherKind is how a suite protects records.
type cipherKind uint8

const (
	cipherGCM cipherKind = iota + 1
	cipherChaCha
	cipherCBC
)

// suite is what decryption needs to know of a cipher suite: the record
// protection, key sizes, the MAC of CBC suites and the PRF/HKDF hash.
type suite struct {
	id     uint16
	name   string
	kind   cipherKind
	keyLen int
	mac    func() hash.Hash // CBC only
	prf    func() hash.Hash
	rsaKex bool // RSA key exchange (TLS 1.0-1.2): the pre-master is in ClientKeyExchange
	tls13  bool
}

var (
	sha1New   = sha1.New
	sha256New = sha256.New
	sha384New = sha512.New384
)

// suites lists the IANA cipher suites natdoc decrypts: every TLS 1.3
// suite, and the TLS 1.0-1.2 RSA, DHE and ECDHE suites with AES-GCM,
// ChaCha20-Poly1305 or AES-CBC that SIP servers and phones negotiate.
var suites = map[uint16]*suite{}

func init() {
	for _, s := range []suite{
		{0x1301, "TLS_AES_128_GCM_SHA256", cipherGCM, 16, nil, sha256New, false, true},
		{0x1302, "TLS_AES_256_GCM_SHA384", cipherGCM, 32, nil, sha384New, false, true},
		{0x1303, "TLS_CHACHA20_POLY1305_SHA256", cipherChaCha, 32, nil, sha256New, false, true},
		{0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA", cipherCBC, 16, sha1New, sha256New, true, false},
		{0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA", cipherCBC, 32, sha1New, sha256New, true, false},
		{0x003c, "TLS_RSA_WITH_AES_128_CBC_SHA256", cipherCBC, 16, sha256New, sha256New, true, false},
		{0x003d, "TLS_RSA_WITH_AES_256_CBC_SHA256", cipherCBC, 32, sha256New, sha256New, true, false},
		{0x009c, "TLS_RSA_WITH_AES_128_GCM_SHA256", cipherGCM, 16, nil, sha256New, true, false},
		{0x009d, "TLS_RSA_WITH_AES_256_GCM_SHA384", cipherGCM, 32, nil, sha384New, true, false},
		{0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", cipherCBC, 16, sha1New, sha256New, false, false},
		{0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", cipherCBC, 32, sha1New, sha256New, false, false},
		{0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", cipherCBC, 16, sha256New, sha256New, false, false},
		{0x006b, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", cipherCBC, 32, sha256New, sha256New, false, false},
		{0x009e, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", cipherGCM, 16, nil, sha256New, false, false},
		{0x009f, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", cipherGCM, 32, nil, sha384New, false, false},
		{0xccaa, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", cipherChaCha, 32, nil, sha256New, false, false},
		{0xc009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", cipherCBC, 16, sha1New, sha256New, false, false},
		{0xc00a, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", cipherCBC, 32, sha1New, sha256New, false, false},
		{0xc013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", cipherCBC, 16, sha1New, sha256New, false, false},
		{0xc014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", cipherCBC, 32, sha1New, sha256New, false, false},
		{0xc023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", cipherCBC, 16, sha256New, sha256New, false, false},
		{0xc024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", cipherCBC, 32, sha384New, sha384New, false, false},
		{0xc027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", cipherCBC, 16, sha256New, sha256New, false, false},
		{0xc028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", cipherCBC, 32, sha384New, sha384New, false, false},
		{0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", cipherGCM, 16, nil, sha256New, false, false},
		{0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", cipherGCM, 32, nil, sha384New, false, false},
		{0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", cipherGCM, 16, nil, sha256New, false, false},
		{0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", cipherGCM, 32, nil, sha384New, false, false},
		{0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", cipherChaCha, 32, nil, sha256New, false, false},
		{0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", cipherChaCha, 32, nil, sha256New, false, false},
	} {
		s := s
		suites[s.id] = &s
	}
}

// suiteName names a suite, known or not.
func suiteName(id uint16) string {
	if s := suites[id]; s != nil {
		return s.name
	}
	return fmt.Sprintf("0x%04X", id)
}

// legacyVersion: TLS 1.0 (0x0301) and TLS 1.1 (0x0302), whose PRF is
// MD5 and SHA-1 together and whose only suites here are AES-CBC with
// HMAC-SHA1 (RFC 2246, RFC 4346).
func legacyVersion(v uint16) bool { return v == 0x0301 || v == 0x0302 }

// legacySuite: the suite exists in TLS 1.0 and 1.1 (AES-CBC, HMAC-SHA1,
// RFC 3268); GCM, ChaCha20 and the SHA-256/384 suites are TLS 1.2's.
func (s *suite) legacySuite() bool {
	return !s.tls13 && s.kind == cipherCBC && s.mac().Size() == sha1.Size
}

// prf10 is the TLS 1.0 and 1.1 PRF (RFC 2246 §5): P_MD5 over the first
// half of the secret XOR P_SHA1 over the second half (the halves share
// the middle byte of an odd-length secret).
func prf10(secret []byte, label string, seed []byte, n int) []byte {
	half := (len(secret) + 1) / 2
	out := prf12(md5.New, secret[:half], label, seed, n)
	sha := prf12(sha1.New, secret[len(secret)-half:], label, seed, n)
	for i := range out {
		out[i] ^= sha[i]
	}
	return out
}

// prf12 is the TLS 1.2 PRF (RFC 5246 §5): P_hash(secret, label + seed).
func prf12(h func() hash.Hash, secret []byte, label string, seed []byte, n int) []byte {
	labelSeed := append([]byte(label), seed...)
	out := make([]byte, 0, n)
	mac := newHMAC(h, secret)
	a := labelSeed
	for len(out) < n {
		mac.Reset()
		mac.Write(a)
		a = mac.Sum(nil)
		mac.Reset()
		mac.Write(a)
		mac.Write(labelSeed)
		out = mac.Sum(out)
	}
	return out[:n]
}
