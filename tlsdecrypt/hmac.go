package tlsdecrypt

import (
	"crypto/hkdf"
	"crypto/hmac"
	"encoding/binary"
	"hash"
)

func newHMAC(h func() hash.Hash, key []byte) hash.Hash { return hmac.New(h, key) }

// expandLabel is HKDF-Expand-Label (RFC 8446 §7.1) with an empty context,
// the only form the record keys and key updates use.
func expandLabel(h func() hash.Hash, secret []byte, label string, n int) ([]byte, error) {
	full := "tls13 " + label
	info := binary.BigEndian.AppendUint16(nil, uint16(n))
	info = append(info, byte(len(full)))
	info = append(info, full...)
	info = append(info, 0) // empty context
	return hkdf.Expand(h, secret, string(info), n)
}
