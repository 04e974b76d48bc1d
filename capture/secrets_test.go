package capture

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
)

// ngOrder is a byte order that appends.
type ngOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// ngBlock frames a pcapng block: type, total length, body padded to 32
// bits, total length again.
func ngBlock(order ngOrder, typ uint32, body []byte) []byte {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	n := uint32(12 + len(body))
	b := order.AppendUint32(nil, typ)
	b = order.AppendUint32(b, n)
	b = append(b, body...)
	return order.AppendUint32(b, n)
}

func ngSectionHeader(order ngOrder) []byte {
	body := order.AppendUint32(nil, ngByteOrderMagic)
	body = order.AppendUint16(body, 1)
	body = order.AppendUint16(body, 0)
	body = order.AppendUint64(body, ^uint64(0)) // section length unknown
	return ngBlock(order, ngBlockSectionHeader, body)
}

func ngSecrets(order ngOrder, typ uint32, secrets []byte, claimed int) []byte {
	body := order.AppendUint32(nil, typ)
	body = order.AppendUint32(body, uint32(claimed))
	return ngBlock(order, ngBlockDecryptionSecrets, append(body, secrets...))
}

// pcapngWithSecrets is a little-endian pcapng of one Ethernet frame with a
// TLS key log block before it.
func pcapngWithSecrets(frame []byte) []byte {
	le := binary.LittleEndian
	b := ngSectionHeader(le)
	b = append(b, ngBlock(le, 1, le.AppendUint32(le.AppendUint16(nil, 1), 65535))...)
	keylog := []byte("CLIENT_RANDOM " + string(bytes.Repeat([]byte("ab"), 32)) + " " + string(bytes.Repeat([]byte("cd"), 48)) + "\n")
	b = append(b, ngSecrets(le, ngSecretsTLSKeyLog, keylog, len(keylog))...)
	epb := le.AppendUint32(nil, 0) // interface 0
	epb = le.AppendUint64(epb, 0)  // time stamp
	epb = le.AppendUint32(epb, uint32(len(frame)))
	epb = le.AppendUint32(epb, uint32(len(frame)))
	return append(b, ngBlock(le, ngBlockEnhancedPacket, append(epb, frame...))...)
}

// TestLeadingSecrets: the TLS key logs of the Decryption Secrets Blocks
// before the first packet are read, in either byte order; other secrets,
// a secrets length beyond its block, and blocks after the first packet
// are not; nothing of the stream is consumed.
func TestLeadingSecrets(t *testing.T) {
	keylog := []byte("CLIENT_RANDOM 00 11\n")
	for _, order := range []ngOrder{binary.LittleEndian, binary.BigEndian} {
		idb := ngBlock(order, 1, order.AppendUint32(order.AppendUint16(nil, 1), 65535))
		epb := ngBlock(order, ngBlockEnhancedPacket, make([]byte, 20+60))
		var file []byte
		file = append(file, ngSectionHeader(order)...)
		file = append(file, idb...)
		file = append(file, ngSecrets(order, ngSecretsTLSKeyLog, keylog, len(keylog))...)
		file = append(file, ngSecrets(order, 0x57474B4C, []byte("wireguard"), 9)...) // "WGKL"
		file = append(file, ngSecrets(order, ngSecretsTLSKeyLog, keylog, 4096)...)   // length beyond the block
		file = append(file, epb...)
		file = append(file, ngSecrets(order, ngSecretsTLSKeyLog, []byte("after the first packet\n"), 23)...)
		br := bufio.NewReaderSize(bytes.NewReader(file), 1<<16)
		got := leadingSecrets(br)
		if len(got) != 1 || !bytes.Equal(got[0], keylog) {
			t.Errorf("%v: key logs %q, want one: %q", order, got, keylog)
		}
		if head, _ := br.Peek(4); !slices.Equal(head, file[:4]) {
			t.Errorf("%v: the stream was consumed", order)
		}
	}
	if got := leadingSecrets(bufio.NewReader(bytes.NewReader(pcapngWithSecrets(make([]byte, 60))))); len(got) != 1 {
		t.Errorf("the fuzz seed's key log: %q", got)
	}
}

// TestEmbeddedKeysMalformed: a key log line natdoc cannot read is an
// anomaly; the lines before it are kept.
func TestEmbeddedKeysMalformed(t *testing.T) {
	s := newState()
	s.addEmbeddedKeys([][]byte{[]byte("CLIENT_RANDOM " + string(bytes.Repeat([]byte("ab"), 32)) + " " + string(bytes.Repeat([]byte("cd"), 48)) + "\nCLIENT_RANDOM zz\n")})
	if s.tlsKeys == nil || s.tlsEmbeddedSecrets != 1 || !s.tlsKeysEmbeddedOnly {
		t.Fatalf("keys %v, %d lines read", s.tlsKeys, s.tlsEmbeddedSecrets)
	}
	if r := s.byKind["malformed-tls-secrets"]; r == nil || r.Count != 1 {
		t.Errorf("anomalies %v, want malformed-tls-secrets", s.list())
	}
}
