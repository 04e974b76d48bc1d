package capture

import (
	"bufio"
	"bytes"
	"encoding/binary"

	"github.com/natdoc/natdoc/tlsdecrypt"
)

// A pcapng file can carry the TLS key log of its sessions in Decryption
// Secrets Blocks (pcapng §4.7: `editcap --inject-secrets tls,KEYLOG`, or
// Wireshark saving a capture with its keys), so a capture of SIP over TLS
// is shared as one file. gopacket's NgReader reads such blocks but keeps
// their contents to itself, so the blocks before the first packet, where
// editcap writes them, are read here by looking ahead in the reader's
// buffer before any packet is read. A block after the first packet is
// not seen: give its keys with --tls-keylog.

const (
	ngBlockSectionHeader     = 0x0A0D0D0A
	ngBlockPacket            = 0x00000002 // obsolete Packet Block
	ngBlockSimplePacket      = 0x00000003
	ngBlockEnhancedPacket    = 0x00000006
	ngBlockDecryptionSecrets = 0x0000000A
	ngByteOrderMagic         = 0x1A2B3C4D
	ngSecretsTLSKeyLog       = 0x544C534B // "TLSK": an NSS key log
)

// secretsSink takes the TLS key logs a capture file carries.
type secretsSink interface {
	tlsKeyLog(keylog []byte)
}

// leadingSecrets returns the TLS key logs of the Decryption Secrets
// Blocks that come before the first packet of the pcapng stream in br,
// without consuming anything. It stops at the first packet, at a block
// it cannot frame (NgReader reports that when it gets there), or when the
// blocks before the first packet do not fit in br's buffer.
func leadingSecrets(br *bufio.Reader) [][]byte {
	var keylogs [][]byte
	var order binary.ByteOrder = binary.LittleEndian
	for off := 0; ; {
		h, err := br.Peek(off + 12)
		if err != nil {
			return keylogs
		}
		h = h[off:]
		if binary.BigEndian.Uint32(h) == ngBlockSectionHeader {
			order = binary.ByteOrder(binary.LittleEndian)
			if binary.BigEndian.Uint32(h[8:]) == ngByteOrderMagic {
				order = binary.BigEndian
			}
		}
		typ, length := order.Uint32(h), int(order.Uint32(h[4:]))
		if length < 12 || length%4 != 0 || typ == ngBlockEnhancedPacket || typ == ngBlockSimplePacket || typ == ngBlockPacket {
			return keylogs
		}
		if typ == ngBlockDecryptionSecrets {
			b, err := br.Peek(off + length)
			if err != nil {
				return keylogs
			}
			if keylog, ok := tlsKeyLogOf(b[off+8:off+length-4], order); ok {
				keylogs = append(keylogs, bytes.Clone(keylog))
			}
		}
		off += length
	}
}

// tlsKeyLogOf returns the key log of a Decryption Secrets Block's body
// (secrets type, secrets length, secrets, options), if it holds one.
func tlsKeyLogOf(body []byte, order binary.ByteOrder) ([]byte, bool) {
	if len(body) < 8 || order.Uint32(body) != ngSecretsTLSKeyLog {
		return nil, false
	}
	n := order.Uint32(body[4:])
	if uint64(n) > uint64(len(body)-8) {
		return nil, false
	}
	return body[8 : 8+n], true
}

// addEmbeddedKeys adds the key logs a capture carries to the keys the
// analysis decrypts SIP over TLS with, before any packet is read (Keys is
// read-only once packets flow). A line it cannot read is an anomaly; the
// lines before it are kept.
func (s *state) addEmbeddedKeys(keylogs [][]byte) {
	if s.tlsKeys == nil {
		s.tlsKeys = tlsdecrypt.NewKeys()
		s.tlsKeysEmbeddedOnly = true
	}
	for _, kl := range keylogs {
		n, err := s.tlsKeys.ReadKeyLog(bytes.NewReader(kl))
		s.tlsEmbeddedSecrets += n
		if err != nil {
			s.addAnomaly("malformed-tls-secrets", unknownOffset, 0, "pcapng decryption secrets: "+err.Error(), false)
		}
	}
}
