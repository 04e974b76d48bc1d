package main

import "testing"

func TestParsePortRange(t *testing.T) {
	for _, tc := range []struct {
		in     string
		lo, hi uint16
		ok     bool
	}{
		{"10000-20000", 10000, 20000, true},
		{" 10000 - 10019 ", 10000, 10019, true},
		{"5060", 5060, 5060, true},
		{"1-65535", 1, 65535, true},
		{"0-10", 0, 0, false},
		{"20000-10000", 0, 0, false},
		{"10000-70000", 0, 0, false},
		{"10000-", 0, 0, false},
		{"a-b", 0, 0, false},
		{"", 0, 0, false},
	} {
		lo, hi, err := parsePortRange(tc.in)
		if (err == nil) != tc.ok || lo != tc.lo || hi != tc.hi {
			t.Errorf("%q: %d-%d %v", tc.in, lo, hi, err)
		}
	}
}
