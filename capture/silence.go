package capture

import "math"

// Audio level of G.711 payloads, to tell "I hear nothing" caused by a
// muted microphone or a wrong audio device (the packets flow, carrying
// silence) from the NAT faults natdoc looks for (the packets do not
// arrive). The level of a packet is its mean power in dBov, relative to a
// full-scale square wave (32768 on the 16-bit scale G.711 decodes to).

// Payload types whose level is measured: PCMU and PCMA (RFC 3551 §4.5.14),
// and comfort noise (RFC 3389), whose first payload byte is the noise
// level in -dBov.
const (
	ptPCMU       = 0
	ptPCMA       = 8
	ptCN         = 13
	ptCNReserved = 19 // the comfort-noise type before RFC 3389, still sent
)

// silentDBov: a packet at or below this level is silence. Speech through
// a telephone reaches about -30 to -15 dBov; a quiet room's background
// noise through an open microphone stays near -60 to -50 dBov, and a
// muted microphone sends digital silence (below -70 dBov).
const silentDBov = -55

// levelStep is every how many samples the level is measured: every third
// sample of a 20 ms packet (54 of 160) gives the power within a fraction
// of a dB and keeps the cost per packet low. Three is prime to the periods
// of the usual test tones (1 kHz: 8 samples, 2 kHz: 4, 400 Hz: 20), which
// a step of 4 would sample only at their zero crossings.
const levelStep = 3

// g711Power is the squared linear value of every G.711 byte, µ-law [0]
// and A-law [1], on the 16-bit scale (ITU-T G.711 §3 and §4).
var g711Power = func() (t [2][256]uint32) {
	for i := range 256 {
		u, a := ulawMagnitude(byte(i)), alawMagnitude(byte(i))
		t[0][i], t[1][i] = uint32(u*u), uint32(a*a)
	}
	return t
}()

// ulawMagnitude decodes a µ-law byte to its magnitude: the byte is sent
// inverted; 3 bits of segment and 4 of step, with the bias 0x84 of the
// segment boundaries removed.
func ulawMagnitude(b byte) int {
	u := ^b
	seg, step := int(u>>4)&7, int(u&0x0f)
	return ((step<<3)+0x84)<<seg - 0x84
}

// alawMagnitude decodes an A-law byte to its magnitude on the 16-bit
// scale: even bits are sent inverted (XOR 0x55); segment 0 is linear.
func alawMagnitude(b byte) int {
	a := b ^ 0x55
	seg, step := int(a>>4)&7, int(a&0x0f)
	if seg == 0 {
		return step<<4 + 8
	}
	return (step<<4 + 0x108) << (seg - 1)
}

// levelCode packs a level for an event: 0 means not measured, 1 is 0 dBov
// (or louder) and 127 is -126 dBov or quieter.
type levelCode uint8

func codeOf(dBov float64) levelCode {
	if dBov > 0 {
		dBov = 0
	}
	n := int(math.Round(-dBov))
	return levelCode(1 + min(n, 126))
}

// dBov is the level a code stands for.
func (c levelCode) dBov() float64 { return -float64(c - 1) }

// payloadLevel measures the level of an RTP payload of type pt: the mean
// power of G.711 samples, or the level a comfort-noise packet states. It
// returns 0 for other types and empty payloads.
func payloadLevel(pt uint8, payload []byte) levelCode {
	switch pt {
	case ptCN, ptCNReserved:
		if len(payload) == 0 {
			return 0
		}
		return levelCode(1 + min(int(payload[0]&0x7f), 126))
	case ptPCMU, ptPCMA:
	default:
		return 0
	}
	if len(payload) == 0 {
		return 0
	}
	table := &g711Power[0]
	if pt == ptPCMA {
		table = &g711Power[1]
	}
	var sum uint64
	n := 0
	for i := 0; i < len(payload); i += levelStep {
		sum += uint64(table[payload[i]])
		n++
	}
	if sum == 0 {
		return codeOf(-200)
	}
	return codeOf(10 * math.Log10(float64(sum)/float64(n)/(32768*32768)))
}
