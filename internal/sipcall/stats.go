package sipcall

import (
	"strconv"
	"strings"
)

// StatsContentType carries "received=N" in the end-of-call INFO and its
// 200 OK: each side tells the other how many packets it received, so both
// know both directions even when media failed and signalling did not.
const StatsContentType = "application/x-natdoc-rtp-stats"

// maxStatsDigits bounds the count read from the other side.
const maxStatsDigits = 12

// StatsBody is the body telling the other side our received count.
func StatsBody(n uint64) []byte { return []byte("received=" + strconv.FormatUint(n, 10) + "\r\n") }

// ParseStats reads the other side's count; false for anything else.
func ParseStats(b []byte) (int64, bool) {
	v, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "received=")
	if !ok || len(v) > maxStatsDigits {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n >= 0
}
