package capture

import (
	"testing"

	"github.com/pion/rtcp"
)

// FuzzRTCP: any datagram read as RTCP is reports or an anomaly, never a
// panic, and what it leaves summarises.
func FuzzRTCP(f *testing.F) {
	sr, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.SenderReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: 2, TotalLost: 3}}}})
	rr, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: 3, Reports: []rtcp.ReceptionReport{{SSRC: 1}}}})
	xr, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.ExtendedReport{Reports: []rtcp.ReportBlock{&rtcp.VoIPMetricsReportBlock{SSRC: 1}}}})
	f.Add(sr)                               // a sender report with one block
	f.Add(append(rr, xr...))                // a compound RR and XR
	f.Add([]byte{0x80, 200, 0, 0xff})       // a length past the datagram
	f.Add([]byte{0x81, 201, 0, 1, 0, 0, 0}) // cut inside the header
	// SRTCP, reduced-size, with a 1-byte MKI (Teams)
	f.Add([]byte{0x80, 0xc9, 0x00, 0x05, 0x00, 0x00, 0x03, 0xe8, 0x54, 0x45, 0x41, 0x3b, 0x6f, 0x68, 0x15, 0x14,
		0xfa, 0x9c, 0x98, 0xc9, 0x5d, 0x7a, 0x5c, 0xf3, 0x80, 0x00, 0xa1, 0x5e, 0x01, 0xe3, 0xe4, 0xb9, 0x90, 0xe8, 0xe3,
		0xfc, 0xd2, 0xe1, 0x70})
	f.Fuzz(func(t *testing.T, b []byte) {
		s := newState()
		fl := &rtpFlow{Key: flowKey{RTCP: true}}
		s.rtcpPacket(fl, b, 1, 0, 1)
		if fl.rtcp != nil {
			for i := range fl.rtcp.sources {
				_ = receptionSummary(fl, &fl.rtcp.sources[i], &rtpFlow{})
			}
		}
	})
}

// FuzzSDESCrypto: any a=crypto value is a key of the right length or
// refused.
func FuzzSDESCrypto(f *testing.F) {
	f.Add("1 AES_CM_128_HMAC_SHA1_80 inline:D2YmkapsLg7GhQkROWl3wLJxRXuRBhnHYVjq4nsO|2^20") // RFC 4568 form
	f.Add("1 AES_256_CM_HMAC_SHA1_32 inline:R+USwMt3d0q/xyfdSq9aK+vrdTf0x6n6SOcC4E6AZmL5vqEzRofmJm7xWsV9Eg==")
	f.Add("2 AEAD_AES_128_GCM inline:|||")
	f.Add("1 AES_CM_128_HMAC_SHA1_80 inline:D2YmkapsLg7GhQkROWl3wLJxRXuRBhnHYVjq4nsO|2^31|1:1") // with an MKI
	f.Fuzz(func(t *testing.T, v string) {
		k, ok := parseCrypto(v)
		if !ok {
			return
		}
		kl, _ := k.profile.KeyLen()
		sl, _ := k.profile.SaltLen()
		if len(k.key) != kl || len(k.salt) != sl || len(k.mki) > maxMKILength {
			t.Errorf("%q: key %d, salt %d, MKI %d bytes", v, len(k.key), len(k.salt), len(k.mki))
		}
	})
}
