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

// levelEvery: the level is measured on the packets whose sequence number
// is a multiple of it. A quarter of a call's packets tell silence from
// speech as well as all of them do, for a quarter of the cost.
const levelEvery = 4

// levelMeasured says whether a packet's level is measured.
func levelMeasured(seq uint16) bool { return seq&(levelEvery-1) == 0 }

// levelStep is every how many samples the level is measured: every
// seventh sample of a 20 ms packet (23 of 160) gives the power within
// about a dB and keeps the cost per packet low. Seven is prime to the
// periods of the usual test tones (1 kHz: 8 samples, 2 kHz: 4, 400 Hz:
// 20), which a step of 4 would sample only at their zero crossings.
const levelStep = 7

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
	return codeOfPower(float64(sum) / float64(n) / (32768 * 32768))
}

// levelPower is the linear power (relative to full scale) each level code
// stands for; levelBounds[i] the power above which a level rounds to code
// i+1 or louder. They turn a level into a code by search instead of a
// logarithm per packet, the costliest step of the measurement.
var levelPower, levelBounds = func() (p, b [128]float64) {
	for c := 1; c < 128; c++ {
		p[c] = math.Pow(10, -float64(c-1)/10)
		b[c] = math.Pow(10, -(float64(c-1)+0.5)/10)
	}
	return p, b
}()

// codeOfPower is codeOf(10·log10(power)) without the logarithm.
func codeOfPower(power float64) levelCode {
	// The loudest code whose lower bound the power reaches; 127 below all.
	lo, hi := 1, 127
	for lo < hi {
		mid := (lo + hi) / 2
		if power >= levelBounds[mid] {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return levelCode(lo)
}
