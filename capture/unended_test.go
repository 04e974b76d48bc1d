package capture_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/natdoc/natdoc/capture"
	"github.com/natdoc/natdoc/internal/pcapgen"
	"github.com/natdoc/natdoc/report"
)

// zultysStyle rewrites a generated call as a Zultys PBX's callee sends it:
// its responses carry no To-tag (nor do the requests that follow them) and
// those without a body end after their last header line, without the
// blank line (RFC 3261 §7 and §8.2.6.2 require both; phones and tshark
// read them all the same).
func zultysStyle(t *testing.T, path string) (string, int) {
	toTag := regexp.MustCompile(`(?m)^(To: [^\r\n]*?);tag=[^;\r\n]*`)
	unended := 0
	return rewriteUDP(t, path, func(_ *layers.IPv4, udp *layers.UDP) []byte {
		p := udp.Payload
		if !bytes.Contains(p, []byte(" SIP/2.0\r\n")) && !bytes.HasPrefix(p, []byte("SIP/2.0 ")) {
			return nil
		}
		p = toTag.ReplaceAll(p, []byte("$1"))
		if bytes.HasPrefix(p, []byte("SIP/2.0 ")) && bytes.HasSuffix(p, []byte("Content-Length: 0\r\n\r\n")) {
			p = p[:len(p)-2]
			unended++
		}
		return p
	}), unended
}

// TestZultysStyleCallee: a callee that answers without a To-tag, its
// bodiless responses without the blank line, still answered the call;
// before, the responses were malformed-sip and the 200 OK answered no
// dialog ("the capture ended while it rang").
func TestZultysStyleCallee(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.Normal, Media: 4 * time.Second}}, pcapgen.Options{})
	path, unended := zultysStyle(t, path)
	if unended < 2 {
		t.Fatalf("only %d responses rewritten without the blank line", unended)
	}
	res := capture.AnalyzePath(t, path)
	if n := anomalyCount(res, "malformed-sip"); n != 0 {
		t.Errorf("%d responses without the blank line counted malformed", n)
	}
	if len(res.Calls) != 1 {
		t.Fatalf("got %d calls, want 1", len(res.Calls))
	}
	if c := res.Calls[0]; c.Verdict != report.VerdictTwoWay || c.Status != 200 || c.State != "ended" {
		t.Errorf("verdict %s, status %d, state %q; want two-way, 200, ended: %s", c.Verdict, c.Status, c.State, c.Explain)
	}
}

// TestSnapLengthCutAtLineEnd: a message the snap length cut just after a
// header line looks like one sent without the blank line; the capture's
// own record says it was cut, so it is truncated-sip, its body lost.
func TestSnapLengthCutAtLineEnd(t *testing.T) {
	path, _ := generate(t, []pcapgen.Call{{Kind: pcapgen.Normal, Media: 4 * time.Second}}, pcapgen.Options{})
	r := capture.PcapReader(t, path)
	out := filepath.Join(t.TempDir(), "cut.pcap")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	write, flush := writerFor(t, f, r.LinkType(), 65535, false)
	cut := 0
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		if i := bytes.Index(data, []byte("\r\nCall-ID: ")); i >= 0 && bytes.Contains(data, []byte("SIP/2.0 200 OK")) && bytes.Contains(data, []byte("application/sdp")) {
			end := i + 2 + bytes.Index(data[i+2:], []byte("\r\n")) + 2
			data, ci.CaptureLength = data[:end], end // the snap length ends at a line end
			cut++
		}
		if err := write(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if cut == 0 {
		t.Fatal("no 200 OK with SDP to cut")
	}
	res := capture.AnalyzePath(t, out)
	if n := anomalyCount(res, "truncated-sip"); n != uint64(cut) {
		t.Errorf("%d truncated-sip, want %d: %+v", n, cut, res.Capture.Anomalies)
	}
}
