package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/charmbracelet/x/term"
	"github.com/natdoc/natdoc/report"
	"github.com/spf13/cobra"
)

// version is set at link time (-ldflags "-X main.version=v1.2.3"); without
// it the module version or "dev" is shown.
var version = ""

// Exit statuses, for scripts and monitoring (DESIGN.md). Chosen in one place:
// exitCode.
const (
	exitOK        = 0 // no problem found
	exitProblems  = 1 // problems found
	exitUsage     = 2 // bad usage or unreadable input
	exitCannotRun = 3 // the check itself could not run
)

// errProblemsFound marks a run that worked and found problems.
var errProblemsFound = errors.New("problems found")

// usageError is bad flags, arguments or unreadable input: exit 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// cannotRunError is a check that could not run (no network, no IGD when one
// was required): exit 3.
type cannotRunError struct{ err error }

func (e cannotRunError) Error() string { return e.err.Error() }
func (e cannotRunError) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }
func cannotRunErrorf(format string, a ...any) error {
	return cannotRunError{fmt.Errorf(format, a...)}
}

// exitCode maps the error a command returned to the process exit status.
func exitCode(err error) int {
	var u usageError
	var c cannotRunError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errProblemsFound):
		return exitProblems
	case errors.As(err, &u):
		return exitUsage
	case errors.As(err, &c):
		return exitCannotRun
	case isCobraUsageError(err):
		return exitUsage
	}
	return exitCannotRun
}

// isCobraUsageError recognises cobra's own argument and flag errors, which
// it returns as plain errors.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, prefix := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument", "invalid argument", "accepts ", "requires at least", "requires at most", "required flag", "if any flags in the group", "at least one of the flags"} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}

// globalOptions are the flags every command has.
type globalOptions struct {
	JSON     bool
	Format   string
	Output   string
	LogLevel string
	NoColor  bool
	Width    int
	// CPUProfile is a hidden flag for benchmarks: the CPU profile of the
	// whole run, for go tool pprof.
	CPUProfile string
}

// app is what every command gets: its streams, global options and logger.
// Tests build one with buffers in place of the terminal.
type app struct {
	opts   globalOptions
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
	// callID, when set by a command, limits call detail to one call.
	callID string
	// stopProfile ends --cpuprofile's profile (nil: none running).
	stopProfile func()
}

// Main runs natdoc with args and returns the exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, log: slog.New(slog.DiscardHandler)}
	root := newRootCmd(a)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := root.ExecuteContext(ctx)
	if a.stopProfile != nil {
		a.stopProfile()
	}
	if err != nil && !errors.Is(err, errProblemsFound) {
		fmt.Fprintf(stderr, "natdoc: %v\n", err)
		if exitCode(err) == exitUsage && isCobraUsageError(err) {
			fmt.Fprintln(stderr, "Run 'natdoc --help' for usage.")
		}
	}
	return exitCode(err)
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "natdoc",
		Short: "Find and prove the cause of NAT problems in VoIP (one-way and no-way audio)",
		Long: `natdoc finds why two phones cannot hear each other and proves the remedy.

It reads packets (what SIP promised in SDP against where RTP really went),
measures the NAT (STUN mapping and filtering), asks the router (UPnP IGD), and
can run a SIP server with an RTP relay and simulated phones to prove a fix.

Exit status: 0 no problem found, 1 problems found, 2 bad usage or unreadable
input, 3 the check itself could not run.`,
		Version:       versionString(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.setup()
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.BoolVar(&a.opts.JSON, "json", false, "print the result as JSON (same as --format json)")
	pf.StringVar(&a.opts.Format, "format", "text", "output format: text, json, markdown or html")
	pf.StringVarP(&a.opts.Output, "output", "o", "", "write the result to `FILE` instead of standard output")
	pf.StringVar(&a.opts.LogLevel, "log-level", "warn", "log detail on standard error: debug, info, warn or error")
	pf.BoolVar(&a.opts.NoColor, "no-color", false, "never colour the text output (also: NO_COLOR set, or output not a terminal)")
	pf.IntVar(&a.opts.Width, "width", 0, "lay the text report out for this many `COLUMNS` (default: the terminal's width, 80 when not a terminal)")
	pf.StringVar(&a.opts.CPUProfile, "cpuprofile", "", "write a CPU profile of the run to `FILE` (for go tool pprof)")
	_ = pf.MarkHidden("cpuprofile")

	root.AddCommand(
		newAnalyzeCmd(a),
		newCaptureCmd(a),
		newStunCmd(a),
		newStunServerCmd(a),
		newUpnpCmd(a),
		newServeCmd(a),
		newCallCmd(a),
		newDiagnoseCmd(a),
		newMirrorCmd(a),
		newReportCmd(a),
	)
	return root
}

// setup validates the global flags and builds the logger.
func (a *app) setup() error {
	if _, err := a.format(); err != nil {
		return err
	}
	if a.opts.Width < 0 {
		return usageErrorf("--width %d: want a positive number of columns", a.opts.Width)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.opts.LogLevel)); err != nil {
		return usageErrorf("--log-level %q: want debug, info, warn or error", a.opts.LogLevel)
	}
	a.log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
	return a.startProfile()
}

// startProfile starts --cpuprofile's profile; Main stops it.
func (a *app) startProfile() error {
	if a.opts.CPUProfile == "" {
		return nil
	}
	f, err := os.Create(a.opts.CPUProfile)
	if err != nil {
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	a.stopProfile = func() {
		pprof.StopCPUProfile()
		f.Close()
	}
	return nil
}

// format resolves --json and --format into one format.
func (a *app) format() (report.Format, error) {
	f, err := report.ParseFormat(a.opts.Format)
	if err != nil {
		return "", usageError{fmt.Errorf("--format: %w", err)}
	}
	if a.opts.JSON {
		if a.opts.Format != "text" && f != report.FormatJSON {
			return "", usageErrorf("--json and --format %s disagree", a.opts.Format)
		}
		return report.FormatJSON, nil
	}
	return f, nil
}

// emit renders the report to -o FILE or standard output and returns
// errProblemsFound when the report holds problems, so the exit status is 1.
func (a *app) emit(rep *report.Report) error {
	f, err := a.format()
	if err != nil {
		return err
	}
	w, closeOutput, err := a.output()
	if err != nil {
		return err
	}
	defer closeOutput()
	if err := report.Render(w, rep, a.renderOptions(f, w)); err != nil {
		return cannotRunErrorf("write report: %w", err)
	}
	if rep.ProblemsFound() {
		return errProblemsFound
	}
	return nil
}

// output opens where the report goes: -o FILE, or standard output. A
// file is no terminal: lipgloss.Fprint strips styles for it.
func (a *app) output() (io.Writer, func(), error) {
	if a.opts.Output == "" || a.opts.Output == "-" {
		return a.stdout, func() {}, nil
	}
	file, err := os.Create(a.opts.Output)
	if err != nil {
		return nil, nil, usageErrorf("output: %w", err)
	}
	return file, func() { file.Close() }, nil
}

// renderOptions are the report's options for format f written to w.
func (a *app) renderOptions(f report.Format, w io.Writer) report.Options {
	opt := report.Options{Format: f, CallID: a.callID, Width: a.textWidth(w)}
	if a.opts.NoColor {
		opt.Color = report.ColorNever
	}
	return opt
}

func (a *app) textWidth(w io.Writer) int {
	if a.opts.Width > 0 {
		return a.opts.Width
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(f.Fd()) {
		if cols, _, err := term.GetSize(f.Fd()); err == nil && cols > 0 {
			return cols
		}
	}
	return report.DefaultWidth
}

// newReport starts a report for the named command.
func newReport(command string) *report.Report {
	return report.New(command, versionString())
}
