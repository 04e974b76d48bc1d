// Package report is the one result every natdoc command produces and the
// code that shows it to people and scripts.
//
// The model: a Report holds what a command observed, in plain section
// structs with one fact per field (NATReport, IGDReport, CaptureInfo and
// Call, CallTestReport, ServeReport, HostReport), the Findings derived from
// those facts, the Remedies ranked for them, and for a composite command the
// Checks it ran, skipped or could not run, so "not run" is never read as
// "passed". A Finding carries a FindingID that scripts match on; each ID is
// a constant defined by the package that makes the finding, never here.
//
// The renderers: Render writes one Report as styled text (lipgloss, plain
// when the writer is no terminal or NO_COLOR is set), JSON under the schema
// string SchemaVersion (the public interface: optional fields may be added,
// a rename bumps it), Markdown, or one self-contained HTML file. Text for a
// capture with many calls puts problem calls first and summarises
// informational findings that repeat; JSON stays complete.
//
// What it does not do: it measures and decides nothing, and it imports no
// other natdoc package. Knowledge that belongs to a check reaches it from
// that check's package: HTML blocks through RegisterHTMLSection, and the
// findings that place a problem in diagnose's network picture through
// RegisterNetworkPicture.
package report
