// Package g711 encodes ITU-T G.711 μ-law audio: the tones natdoc's
// simulated phones send and its generated captures carry, so that both
// hold audio a level meter can tell from silence.
package g711

import "math"

// SampleRate is G.711's sampling rate, in Hz.
const SampleRate = 8000

// ULaw encodes one 16-bit linear sample (G.711 table 2): the magnitude
// plus a bias of 0x84 is cut into 8 segments of 16 steps; the byte is sent
// inverted.
func ULaw(sample int16) byte {
	const bias, clip = 0x84, 32635
	s := int(sample)
	sign := 0
	if s < 0 {
		s, sign = -s, 0x80
	}
	s = min(s, clip) + bias
	exp := 7
	for mask := 0x4000; s&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (s >> (exp + 3)) & 0x0F
	return ^byte(sign | exp<<4 | mant)
}

// ULawTone is n samples of a sine tone of hz with the given peak (of a
// full scale of 32767), μ-law encoded.
func ULawTone(n int, hz, peak float64) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = ULaw(int16(peak * math.Sin(2*math.Pi*hz*float64(i)/SampleRate)))
	}
	return out
}
