package tlsdecrypt

import "fmt"

// startTLS13 sets both sides to their handshake traffic keys once the
// ServerHello is seen (RFC 8446 §7.1): every later record but
// ChangeCipherSpec is protected.
func (c *Conn) startTLS13(serverSide int) {
	c.tls13 = true
	var s *sessionSecrets
	if c.keys != nil {
		s = c.keys.sessions[[32]byte(c.clientRandom)]
	}
	if s == nil || s.clientHandshake == nil || s.serverHandshake == nil {
		c.side[0].encrypted, c.side[1].encrypted = true, true
		c.fail(fmt.Sprintf("no key in the key log for client random %s (TLS 1.3 needs its CLIENT_HANDSHAKE_TRAFFIC_SECRET and SERVER_HANDSHAKE_TRAFFIC_SECRET lines)", c.status.ClientRandom))
		return
	}
	client, server := &c.side[c.client], &c.side[serverSide]
	client.appSecret, server.appSecret = s.clientApplication, s.serverApplication
	for _, x := range []struct {
		d      *direction
		secret []byte
	}{{client, s.clientHandshake}, {server, s.serverHandshake}} {
		if err := c.setTLS13Key(x.d, x.secret); err != nil {
			c.fail(err.Error())
			return
		}
	}
}

// setTLS13Key protects a side's records with the key and IV of a traffic
// secret (RFC 8446 §7.3), its sequence number back at zero.
func (c *Conn) setTLS13Key(d *direction, secret []byte) error {
	s := c.suite
	key, err := expandLabel(s.prf, secret, "key", s.keyLen)
	if err != nil {
		return fmt.Errorf("%s key: %w", s.name, err)
	}
	iv, err := expandLabel(s.prf, secret, "iv", 12)
	if err != nil {
		return fmt.Errorf("%s iv: %w", s.name, err)
	}
	p, err := newAEAD(s.kind, key, iv, true)
	if err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	d.protect, d.encrypted, d.seq, d.secret = p, true, 0, secret
	return nil
}

// tls13Finished moves a side from handshake to application keys: its
// Finished is the last record under the handshake secret.
func (c *Conn) tls13Finished(side int) {
	d := &c.side[side]
	if d.appSecret == nil {
		c.fail(fmt.Sprintf("the key log has no %s_TRAFFIC_SECRET_0 for client random %s", map[bool]string{true: "CLIENT", false: "SERVER"}[side == c.client], c.status.ClientRandom))
		return
	}
	secret := d.appSecret
	d.appSecret = nil
	if err := c.setTLS13Key(d, secret); err != nil {
		c.fail(err.Error())
	}
}

// tls13KeyUpdate derives the side's next traffic secret (RFC 8446 §7.2).
func (c *Conn) tls13KeyUpdate(side int) {
	d := &c.side[side]
	next, err := expandLabel(c.suite.prf, d.secret, "traffic upd", c.suite.prf().Size())
	if err == nil {
		err = c.setTLS13Key(d, next)
	}
	if err != nil {
		c.fail(err.Error())
	}
}
