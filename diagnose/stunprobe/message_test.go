package stunprobe

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/pion/stun/v3"
)

// RFC 5769 test vectors (sample IPv4 and IPv6 responses, sample request).
// Their FINGERPRINTs are checked, so a transcription error fails the test.
var (
	rfc5769Request = []byte("\x00\x01\x00\x58\x21\x12\xa4\x42\xb7\xe7\xa7\x01\xbc\x34\xd6\x86\xfa\x87\xdf\xae" +
		"\x80\x22\x00\x10STUN test client" +
		"\x00\x24\x00\x04\x6e\x00\x01\xff" +
		"\x80\x29\x00\x08\x93\x2f\xf9\xb1\x51\x26\x3b\x36" +
		"\x00\x06\x00\x09\x65\x76\x74\x6a\x3a\x68\x36\x76\x59\x20\x20\x20" +
		"\x00\x08\x00\x14\x9a\xea\xa7\x0c\xbf\xd8\xcb\x56\x78\x1e\xf2\xb5\xb2\xd3\xf2\x49\xc1\xb5\x71\xa2" +
		"\x80\x28\x00\x04\xe5\x7a\x3b\xcf")
	rfc5769IPv4Response = []byte("\x01\x01\x00\x3c\x21\x12\xa4\x42\xb7\xe7\xa7\x01\xbc\x34\xd6\x86\xfa\x87\xdf\xae" +
		"\x80\x22\x00\x0btest vector " +
		"\x00\x20\x00\x08\x00\x01\xa1\x47\xe1\x12\xa6\x43" +
		"\x00\x08\x00\x14\x2b\x91\xf5\x99\xfd\x9e\x90\xc3\x8c\x74\x89\xf9\x2a\xf9\xba\x53\xf0\x6b\xe7\xd7" +
		"\x80\x28\x00\x04\xc0\x7d\x4c\x96")
	rfc5769IPv6Response = []byte("\x01\x01\x00\x48\x21\x12\xa4\x42\xb7\xe7\xa7\x01\xbc\x34\xd6\x86\xfa\x87\xdf\xae" +
		"\x80\x22\x00\x0btest vector " +
		"\x00\x20\x00\x14\x00\x02\xa1\x47\x01\x13\xa9\xfa\xa5\xd3\xf1\x79\xbc\x25\xf4\xb5\xbe\xd2\xb9\xd9" +
		"\x00\x08\x00\x14\xa3\x82\x95\x4e\x4b\xe6\x7b\xf1\x17\x84\xc9\x7c\x82\x92\xc2\x75\xbf\xe3\xed\x41" +
		"\x80\x28\x00\x04\xc8\xfb\x0b\x4c")
)

func TestRFC5769Responses(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  []byte
		want string
	}{
		{"IPv4", rfc5769IPv4Response, "192.0.2.1:32853"},
		{"IPv6", rfc5769IPv6Response, "[2001:db8:1234:5678:11:2233:4455:6677]:32853"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseResponse(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if !r.Success || r.Mapped != netip.MustParseAddrPort(tc.want) || !r.MappedIsXOR || !r.Fingerprint || r.Software != "test vector" {
				t.Errorf("got %+v, want success, XOR-MAPPED %s, FINGERPRINT, SOFTWARE %q", r, tc.want, "test vector")
			}
		})
	}
}

func TestRFC5769RequestIsNoResponse(t *testing.T) {
	m, err := DecodeMessage(rfc5769Request)
	if err != nil {
		t.Fatalf("the RFC 5769 request must decode (FINGERPRINT verified): %v", err)
	}
	if m.Type != stun.BindingRequest {
		t.Errorf("type %s", m.Type)
	}
	if _, err := ParseResponse(rfc5769Request); err == nil {
		t.Error("a request parsed as a response")
	}
}

func TestHostileResponsesRejected(t *testing.T) {
	corrupt := bytes.Clone(rfc5769IPv4Response)
	corrupt[30] ^= 0x01 // inside SOFTWARE: FINGERPRINT no longer matches
	trailing := append(bytes.Clone(rfc5769IPv4Response), 0, 0, 0, 0)
	badCookie := bytes.Clone(rfc5769IPv4Response)
	badCookie[4] = 0
	fpNotLast := build(t, stun.BindingSuccess, &stun.XORMappedAddress{IP: []byte{192, 0, 2, 1}, Port: 1}, stun.Fingerprint, stun.NewSoftware("x"))
	shortV6 := build(t, stun.BindingSuccess, rawAttr(stun.AttrXORMappedAddress, []byte{0, 2, 0, 1, 1, 2, 3, 4}))
	shortV4 := build(t, stun.BindingSuccess, rawAttr(stun.AttrXORMappedAddress, []byte{0, 1, 0, 1, 1, 2}))
	badFamily := build(t, stun.BindingSuccess, rawAttr(stun.AttrXORMappedAddress, []byte{0, 9, 0, 1, 1, 2, 3, 4}))
	noMapped := build(t, stun.BindingSuccess, stun.NewSoftware("x"))
	allocate := build(t, stun.NewType(stun.MethodAllocate, stun.ClassSuccessResponse), &stun.XORMappedAddress{IP: []byte{192, 0, 2, 1}, Port: 1})
	for _, tc := range []struct {
		name string
		raw  []byte
		is   error
	}{
		{"empty", nil, ErrNotSTUN},
		{"short", rfc5769IPv4Response[:19], ErrNotSTUN},
		{"bad fingerprint", corrupt, ErrBadFingerprint},
		{"trailing bytes", trailing, ErrNotSTUN},
		{"bad magic cookie", badCookie, ErrNotSTUN},
		{"fingerprint not last", fpNotLast, ErrBadFingerprint},
		{"IPv6 family with IPv4 length", shortV6, nil},
		{"truncated IPv4 address", shortV4, nil},
		{"unknown family", badFamily, nil},
		{"success without mapped address", noMapped, nil},
		{"other method", allocate, ErrNotBinding},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseResponse(tc.raw)
			if err == nil {
				t.Fatal("accepted")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v, want %v", err, tc.is)
			}
		})
	}
}

func TestRFC5780Attributes(t *testing.T) {
	other := netip.MustParseAddrPort("203.0.113.11:3479")
	origin := netip.MustParseAddrPort("203.0.113.10:3478")
	m := build(t, stun.BindingSuccess, &stun.XORMappedAddress{IP: []byte{203, 0, 113, 1}, Port: 40000},
		&stun.OtherAddress{IP: other.Addr().AsSlice(), Port: 3479}, &stun.ResponseOrigin{IP: origin.Addr().AsSlice(), Port: 3478},
		stun.NewSoftware("evil\x1b[31m"), stun.Fingerprint)
	r, err := ParseResponse(m)
	if err != nil {
		t.Fatal(err)
	}
	if r.Other != other || r.Origin != origin || r.Mapped.String() != "203.0.113.1:40000" {
		t.Errorf("got %+v", r)
	}
	if strings.ContainsRune(r.Software, 0x1b) {
		t.Errorf("SOFTWARE keeps a terminal escape: %q", r.Software)
	}

	req, err := NewBindingRequest(ChangeRequest{ChangeIP: true, ChangePort: true}, ResponsePort(5060))
	if err != nil {
		t.Fatal(err)
	}
	dec, err := DecodeMessage(req.Raw)
	if err != nil {
		t.Fatal(err)
	}
	var c ChangeRequest
	var p ResponsePort
	if err := c.GetFrom(dec); err != nil || !c.ChangeIP || !c.ChangePort {
		t.Errorf("CHANGE-REQUEST round trip: %+v %v", c, err)
	}
	if v, _ := dec.Get(stun.AttrChangeRequest); !bytes.Equal(v, []byte{0, 0, 0, 6}) {
		t.Errorf("CHANGE-REQUEST wire value %x, want 00000006 (RFC 5780 §7.2)", v)
	}
	if err := p.GetFrom(dec); err != nil || p != 5060 {
		t.Errorf("RESPONSE-PORT round trip: %d %v", p, err)
	}
	bad := &stun.Message{}
	bad.Add(stun.AttrChangeRequest, []byte{0, 6})
	bad.Add(stun.AttrResponsePort, []byte{1})
	if c.GetFrom(bad) == nil || p.GetFrom(bad) == nil {
		t.Error("short CHANGE-REQUEST or RESPONSE-PORT accepted")
	}
}

type rawSetter struct {
	t stun.AttrType
	v []byte
}

func (r rawSetter) AddTo(m *stun.Message) error { m.Add(r.t, r.v); return nil }

func rawAttr(t stun.AttrType, v []byte) stun.Setter { return rawSetter{t, v} }

func build(t *testing.T, typ stun.MessageType, setters ...stun.Setter) []byte {
	t.Helper()
	m, err := stun.Build(append([]stun.Setter{stun.TransactionID, typ}, setters...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}
