package report

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestPayloadTypesJSON(t *testing.T) {
	b, err := json.Marshal(RTPFlow{PayloadTypes: PayloadTypes{0, 101}})
	if err != nil || !strings.Contains(string(b), `"payload_types":[0,101]`) {
		t.Fatalf("marshal: %s %v", b, err)
	}
	for _, tc := range []struct {
		name, in string
		want     PayloadTypes
		bad      bool
	}{
		{name: "v2 numbers", in: `[0,101]`, want: PayloadTypes{0, 101}},
		{name: "v1 base64", in: `"AGU="`, want: PayloadTypes{0, 101}},
		{name: "out of range", in: `[128]`, bad: true},
		{name: "not base64", in: `"%%"`, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f RTPFlow
			err := json.Unmarshal([]byte(`{"payload_types":`+tc.in+`}`), &f)
			if tc.bad {
				if err == nil {
					t.Errorf("accepted %s as %v", tc.in, f.PayloadTypes)
				}
				return
			}
			if err != nil || !slices.Equal(f.PayloadTypes, tc.want) {
				t.Errorf("read %s as %v (%v), want %v", tc.in, f.PayloadTypes, err, tc.want)
			}
		})
	}
	if !ReadableSchema("natdoc.report/v1") || !ReadableSchema(SchemaVersion) || ReadableSchema("natdoc.report/v9") {
		t.Error("ReadableSchema")
	}
}
