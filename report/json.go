package report

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
)

// Schema history, for readers of natdoc's JSON:
//
//   - natdoc.report/v2: RTPFlow.payload_types is an array of numbers
//     ([0, 101]); v1 wrote it as a base64 string ("AGU="), the default
//     for a Go byte slice, which no reader expects. Evidence names a
//     stream's packets by its first and last frame in frame_ranges
//     ([{"first": 313, "last": 612}]) where v1 put the two in frames.
//     A call's verdict has two more values: not-answered (with
//     not_answered.reason; such INVITE dialogs were no-media-expected,
//     which now means answered without media) and one-way-negotiated
//     (media asked one way from the start; was on-hold). Otherwise v2
//     adds optional fields to v1: calls' legs and early dialogs, each
//     stream's delivery per direction, flows' quality and RTCP reports,
//     the capture's duplicates and comments, not_answered's phrase and
//     cause.
//   - natdoc.report/v1: the first schema.
//
// natdoc report reads both; a v1 file's payload types are decoded from
// base64.
const schemaV1 = "natdoc.report/v1"

// ReadableSchema says whether natdoc can read a report of this schema.
func ReadableSchema(s string) bool { return s == SchemaVersion || s == schemaV1 }

// PayloadTypes are RTP payload type numbers (RFC 3551 §6), written as
// JSON numbers.
type PayloadTypes []uint8

// MarshalJSON writes the types as an array of numbers.
func (p PayloadTypes) MarshalJSON() ([]byte, error) {
	b := []byte{'['}
	for i, pt := range p {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(pt), 10)
	}
	return append(b, ']'), nil
}

// UnmarshalJSON reads an array of numbers, or the base64 string of
// natdoc.report/v1.
func (p *PayloadTypes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return fmt.Errorf("payload_types: %w", err)
		}
		*p = raw
		return nil
	}
	var nums []int
	if err := json.Unmarshal(b, &nums); err != nil {
		return fmt.Errorf("payload_types: %w", err)
	}
	out := make(PayloadTypes, len(nums))
	for i, n := range nums {
		if n < 0 || n > 127 {
			return fmt.Errorf("payload_types: %d is no RTP payload type (0-127)", n)
		}
		out[i] = uint8(n)
	}
	*p = out
	return nil
}
