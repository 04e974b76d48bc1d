package report

import (
	"time"
)

// SchemaVersion names the JSON shape of Report. Bump it on any change that
// renames or removes a field or changes its type, and say what changed in
// json.go; adding optional fields keeps it.
const SchemaVersion = "natdoc.report/v2"

// Report is the one result every natdoc command produces. Sections a
// command does not fill stay nil or empty and are omitted from JSON.
type Report struct {
	Schema   string    `json:"schema"`
	Tool     string    `json:"tool"`
	Version  string    `json:"version"`
	Command  string    `json:"command"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`

	// Verdict is the one-sentence answer shown first ("Calls between this
	// network and the internet: expect one-way audio unless ...").
	Verdict string `json:"verdict,omitempty"`

	// Findings not tied to one call (NAT behaviour, router, capture-wide).
	// Findings about a call live in Call.Findings.
	Findings []Finding `json:"findings,omitempty"`
	// Remedies ranked by how likely they fix the problems found, best first.
	Remedies []Remedy `json:"remedies,omitempty"`

	Capture *CaptureInfo `json:"capture,omitempty"`
	Calls   []Call       `json:"calls,omitempty"`
	// Registrations are the bindings a capture shows (natdoc analyze).
	Registrations []Binding       `json:"registrations,omitempty"`
	NAT           *NATReport      `json:"nat,omitempty"`
	IGD           *IGDReport      `json:"igd,omitempty"`
	CallTest      *CallTestReport `json:"call_test,omitempty"`
	Serve         *ServeReport    `json:"serve,omitempty"`
	Host          *HostReport     `json:"host,omitempty"`
	// Checks lists what a composite command (diagnose) ran, skipped or could
	// not run, so "not run" is never read as "passed".
	Checks []Check `json:"checks,omitempty"`
}

// New returns a Report stamped with the schema and tool version.
func New(command, version string) *Report {
	return &Report{Schema: SchemaVersion, Tool: "natdoc", Version: version, Command: command}
}

// AllFindings returns the report-wide findings followed by every call's.
func (r *Report) AllFindings() []Finding {
	all := append([]Finding(nil), r.Findings...)
	for _, c := range r.Calls {
		all = append(all, c.Findings...)
	}
	return all
}

// ProblemsFound reports whether any finding is a warning or worse. It
// decides exit status 1.
func (r *Report) ProblemsFound() bool {
	for _, f := range r.AllFindings() {
		if f.Severity.IsProblem() {
			return true
		}
	}
	return false
}

// Add appends report-wide findings.
func (r *Report) Add(f ...Finding) { r.Findings = append(r.Findings, f...) }

// Severity orders findings. Only warning and error count as problems.
type Severity string

const (
	SeverityInfo    Severity = "info"
	SeverityWarning Severity = "warning"
	SeverityError   Severity = "error"
)

// IsProblem reports whether a finding of this severity makes the command
// exit 1.
func (s Severity) IsProblem() bool { return s == SeverityWarning || s == SeverityError }

// Rank orders severities for sorting: error first.
func (s Severity) Rank() int {
	switch s {
	case SeverityError:
		return 0
	case SeverityWarning:
		return 1
	default:
		return 2
	}
}

// FindingID names a kind of finding. It is a public interface: scripts match
// on it, so an ID is defined once, as a constant of this type, in the package
// that makes the finding, and is never renamed.
type FindingID string

// Finding is one diagnosed fact with the evidence behind it and what to do.
type Finding struct {
	// ID is stable across versions (e.g. "sdp-private-address",
	// "one-way-audio", "mapping-varies-by-destination"); scripts match on it.
	ID       FindingID `json:"id"`
	Severity Severity  `json:"severity"`
	Title    string    `json:"title"`
	// Subject says what the finding is about: a call ("C3"), a party, a
	// server address, a router. Empty for network-wide findings.
	Subject  string     `json:"subject,omitempty"`
	Evidence []Evidence `json:"evidence,omitempty"`
	// Remedy is what to change, in the user's terms.
	Remedy string `json:"remedy,omitempty"`
}

// Evidence is one checkable fact: a sentence plus the packet numbers,
// addresses, times and measured values a user can verify in Wireshark or
// with another tool.
type Evidence struct {
	Text string `json:"text"`
	// Frames are 1-based packet numbers in the capture, as Wireshark counts.
	Frames []uint64 `json:"frames,omitempty"`
	// FrameRanges name packets by their first and last frame, as a
	// stream's are: the packets between belong to it only in part.
	FrameRanges []FrameRange `json:"frame_ranges,omitempty"`
	Addrs       []string     `json:"addresses,omitempty"`
	Time        time.Time    `json:"time,omitzero"`
	Values      []KeyValue   `json:"values,omitempty"`
}

// FrameRange is the first and last frame of a run of packets, both
// included.
type FrameRange struct {
	First uint64 `json:"first"`
	Last  uint64 `json:"last"`
}

// KeyValue is a measured value kept in order (maps would reorder JSON).
type KeyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Remedy is one thing to change, with the findings it addresses.
type Remedy struct {
	ID     string      `json:"id"`
	Title  string      `json:"title"`
	Detail string      `json:"detail,omitempty"`
	Fixes  []FindingID `json:"fixes,omitempty"`
}

// Check records whether one part of a composite command ran.
type Check struct {
	Name   string        `json:"name"`
	Status CheckStatus   `json:"status"`
	Detail string        `json:"detail,omitempty"`
	Took   time.Duration `json:"took_ns,omitempty"`
}

// CheckStatus says whether a check ran; "not-run" is never "passed".
type CheckStatus string

const (
	CheckPassed  CheckStatus = "passed"
	CheckProblem CheckStatus = "problem"
	CheckNotRun  CheckStatus = "not-run"
	CheckFailed  CheckStatus = "could-not-run"
)
