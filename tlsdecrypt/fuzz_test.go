package tlsdecrypt

import (
	"bytes"
	"crypto/tls"
	"testing"
)

// FuzzConn: any byte streams give a status, never a panic, and nothing is
// handed on from a stream without keys.
func FuzzConn(f *testing.F) {
	testCerts(f)
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS12, tls.VersionTLS13} {
		chunks, _ := goSessionF(f, v)
		var client, server []byte
		for _, c := range chunks {
			if c.side == 0 {
				client = append(client, c.data...)
			} else {
				server = append(server, c.data...)
			}
		}
		f.Add(client, server)                                 // a whole real session, sides apart
		f.Add(client[:len(client)/2], server[:len(server)/3]) // cut mid-record
	}
	f.Add([]byte{22, 3, 3, 0xff, 0xff}, []byte{})                // a record over the limit
	f.Add([]byte{22, 3, 3, 0, 4, 1, 0xff, 0xff, 0xff}, []byte{}) // a 16 MB handshake message
	f.Fuzz(func(t *testing.T, client, server []byte) {
		c := NewConn(NewKeys())
		handed := 0
		c.Feed(0, client, func(p []byte) { handed += len(p) })
		c.Feed(1, server, func(p []byte) { handed += len(p) })
		if handed > 0 {
			t.Fatalf("%d bytes handed on without a key", handed)
		}
		_ = c.Status()
	})
}

// FuzzKeyLog: any key log text parses or fails with an error.
func FuzzKeyLog(f *testing.F) {
	f.Add([]byte("CLIENT_RANDOM " + string(bytes.Repeat([]byte("ab"), 32)) + " " + string(bytes.Repeat([]byte("cd"), 48)) + "\n"))
	f.Add([]byte("# comment\nSERVER_TRAFFIC_SECRET_0 00 11\n"))
	f.Add([]byte("RSA 0011223344556677 " + string(bytes.Repeat([]byte("03"), 48))))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = NewKeys().ReadKeyLog(bytes.NewReader(b))
		_ = NewKeys().ReadRSAKey(b)
	})
}
