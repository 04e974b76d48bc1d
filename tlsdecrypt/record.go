package tlsdecrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"encoding/binary"
	"errors"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"
)

// direction is one side's stream: bytes of an incomplete record or
// handshake message, and the protection of its records once it changed
// cipher spec.
type direction struct {
	buf, hs []byte
	// encrypted: this side's records are protected from now on;
	// protect is nil when the keys are unknown.
	encrypted bool
	protect   *protection
	// next is the TLS 1.2 protection this side takes at its
	// ChangeCipherSpec; both sides' are derived at the first one.
	next *protection
	seq  uint64
	// secret is the TLS 1.3 traffic secret in use, for key updates.
	secret []byte
	// appSecret is the TLS 1.3 application secret, used after Finished.
	appSecret []byte
}

// protection opens the records of one direction under one key.
type protection struct {
	aead cipher.AEAD
	// iv is the TLS 1.2 GCM salt (4 bytes) or the 12-byte IV that
	// ChaCha20-Poly1305 and TLS 1.3 XOR with the sequence number.
	iv            []byte
	explicitNonce bool // TLS 1.2 GCM: 8 nonce bytes lead each record
	tls13         bool
	// CBC suites.
	block  cipher.Block
	mac    hash.Hash
	macLen int
	etm    bool
	// chain is TLS 1.0's implicit IV: the key block's, then the last
	// ciphertext block of the record before (RFC 2246 §6.2.3.2); nil
	// when each record carries its IV (TLS 1.1, 1.2).
	chain []byte
	nonce [12]byte
	ad    [13]byte
	plain []byte
}

var (
	errShort   = errors.New("record too short")
	errAuth    = errors.New("authentication failed")
	errPadding = errors.New("bad padding")
	errNoType  = errors.New("no content type in the inner plaintext")
)

// newAEAD protects records with AES-GCM or ChaCha20-Poly1305.
func newAEAD(kind cipherKind, key, iv []byte, tls13 bool) (*protection, error) {
	p := &protection{iv: iv, tls13: tls13, explicitNonce: kind == cipherGCM && !tls13}
	var err error
	if kind == cipherChaCha {
		p.aead, err = chacha20poly1305.New(key)
	} else {
		var b cipher.Block
		if b, err = aes.NewCipher(key); err == nil {
			p.aead, err = cipher.NewGCM(b)
		}
	}
	return p, err
}

// newCBC protects records with AES-CBC and HMAC (RFC 5246 §6.2.3.2), MAC
// then encrypt, or encrypt then MAC when both sides agreed (RFC 7366).
// iv is TLS 1.0's first implicit IV, empty when records carry their own.
func newCBC(key, macKey []byte, mac func() hash.Hash, etm bool, iv []byte) (*protection, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	m := hmac.New(mac, macKey)
	p := &protection{block: b, mac: m, macLen: m.Size(), etm: etm}
	if len(iv) > 0 {
		p.chain = append([]byte(nil), iv...)
	}
	return p, nil
}

// open authenticates and decrypts one record; it returns the content
// type (the inner one in TLS 1.3) and the plaintext, valid until the next
// call.
func (d *direction) open(header, body []byte) (byte, []byte, error) {
	p := d.protect
	seq := d.seq
	d.seq++
	switch {
	case p.block != nil:
		plain, err := p.openCBC(seq, header, body)
		return header[0], plain, err
	case p.tls13:
		return p.openTLS13(seq, header, body)
	}
	plain, err := p.open12AEAD(seq, header, body)
	return header[0], plain, err
}

// open12AEAD is the TLS 1.2 AEAD record (RFC 5288 §3, RFC 7905 §2).
func (p *protection) open12AEAD(seq uint64, header, body []byte) ([]byte, error) {
	nonce := p.nonce[:]
	if p.explicitNonce {
		if len(body) < 8+p.aead.Overhead() {
			return nil, errShort
		}
		copy(nonce, p.iv[:4])
		copy(nonce[4:], body[:8])
		body = body[8:]
	} else {
		if len(body) < p.aead.Overhead() {
			return nil, errShort
		}
		p.xorNonce(seq)
	}
	binary.BigEndian.PutUint64(p.ad[:8], seq)
	p.ad[8], p.ad[9], p.ad[10] = header[0], header[1], header[2]
	binary.BigEndian.PutUint16(p.ad[11:], uint16(len(body)-p.aead.Overhead()))
	plain, err := p.aead.Open(p.plain[:0], nonce, body, p.ad[:])
	if err != nil {
		return nil, errAuth
	}
	p.plain = plain
	return plain, nil
}

// xorNonce sets the nonce to the IV XOR the padded sequence number (RFC
// 8446 §5.3, RFC 7905 §2).
func (p *protection) xorNonce(seq uint64) {
	copy(p.nonce[:], p.iv)
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], seq)
	for i := range s {
		p.nonce[4+i] ^= s[i]
	}
}

// openTLS13 opens a TLS 1.3 record: the header is the additional data and
// the content type is the last non-zero byte of the plaintext (RFC 8446
// §5.2, §5.4).
func (p *protection) openTLS13(seq uint64, header, body []byte) (byte, []byte, error) {
	if len(body) < p.aead.Overhead()+1 {
		return 0, nil, errShort
	}
	p.xorNonce(seq)
	plain, err := p.aead.Open(p.plain[:0], p.nonce[:], body, header)
	if err != nil {
		return 0, nil, errAuth
	}
	p.plain = plain
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 {
		return 0, nil, errNoType
	}
	return plain[i], plain[:i], nil
}

// openCBC opens a CBC record: the IV (explicit in TLS 1.1 and 1.2,
// chained in TLS 1.0), then the ciphertext, with the MAC inside it
// (MAC-then-encrypt) or after it (encrypt-then-MAC).
func (p *protection) openCBC(seq uint64, header, body []byte) ([]byte, error) {
	bs := p.block.BlockSize()
	ivLen := bs
	if p.chain != nil {
		ivLen = 0
	}
	if p.etm {
		if len(body) < ivLen+bs+p.macLen {
			return nil, errShort
		}
		tag := body[len(body)-p.macLen:]
		body = body[:len(body)-p.macLen]
		if !hmac.Equal(tag, p.recordMAC(seq, header, body)) {
			return nil, errAuth
		}
	}
	if len(body) < ivLen+bs || len(body)%bs != 0 {
		return nil, errShort
	}
	iv := body[:ivLen]
	if p.chain != nil {
		iv = p.chain
	}
	p.plain = append(p.plain[:0], body[ivLen:]...)
	cipher.NewCBCDecrypter(p.block, iv).CryptBlocks(p.plain, p.plain)
	if p.chain != nil {
		copy(p.chain, body[len(body)-bs:])
	}
	pad := int(p.plain[len(p.plain)-1])
	end := len(p.plain) - pad - 1
	if end < 0 || (!p.etm && end < p.macLen) {
		return nil, errPadding
	}
	for _, b := range p.plain[end:] {
		if int(b) != pad {
			return nil, errPadding
		}
	}
	if p.etm {
		return p.plain[:end], nil
	}
	content, tag := p.plain[:end-p.macLen], p.plain[end-p.macLen:end]
	if !hmac.Equal(tag, p.recordMAC(seq, header, content)) {
		return nil, errAuth
	}
	return content, nil
}

// recordMAC is HMAC(seq, type, version, length, data) (RFC 5246 §6.2.3.1).
func (p *protection) recordMAC(seq uint64, header, data []byte) []byte {
	binary.BigEndian.PutUint64(p.ad[:8], seq)
	p.ad[8], p.ad[9], p.ad[10] = header[0], header[1], header[2]
	binary.BigEndian.PutUint16(p.ad[11:], uint16(len(data)))
	p.mac.Reset()
	p.mac.Write(p.ad[:])
	p.mac.Write(data)
	return p.mac.Sum(nil)
}
