package tlsdecrypt

import (
	"bufio"
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Keys holds what can open sessions: key log secrets by client random,
// pre-master secrets by the start of their encrypted form, RSA private
// keys. It is read-only once loaded and safe to share.
type Keys struct {
	sessions map[[32]byte]*sessionSecrets
	// premasters maps the first 8 bytes of an RSA-encrypted pre-master
	// secret to the secret (the key log's RSA lines).
	premasters map[[8]byte][]byte
	rsa        []*rsa.PrivateKey
}

// sessionSecrets are the key log lines of one client random.
type sessionSecrets struct {
	master                               []byte // TLS 1.2 CLIENT_RANDOM
	clientHandshake, serverHandshake     []byte // TLS 1.3
	clientApplication, serverApplication []byte
}

// maxKeyLogLine bounds one key log line (the longest real one, a TLS 1.3
// SHA-384 secret, is under 200 bytes).
const maxKeyLogLine = 1024

// NewKeys returns an empty key set.
func NewKeys() *Keys {
	return &Keys{sessions: map[[32]byte]*sessionSecrets{}, premasters: map[[8]byte][]byte{}}
}

// ReadKeyLog adds the secrets of an NSS key log. Comment lines and labels
// it has no use for (EXPORTER_SECRET, early traffic) are skipped; a
// malformed line is an error naming its line number.
func (k *Keys) ReadKeyLog(r io.Reader) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, maxKeyLogLine), maxKeyLogLine)
	n, added := 0, 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		ok, err := k.addLine(line)
		if err != nil {
			return added, fmt.Errorf("key log line %d: %w", n, err)
		}
		if ok {
			added++
		}
	}
	if err := sc.Err(); err != nil {
		return added, fmt.Errorf("key log line %d: %w", n+1, err)
	}
	return added, nil
}

func (k *Keys) addLine(line string) (bool, error) {
	f := strings.Fields(line)
	if len(f) != 3 {
		return false, errors.New("want LABEL CLIENT_RANDOM SECRET")
	}
	id, err := hex.DecodeString(f[1])
	if err != nil {
		return false, fmt.Errorf("%s: %w", f[0], err)
	}
	secret, err := hex.DecodeString(f[2])
	if err != nil || len(secret) == 0 || len(secret) > 64 {
		return false, fmt.Errorf("%s: secret is not 1 to 64 bytes of hex", f[0])
	}
	if f[0] == "RSA" {
		if len(id) != 8 || len(secret) != 48 {
			return false, errors.New("RSA: want 8 bytes of encrypted pre-master and a 48-byte pre-master secret")
		}
		k.premasters[[8]byte(id)] = secret
		return true, nil
	}
	if len(id) != 32 {
		return false, fmt.Errorf("%s: client random is %d bytes, want 32", f[0], len(id))
	}
	s := k.sessions[[32]byte(id)]
	if s == nil {
		s = &sessionSecrets{}
	}
	switch f[0] {
	case "CLIENT_RANDOM":
		if len(secret) != 48 {
			return false, fmt.Errorf("CLIENT_RANDOM: master secret is %d bytes, want 48", len(secret))
		}
		s.master = secret
	case "CLIENT_HANDSHAKE_TRAFFIC_SECRET":
		s.clientHandshake = secret
	case "SERVER_HANDSHAKE_TRAFFIC_SECRET":
		s.serverHandshake = secret
	case "CLIENT_TRAFFIC_SECRET_0":
		s.clientApplication = secret
	case "SERVER_TRAFFIC_SECRET_0":
		s.serverApplication = secret
	default:
		return false, nil
	}
	k.sessions[[32]byte(id)] = s
	return true, nil
}

// ReadRSAKey adds an RSA private key in PEM (PKCS #1 "RSA PRIVATE KEY" or
// PKCS #8 "PRIVATE KEY"), as Wireshark and sngrep -k take it.
func (k *Keys) ReadRSAKey(data []byte) error {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return errors.New("rsa key: no RSA PRIVATE KEY or PRIVATE KEY block in PEM")
		}
		switch block.Type {
		case "RSA PRIVATE KEY":
			key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
			if err != nil {
				return fmt.Errorf("rsa key: %w", err)
			}
			k.rsa = append(k.rsa, key)
			return nil
		case "PRIVATE KEY":
			key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return fmt.Errorf("rsa key: %w", err)
			}
			rk, ok := key.(*rsa.PrivateKey)
			if !ok {
				return fmt.Errorf("rsa key: the key is %T, not RSA", key)
			}
			k.rsa = append(k.rsa, rk)
			return nil
		}
		if len(bytes.TrimSpace(rest)) == 0 {
			return errors.New("rsa key: no RSA PRIVATE KEY or PRIVATE KEY block in PEM")
		}
	}
}

// Empty reports whether no secret or key was loaded.
func (k *Keys) Empty() bool {
	return k == nil || (len(k.sessions) == 0 && len(k.premasters) == 0 && len(k.rsa) == 0)
}

// Has reports whether the key log names a session by this client random.
func (k *Keys) Has(clientRandom []byte) bool {
	if k == nil || len(clientRandom) != 32 {
		return false
	}
	_, ok := k.sessions[[32]byte(clientRandom)]
	return ok
}
