package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/natdoc/natdoc/report"
	"github.com/spf13/cobra"
)

func newReportCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "report FILE.json",
		Short: "Render a saved --json result as text, Markdown or HTML",
		Example: `  natdoc analyze --json -o call.json trace.pcap
  natdoc report --format html -o call.html call.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := readReport(args[0])
			if err != nil {
				return err
			}
			return a.emit(rep)
		},
	}
}

func readReport(path string) (*report.Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usageErrorf("report: %w", err)
	}
	var rep report.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, usageErrorf("report: %s is not a natdoc JSON report: %w", path, err)
	}
	if !report.ReadableSchema(rep.Schema) {
		return nil, usageError{fmt.Errorf("report: %s has schema %q, this natdoc reads %q and older", path, rep.Schema, report.SchemaVersion)}
	}
	rep.Schema = report.SchemaVersion // read into the current model
	return &rep, nil
}
