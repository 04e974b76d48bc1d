package stunprobe

import (
	"context"

	"github.com/natdoc/natdoc/report"
)

// Prober runs the probe for a composite check (natdoc diagnose's
// NATProber): the report section and its findings in one call.
type Prober struct {
	Config Config
}

// Probe runs Run and interprets its result.
func (p Prober) Probe(ctx context.Context) (*report.NATReport, []report.Finding, error) {
	res, err := Run(ctx, p.Config)
	if err != nil {
		return nil, nil, err
	}
	return NATReport(res), Findings(res), nil
}
