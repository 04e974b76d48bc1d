package main

import (
	"fmt"
	"strconv"
	"strings"
)

// parsePortRange reads "LO-HI" or one port "P" (as P-P), 1 <= LO <= HI <=
// 65535: the one parser of every port-range flag. Callers add their own
// bounds (a span cap, a floor).
func parsePortRange(s string) (lo, hi uint16, err error) {
	loS, hiS, found := strings.Cut(s, "-")
	if !found {
		hiS = loS
	}
	l, err1 := strconv.ParseUint(strings.TrimSpace(loS), 10, 16)
	h, err2 := strconv.ParseUint(strings.TrimSpace(hiS), 10, 16)
	if err1 != nil || err2 != nil || l == 0 || h < l {
		return 0, 0, fmt.Errorf("%q: want LO-HI with 1 <= LO <= HI <= 65535", s)
	}
	return uint16(l), uint16(h), nil
}
