package capture

import (
	"encoding/base64"
	"net/netip"
	"strconv"
	"strings"

	"github.com/natdoc/natdoc/report"
	"github.com/pion/sdp/v3"
	"github.com/pion/srtp/v3"
)

// SDES-SRTP (RFC 4568) sends the SRTP master keys in the SDP, so where the
// SIP is clear text natdoc can check the media: does every packet
// authenticate with the key its SDP named, and is there audio in it? A
// stream that fails authentication is discarded by its receiver, which
// hears nothing although the packets arrive. Decryption uses pion/srtp,
// the SRTP implementation of the Go WebRTC stack, kept up with its RFCs
// (3711, 7714 for AES-GCM) and fuzzed; keys negotiated by DTLS-SRTP are
// never in the signalling, so those streams stay judged by their headers.
//
// Only a sample is decrypted: one packet in srtpSampleEvery, which the
// decoders copy whole for the analyser (flagSampled). That is enough to
// tell a key that works from one that does not and to hear silence, and
// keeps RTP's path as cheap as before for the other packets.

// srtpSampleEvery: a packet whose sequence number is a multiple of it is
// sampled (a power of two).
const srtpSampleEvery = 16

// sampled says whether the decoders copy an RTP packet for the analyser.
func sampled(seq uint16) bool { return seq&(srtpSampleEvery-1) == 0 }

// cryptoOf lists an m= line's a=crypto values (RFC 4568 §9.1).
func cryptoOf(md *sdp.MediaDescription) []string {
	var out []string
	for _, a := range md.Attributes {
		if a.Key == "crypto" {
			out = append(out, a.Value)
		}
	}
	return out
}

// sdesKey is one a=crypto line's suite and master key and salt.
type sdesKey struct {
	suite     string
	profile   srtp.ProtectionProfile
	key, salt []byte
	// mki is the master key identifier every packet carries before its
	// tag, when the key has one (RFC 4568 §6.1: "|1:1" on Microsoft's).
	mki []byte
}

// sdesProfiles are the crypto suites pion/srtp implements (RFC 4568 §6.2,
// RFC 6188, RFC 7714).
var sdesProfiles = map[string]srtp.ProtectionProfile{
	"AES_CM_128_HMAC_SHA1_80": srtp.ProtectionProfileAes128CmHmacSha1_80,
	"AES_CM_128_HMAC_SHA1_32": srtp.ProtectionProfileAes128CmHmacSha1_32,
	"AES_256_CM_HMAC_SHA1_80": srtp.ProtectionProfileAes256CmHmacSha1_80,
	"AES_256_CM_HMAC_SHA1_32": srtp.ProtectionProfileAes256CmHmacSha1_32,
	"AEAD_AES_128_GCM":        srtp.ProtectionProfileAeadAes128Gcm,
	"AEAD_AES_256_GCM":        srtp.ProtectionProfileAeadAes256Gcm,
}

// parseCrypto reads "TAG SUITE inline:KEY||SALT[|LIFETIME][|MKI:LEN]";
// ok is false for suites pion/srtp lacks, keys of the wrong length and
// MKIs that do not fit their length (RFC 4568 §6.1).
func parseCrypto(v string) (k sdesKey, ok bool) {
	f := strings.Fields(v)
	if len(f) < 3 {
		return k, false
	}
	profile, known := sdesProfiles[f[1]]
	params, isInline := strings.CutPrefix(f[2], "inline:")
	if !known || !isInline {
		return k, false
	}
	parts := strings.Split(params, "|")
	if len(parts) > 3 {
		return k, false
	}
	if last := parts[len(parts)-1]; len(parts) > 1 && strings.Contains(last, ":") {
		if k.mki, ok = parseMKI(last); !ok {
			return k, false
		}
		parts = parts[:len(parts)-1]
	}
	if len(parts) > 2 || (len(parts) == 2 && strings.Contains(parts[1], ":")) {
		return k, false
	}
	raw, err := base64.StdEncoding.DecodeString(parts[0])
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(parts[0]); err != nil {
			return k, false
		}
	}
	keyLen, err1 := profile.KeyLen()
	saltLen, err2 := profile.SaltLen()
	if err1 != nil || err2 != nil || len(raw) != keyLen+saltLen {
		return k, false
	}
	return sdesKey{suite: f[1], profile: profile, key: raw[:keyLen], salt: raw[keyLen:], mki: k.mki}, true
}

// maxMKILength bounds an MKI's length in bytes: RFC 4568 allows 128, SDES
// deployments use 1 to 4.
const maxMKILength = 4

// parseMKI reads "VALUE:LENGTH", the MKI as it is written in each packet:
// VALUE big-endian in LENGTH bytes.
func parseMKI(v string) ([]byte, bool) {
	value, length, _ := strings.Cut(v, ":")
	n, err1 := strconv.Atoi(length)
	x, err2 := strconv.ParseUint(value, 10, 64)
	if err1 != nil || err2 != nil || n < 1 || n > maxMKILength || x>>(8*n) != 0 {
		return nil, false
	}
	mki := make([]byte, n)
	for i := n - 1; i >= 0; i-- {
		mki[i], x = byte(x), x>>8
	}
	return mki, true
}

// srtpCheck decrypts a stream's sampled packets. The key is found by
// trying every key of the call's SDP: an offer may list several, of which
// the answer picks one (RFC 4568 §7.1), and a party behind NAT sends from
// an address no SDP names.
type srtpCheck struct {
	keys          []sdesKey
	ctx           *srtp.Context // the key that authenticated
	suite         string
	checked       uint64
	authenticated uint64
	buf           []byte
}

// newSRTPCheck gathers the keys of the SDP at the stream's addresses and
// of the other SDP of the same call (nil when there is none to try).
func (s *state) newSRTPCheck(f *rtpFlow) *srtpCheck {
	var lines []string
	var call *sipCall
	for _, a := range [2]netip.AddrPort{f.Key.Src, f.Key.Dst} {
		if e, ok := s.rtpmaps[a]; ok {
			lines = append(lines, e.crypto...)
			call = e.call
		}
	}
	if call != nil {
		for a, e := range s.rtpmaps {
			if e.call == call && a != f.Key.Src && a != f.Key.Dst {
				lines = append(lines, e.crypto...)
			}
		}
	}
	c := &srtpCheck{}
	for _, l := range lines {
		if k, ok := parseCrypto(l); ok {
			c.keys = append(c.keys, k)
		}
	}
	if len(c.keys) == 0 {
		return nil
	}
	return c
}

// sample decrypts one sampled packet and measures its audio into q.
func (c *srtpCheck) sample(pkt []byte, q *flowQuality) {
	c.checked++
	if c.ctx != nil {
		if out, err := c.ctx.DecryptRTP(c.buf[:0], pkt, nil); err == nil {
			c.buf = out
			c.authenticated++
			q.addSampledLevel(out)
			return
		}
	}
	for _, k := range c.keys {
		var opts []srtp.ContextOption
		if k.mki != nil {
			opts = append(opts, srtp.MasterKeyIndicator(k.mki))
		}
		ctx, err := srtp.CreateContext(k.key, k.salt, k.profile, opts...)
		if err != nil {
			continue
		}
		if out, err := ctx.DecryptRTP(c.buf[:0], pkt, nil); err == nil {
			c.buf, c.ctx, c.suite = out, ctx, k.suite
			c.authenticated++
			q.addSampledLevel(out)
			return
		}
	}
}

// addSampledLevel counts the level of a decrypted sample (telephone
// events carry no audio).
func (q *flowQuality) addSampledLevel(pkt []byte) {
	pt := pkt[1] & 0x7f
	if !q.isEvent(pt) {
		q.level.sampled = true
		q.level.add(pt, decryptedLevel(pkt))
	}
}

// decryptedLevel measures a decrypted packet with a plain header.
func decryptedLevel(pkt []byte) levelCode {
	if len(pkt) <= 12 || pkt[0]&0x3f != 0 {
		return 0
	}
	return payloadLevel(pkt[1]&0x7f, pkt[12:])
}

// report is the check's entry in the stream's quality.
func (c *srtpCheck) report() *report.SRTPCheck {
	if c == nil || c.checked == 0 {
		return nil
	}
	return &report.SRTPCheck{Suite: c.suite, Checked: c.checked, Authenticated: c.authenticated}
}
