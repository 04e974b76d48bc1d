package capture

import (
	"net/netip"
	"reflect"
	"testing"
)

// TestRepeatsReadOnce: a message resent byte for byte is read from the
// first copy's reading, equal to a fresh parse of it, its body a slice of
// the new copy; a message differing in one byte is read anew, and a call's
// messages leave the cache with it.
func TestRepeatsReadOnce(t *testing.T) {
	for _, tc := range fastSIPSeeds {
		t.Run(tc.name, func(t *testing.T) {
			s := newState()
			c := &sipCall{}
			first, rr, err := s.readDatagram([]byte(tc.msg))
			if err != nil {
				t.Skipf("not a message: %v", err)
			}
			fresh := *first
			// Filing sets these on the message.
			first.Frame, first.Transport, first.Src, first.Body = 7, "UDP", netip.MustParseAddrPort("192.0.2.1:5060"), nil
			first.addresses()
			s.repeats.put(rr, []byte(tc.msg), first, c)
			again := []byte(tc.msg)
			got, rr2, err := s.readDatagram(again)
			if err != nil {
				t.Fatal(err)
			}
			wantHit := !(!tc.plain && len(fresh.Body) > 0) // sipgo's body is a copy: not remembered
			if rr2.hit != wantHit {
				t.Fatalf("read from the cache: %v, want %v", rr2.hit, wantHit)
			}
			if got == first {
				t.Fatal("the repeat shares the first reading, which its call may keep")
			}
			if wantHit {
				fresh.addresses() // a repeat comes with the reading's addresses
			}
			if !reflect.DeepEqual(*got, fresh) || !reflect.DeepEqual(rr2.sdp, rr.sdp) {
				t.Fatalf("repeat read differently:\nfirst  %+v\nrepeat %+v", fresh, *got)
			}
			if off := cap(again) - cap(got.Body); wantHit && len(got.Body) > 0 && &got.Body[0] != &again[off] {
				t.Fatal("the repeat's body is not a slice of its own bytes")
			}
			changed := []byte(tc.msg)
			changed[len(changed)/2] ^= 1
			if _, rr3, _ := s.readDatagram(changed); rr3.hit {
				t.Fatal("a different message was read from the cache")
			}
			s.repeats.forget(map[*sipCall]bool{c: true})
			if _, rr4, _ := s.readDatagram(again); rr4.hit {
				t.Fatal("a message of a call gone was read from the cache")
			}
		})
	}
}

// TestRepeatsSampling: a capture without resent messages makes the cache
// remember one message in sparseEvery; once messages repeat it remembers
// all again.
func TestRepeatsSampling(t *testing.T) {
	r := newRepeats()
	remembered := func(n int) (kept int) {
		for range n {
			if !r.skip() {
				kept++
			}
		}
		return kept
	}
	if kept := remembered(repeatWindow); kept != repeatWindow || !r.sparse {
		t.Fatalf("after %d messages, none repeated: %d remembered, sampling %v; want all, then sampling", repeatWindow, kept, r.sparse)
	}
	if kept := remembered(repeatWindow); kept != repeatWindow/sparseEvery {
		t.Fatalf("sampling remembered %d of %d messages, want %d", kept, repeatWindow, repeatWindow/sparseEvery)
	}
	r.window.hits = repeatWindow // resending started
	for n := 0; r.sparse; n++ {
		if n > repeatWindow*sparseEvery {
			t.Fatal("still sampling while messages repeat")
		}
		r.skip()
	}
}
