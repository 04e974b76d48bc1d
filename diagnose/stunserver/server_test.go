package stunserver

import (
	"net/netip"
	"testing"

	"github.com/natdoc/natdoc/diagnose/stunprobe"
	"github.com/natdoc/natdoc/internal/ratelimit"
	"github.com/pion/stun/v3"
)

// testServer builds a server's answering logic without sockets: the
// addresses are what Listen would have bound.
func testServer(primary, alternate string) *Server {
	s := &Server{limit: ratelimit.New(50, 100, maxTrackedSources)}
	s.cfg.Primary = netip.MustParseAddrPort(primary)
	if alternate != "" {
		s.cfg.Alternate = netip.MustParseAddrPort(alternate)
	}
	n := 1
	if alternate != "" {
		n = 4
	}
	for i := range n {
		s.addrs[i] = s.addrOf(i)
	}
	return s
}

func rfc5780(s *Server) bool { return s.RFC5780() }

func request(t *testing.T, setters ...stun.Setter) []byte {
	t.Helper()
	m, err := stun.Build(append([]stun.Setter{stun.TransactionID, stun.BindingRequest}, setters...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

var client = netip.MustParseAddrPort("198.51.100.7:40000")

func TestAnswer(t *testing.T) {
	two := testServer("203.0.113.10:3478", "203.0.113.11:3479")
	one := testServer("203.0.113.10:3478", "")
	for _, tc := range []struct {
		name    string
		srv     *Server
		req     []byte
		wantErr bool
		via     int
		to      string
		class   stun.MessageClass
	}{
		{"plain binding", one, request(t), false, 0, "198.51.100.7:40000", stun.ClassSuccessResponse},
		{"change IP and port", two, request(t, stunprobe.ChangeRequest{ChangeIP: true, ChangePort: true}), false, 3, "198.51.100.7:40000", stun.ClassSuccessResponse},
		{"change port", two, request(t, stunprobe.ChangeRequest{ChangePort: true}), false, 2, "198.51.100.7:40000", stun.ClassSuccessResponse},
		{"response port", two, request(t, stunprobe.ResponsePort(5060)), false, 0, "198.51.100.7:5060", stun.ClassSuccessResponse},
		{"change request without alternate: 420 (RFC 5780 §6.1)", one, request(t, stunprobe.ChangeRequest{ChangeIP: true}), false, 0, "198.51.100.7:40000", stun.ClassErrorResponse},
		{"no-op change request without alternate", one, request(t, stunprobe.ChangeRequest{}), false, 0, "198.51.100.7:40000", stun.ClassSuccessResponse},
		{"PADDING is refused", two, request(t, rawAttr{stun.AttrPadding, make([]byte, 400)}), false, 0, "198.51.100.7:40000", stun.ClassErrorResponse},
		{"RFC 5769 request with credentials: 420", one, rfc5769Request, false, 0, "198.51.100.7:40000", stun.ClassErrorResponse},
		{"response port 0", two, request(t, stunprobe.ResponsePort(0)), true, 0, "", 0},
		{"indication", one, stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodBinding, stun.ClassIndication)).Raw, true, 0, "", 0},
		{"response", one, stun.MustBuild(stun.TransactionID, stun.BindingSuccess).Raw, true, 0, "", 0},
		{"allocate", one, stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest)).Raw, true, 0, "", 0},
		{"garbage", one, []byte("INVITE sip:x SIP/2.0\r\n\r\n"), true, 0, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ans, err := tc.srv.answer(0, client, tc.req, nil)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %t", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if ans.via != tc.via || ans.to.String() != tc.to {
				t.Errorf("answer via socket %d to %s, want %d to %s", ans.via, ans.to, tc.via, tc.to)
			}
			if len(ans.raw) > maxAmplification*len(tc.req) {
				t.Errorf("answer %d bytes to a %d-byte request", len(ans.raw), len(tc.req))
			}
			m, err := stunprobe.DecodeMessage(ans.raw)
			if err != nil {
				t.Fatal(err)
			}
			if m.Type.Class != tc.class {
				t.Fatalf("class %s, want %s", m.Type.Class, tc.class)
			}
			if tc.class != stun.ClassSuccessResponse {
				return
			}
			r, err := stunprobe.ParseResponse(ans.raw)
			if err != nil || r.Mapped != client {
				t.Errorf("mapped %s (%v), want %s", r.Mapped, err, client)
			}
			if rfc5780(tc.srv) && (r.Origin != tc.srv.addrs[tc.via] || r.Other.String() != "203.0.113.11:3479") {
				t.Errorf("RESPONSE-ORIGIN %s OTHER-ADDRESS %s, want %s and 203.0.113.11:3479", r.Origin, r.Other, tc.srv.addrs[tc.via])
			}
		})
	}
}

// The biggest legitimate answer (IPv6, RFC 5780, bare 20-byte request)
// fits the amplification bound.
func TestIPv6AnswerWithinAmplificationBound(t *testing.T) {
	s := testServer("[2001:db8::10]:3478", "[2001:db8::11]:3479")
	req := request(t)
	ans, err := s.answer(0, netip.MustParseAddrPort("[2001:db8:1::7]:40000"), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ans.raw) > maxAmplification*len(req) {
		t.Fatalf("%d-byte answer to %d-byte request", len(ans.raw), len(req))
	}
}

type rawAttr struct {
	t stun.AttrType
	v []byte
}

func (r rawAttr) AddTo(m *stun.Message) error { m.Add(r.t, r.v); return nil }

// rfc5769Request is the RFC 5769 §2.1 sample request (with USERNAME,
// MESSAGE-INTEGRITY and ICE attributes a plain STUN server does not take).
var rfc5769Request = []byte("\x00\x01\x00\x58\x21\x12\xa4\x42\xb7\xe7\xa7\x01\xbc\x34\xd6\x86\xfa\x87\xdf\xae" +
	"\x80\x22\x00\x10STUN test client" +
	"\x00\x24\x00\x04\x6e\x00\x01\xff" +
	"\x80\x29\x00\x08\x93\x2f\xf9\xb1\x51\x26\x3b\x36" +
	"\x00\x06\x00\x09\x65\x76\x74\x6a\x3a\x68\x36\x76\x59\x20\x20\x20" +
	"\x00\x08\x00\x14\x9a\xea\xa7\x0c\xbf\xd8\xcb\x56\x78\x1e\xf2\xb5\xb2\xd3\xf2\x49\xc1\xb5\x71\xa2" +
	"\x80\x28\x00\x04\xe5\x7a\x3b\xcf")
