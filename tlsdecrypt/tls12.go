package tlsdecrypt

import (
	"crypto/aes"
	"crypto/md5"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
)

// clientKeyExchange keeps the RSA-encrypted pre-master secret of an RSA
// key exchange (RFC 5246 §7.4.7.1) opened with a key log RSA line or a
// private key, and closes the transcript an extended master secret hashes.
func (c *Conn) clientKeyExchange(body []byte) {
	if c.suite == nil || !c.suite.rsaKex {
		return
	}
	if c.ems && c.transcript != nil {
		c.transcript = c.sessionHash(c.transcript)
	}
	if len(body) < 2 || int(binary.BigEndian.Uint16(body)) != len(body)-2 {
		return
	}
	enc := body[2:]
	if c.keys == nil {
		return
	}
	if len(enc) >= 8 {
		if pms := c.keys.premasters[[8]byte(enc[:8])]; pms != nil {
			c.premaster = pms
			return
		}
	}
	for _, k := range c.keys.rsa {
		if k.Size() != len(enc) {
			continue
		}
		pms, err := rsa.DecryptPKCS1v15(nil, k, enc)
		if err == nil && len(pms) == 48 {
			c.premaster = pms
			return
		}
	}
}

// sessionHash is the hash of the handshake an extended master secret
// covers (RFC 7627 §3): the PRF hash in TLS 1.2, MD5 and SHA-1 side by
// side before it.
func (c *Conn) sessionHash(transcript []byte) []byte {
	if legacyVersion(c.status.Version) {
		m, s := md5.Sum(transcript), sha1.Sum(transcript)
		return append(m[:], s[:]...)
	}
	h := c.suite.prf()
	h.Write(transcript)
	return h.Sum(nil)
}

// prf is the version's PRF: TLS 1.2's over the suite's hash, or TLS 1.0's.
func (c *Conn) prf(secret []byte, label string, seed []byte, n int) []byte {
	if legacyVersion(c.status.Version) {
		return prf10(secret, label, seed, n)
	}
	return prf12(c.suite.prf, secret, label, seed, n)
}

// changeCipherSpec switches a TLS 1.0-1.2 side to protected records, deriving
// the keys at the first switch.
func (c *Conn) changeCipherSpec(side int) {
	d := &c.side[side]
	if c.suite == nil || c.suite.tls13 {
		c.fail("ChangeCipherSpec before a TLS 1.2 ServerHello")
		return
	}
	d.encrypted, d.seq = true, 0
	if c.side[0].next == nil && c.side[1].next == nil {
		if err := c.deriveTLS12(); err != nil {
			c.fail(err.Error())
			return
		}
	}
	d.protect = d.next
}

// deriveTLS12 computes both sides' record protection (RFC 5246 §6.3); TLS
// 1.0 CBC takes its first IVs from the key block too (RFC 2246 §6.3).
func (c *Conn) deriveTLS12() error {
	master, err := c.masterSecret()
	if err != nil {
		return err
	}
	s := c.suite
	macLen, ivLen := 0, 4
	if s.kind == cipherCBC {
		macLen, ivLen = s.mac().Size(), 0
		if c.status.Version == 0x0301 {
			ivLen = aes.BlockSize
		}
	}
	if s.kind == cipherChaCha {
		ivLen = 12
	}
	seed := append(append([]byte(nil), c.serverRandom...), c.clientRandom...)
	kb := c.prf(master, "key expansion", seed, 2*(macLen+s.keyLen+ivLen))
	take := func(n int) []byte { b := kb[:n:n]; kb = kb[n:]; return b }
	macKeys := [2][]byte{take(macLen), take(macLen)}
	keys := [2][]byte{take(s.keyLen), take(s.keyLen)}
	ivs := [2][]byte{take(ivLen), take(ivLen)}
	for role := 0; role < 2; role++ { // 0 client, 1 server
		var p *protection
		if s.kind == cipherCBC {
			p, err = newCBC(keys[role], macKeys[role], s.mac, c.etm, ivs[role])
		} else {
			p, err = newAEAD(s.kind, keys[role], ivs[role], false)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		side := c.client
		if role == 1 {
			side = 1 - c.client
		}
		c.side[side].next = p
	}
	return nil
}

// masterSecret comes from the key log, or from the pre-master secret of an
// RSA key exchange (RFC 5246 §8.1; RFC 7627 §4 with extended master secret).
func (c *Conn) masterSecret() ([]byte, error) {
	if c.keys != nil {
		if s := c.keys.sessions[[32]byte(c.clientRandom)]; s != nil && s.master != nil {
			return s.master, nil
		}
	}
	if c.premaster != nil {
		if c.ems {
			if len(c.transcript) != len(c.sessionHash(nil)) {
				return nil, fmt.Errorf("extended master secret: the handshake before ClientKeyExchange is not all in the capture")
			}
			return c.prf(c.premaster, "extended master secret", c.transcript, 48), nil
		}
		seed := append(append([]byte(nil), c.clientRandom...), c.serverRandom...)
		return c.prf(c.premaster, "master secret", seed, 48), nil
	}
	why := fmt.Sprintf("no key in the key log for client random %s", c.status.ClientRandom)
	switch {
	case c.suite.rsaKex && c.keys != nil && len(c.keys.rsa) > 0:
		why += ", and no RSA key given opens its pre-master secret (the server's key?)"
	case !c.suite.rsaKex && c.keys != nil && len(c.keys.rsa) > 0:
		why += fmt.Sprintf("; an RSA key cannot open %s (forward secrecy): a key log is needed", c.suite.name)
	}
	return nil, fmt.Errorf("%s", why)
}
