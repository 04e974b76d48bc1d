// Package tlsdecrypt reads TLS 1.0 to 1.3 records from the two byte
// streams of a captured TCP connection and, given the session's secrets,
// returns the application data: SIP over TLS (RFC 3261 §26, port 5061)
// made readable for analysis, as Wireshark and sngrep do.
//
// Secrets come from an NSS key log (the SSLKEYLOGFILE format that
// browsers, Go's crypto/tls KeyLogWriter, OpenSSL's -keylogfile, and
// PJSIP, baresip and Asterisk builds write) or, for TLS 1.0-1.2 sessions
// with RSA key exchange, from the server's RSA private key. Ciphers:
// AES-GCM, ChaCha20-Poly1305 and AES-CBC with HMAC-SHA1/SHA-256/SHA-384
// (TLS 1.2, with or without encrypt-then-MAC and extended master secret),
// AES-CBC with HMAC-SHA1 in TLS 1.0 and 1.1 (their MD5+SHA-1 PRF, and TLS
// 1.0's IV chained from record to record), which PBXs on old TLS stacks
// still negotiate, and the three TLS 1.3 suites, including key updates.
//
// What it does not: SSLv3, RC4 and 3DES suites, DTLS, TLS 1.3 0-RTT data,
// compression, and sessions whose handshake the capture missed (their
// client random, which names the key, is in the ClientHello). Each of those
// is reported as a reason on the connection, never as garbage: a record is
// handed on only after its authentication tag or MAC verified.
//
// Only the record layer, the handshake fields that select keys, and the
// key schedules (the PRFs of RFC 2246 §5 and RFC 5246 §5, HKDF-Expand-Label of RFC
// 8446 §7.1) are written here; every primitive is Go's crypto or
// golang.org/x/crypto.
//
// Hostile input: record lengths are bounded (RFC 8446 §5.2: 2^14 + 256
// bytes of ciphertext) before anything is buffered, handshake messages are
// bounded, and every field is read only after its length was checked.
package tlsdecrypt
