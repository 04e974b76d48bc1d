package diagnose

import (
	"bytes"
	"strings"
	"testing"

	"github.com/natdoc/natdoc/diagnose/igd"
	"github.com/natdoc/natdoc/report"
)

// The picture registered in init marks the element each finding points at.
func TestNetworkPictureMarks(t *testing.T) {
	for _, tc := range []struct {
		id   report.FindingID
		mark string // the red note under the marked box
	}{
		{IDSIPALG, "sip-alg-rewrite"},
		{igd.FindingMappingLimit, "upnp-mapping-limit"},
		{IDCGNAT, "carrier-grade-nat"},
		{IDServerNoRport, "sip-server-no-rport"},
	} {
		t.Run(string(tc.id), func(t *testing.T) {
			r := report.New("diagnose", "test")
			r.Checks = []report.Check{{Name: CheckALG, Status: report.CheckProblem}}
			r.Add(report.Finding{ID: tc.id, Severity: report.SeverityWarning, Subject: "sip.example.org"})
			var buf bytes.Buffer
			if err := report.RenderHTML(&buf, r); err != nil {
				t.Fatal(err)
			}
			if want := `fill="#c00">` + tc.mark + `</text>`; !strings.Contains(buf.String(), want) {
				t.Errorf("no %s in the picture:\n%s", want, buf.String())
			}
		})
	}
}
